"""Language-model rescoring of finals and transcripts for the Python API (asr.decoding.lm_rescoring).

A final's alternatives (the beam's n-best, with the decoder's scores) are re-ranked by
am + lm_weight * log p_LM(text) + length_bonus * words, all finals of one call in one LM pass, and
the final then carries the new best's text, tokens, words and confidence. Partials pass untouched
(the LM never delays them), so streaming and offline results stay equal: both rescore the same
n-best. With greedy decoding a final has one alternative and nothing changes. The LM is a TextLM:
a checkpoint directory or bundled name, or the one bundled beside the model (`<model>/lm`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
from transduce.asr.decoding.lm_rescoring import LMRescoringConfig, fused_scores
from transduce.asr.text.models import TextLM
from transduce.streaming.errors import SessionConfigError
from transduce.streaming.results import StreamResult
from transduce.streaming.transcripts import Transcript

__all__ = ["LM_DIR", "LMSpec", "LMRescorer", "load_lm"]

LM_DIR = "lm"  # a model directory's bundled language model
LMSpec = bool | str | os.PathLike | TextLM | None
Ranked = TypeVar("Ranked", StreamResult, Transcript)


def load_lm(spec: LMSpec, model: str | os.PathLike | None = None,
            device: str | torch.device = "cpu") -> TextLM | None:
    """None for False/None; for True the LM bundled beside `model` (its `lm` folder); else the TextLM
    given, or that of a checkpoint directory / bundled name."""
    from transduce.asr.checkpoint import load_model, resolve_model_dir

    if spec is None or spec is False:
        return None
    if isinstance(spec, TextLM):
        return spec.eval()
    if spec is True:
        if model is None:
            raise SessionConfigError("lm=True needs the model's directory or name to find its bundled LM")
        path = resolve_model_dir(model) / LM_DIR
        if not path.is_dir():
            raise SessionConfigError(f"model {os.fspath(model)!r} has no bundled language model ({path})")
    else:
        path = spec
    lm = load_model(os.fspath(path), device=device)
    if not isinstance(lm, TextLM):
        raise SessionConfigError(f"{os.fspath(path)} is a {type(lm).__name__}, not a TextLM language model")
    return lm.eval()


@dataclass(frozen=True)
class LMRescorer:
    """A TextLM and its weights; `results` / `transcripts` re-rank finals and transcripts."""

    lm: TextLM
    cfg: LMRescoringConfig = LMRescoringConfig()

    def results(self, results: Sequence[StreamResult]) -> list[StreamResult]:
        """`results` with every final re-ranked (partials as they are)."""
        return self._rescored(results, [i for i, r in enumerate(results) if r.is_final])

    def transcripts(self, transcripts: Sequence[Transcript]) -> list[Transcript]:
        """`transcripts` re-ranked (failed ones as they are)."""
        return self._rescored(transcripts, [i for i, t in enumerate(transcripts) if t.error is None])

    def _rescored(self, items: Sequence[Ranked], chosen: list[int]) -> list[Ranked]:
        chosen = [i for i in chosen if len(items[i].alternatives) > 1]
        alts = [alt for i in chosen for alt in items[i].alternatives]
        scores = iter(fused_scores([a.score for a in alts], [a.text for a in alts], self.lm, self.cfg))
        out = list(items)
        for i in chosen:
            ranked = sorted(((next(scores), a) for a in items[i].alternatives), key=lambda sa: sa[0],
                            reverse=True)
            new = tuple(dataclasses.replace(a, score=s) for s, a in ranked)
            best = new[0]
            out[i] = dataclasses.replace(items[i], text=best.text, tokens=tuple(best.tokens),
                                         words=tuple(best.words), confidence=best.confidence,
                                         alternatives=new)
        return out
