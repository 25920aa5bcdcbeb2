"""N-best rescoring with a Transformer language model (asr.text.TextLM), for finals.

Each hypothesis of a beam search's n-best list is re-ranked by

    fused = am_score + lm_weight * log p_LM(text) + length_bonus * words

where log p_LM(text) is the LM's log-probability of the hypothesis' text in its own tokens (bos
first, eos counted), so any LM fits any acoustic model whatever the two tokenizers. One LM forward
pass scores every hypothesis of every stream of a batch. The bonus per word offsets the LM's
preference for short texts (Chorowski and Jaitly 2017; with shallow fusion the same role is played
by a per-token bonus).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transduce.asr.decoding.results import Hypothesis
from transduce.asr.text.models import TextLM

__all__ = ["LMRescoringConfig", "lm_scores", "fused_scores", "rescore_nbest"]


@dataclass(frozen=True)
class LMRescoringConfig:
    """lm_weight: the LM's log-probability scale; length_bonus: added per word of the text."""

    lm_weight: float = 0.3
    length_bonus: float = 0.0

    def __post_init__(self) -> None:
        if self.lm_weight < 0:
            raise ValueError(f"lm_weight must be >= 0, got {self.lm_weight}")


@torch.inference_mode()
def lm_scores(lm: TextLM, texts: Sequence[str], batch_size: int = 64) -> list[float]:
    """log p_LM(text) of each text (eos included), in batches of `batch_size` sorted by length."""
    tok = lm.tokenizer
    device = next(lm.parameters()).device
    ids = [tok.encode(t) for t in texts]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = [0.0] * len(ids)
    for start in range(0, len(order), batch_size):
        chosen = order[start: start + batch_size]
        width = max(1, max(len(ids[i]) for i in chosen))
        tokens = torch.zeros(len(chosen), width, dtype=torch.long, device=device)
        for row, i in enumerate(chosen):
            tokens[row, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
        lens = torch.tensor([len(ids[i]) for i in chosen], device=device)
        for i, score in zip(chosen, lm.score(tokens, lens).tolist()):
            out[i] = score
    return out


def fused_scores(am_scores: Sequence[float], texts: Sequence[str], lm: TextLM,
                 cfg: LMRescoringConfig) -> list[float]:
    """am + lm_weight * log p_LM(text) + length_bonus * words for each (am score, text), one LM pass."""
    if len(am_scores) != len(texts):
        raise ValueError("fused_scores needs one text per score")
    lm_logp = lm_scores(lm, texts) if cfg.lm_weight and texts else [0.0] * len(texts)
    return [float(a) + cfg.lm_weight * lp + cfg.length_bonus * len(t.split())
            for a, t, lp in zip(am_scores, texts, lm_logp)]


def rescore_nbest(nbests: Sequence[Sequence[Hypothesis]], texts: Sequence[Sequence[str]], lm: TextLM,
                  cfg: LMRescoringConfig) -> list[list[Hypothesis]]:
    """Each stream's n-best list (with the text of every hypothesis) re-ranked by the fused score,
    best first; a hypothesis' score becomes its fused score. With lm_weight 0 and no bonus, the order
    and scores are the acoustic model's."""
    if len(nbests) != len(texts) or any(len(n) != len(t) for n, t in zip(nbests, texts)):
        raise ValueError("rescore_nbest needs one text per hypothesis")
    scores = iter(fused_scores([h.score for hyps in nbests for h in hyps],
                               [t for stream in texts for t in stream], lm, cfg))
    return [sorted((dataclasses.replace(h, score=next(scores)) for h in hyps), key=lambda h: h.score,
                   reverse=True) for hyps in nbests]
