"""Written-form output for the Python API: finals and transcripts get `formatted_text`.

A text model (asr.text.TextRewriter; the bundled "format" model by default) turns what the
recogniser emits ("it costs five dollars") into written text ("It costs $5."). Only finals and
transcripts are formatted, every alternative of each, in one batched call; partials pass through
untouched (their `formatted_text` stays None), so formatting never delays them. Without a
formatter `formatted_text` is None everywhere.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import torch
from transduce.asr.text.rewriter import TextRewriter
from transduce.streaming.results import StreamResult
from transduce.streaming.transcripts import Transcript

__all__ = ["FORMAT_MODEL", "FormattingSpec", "load_formatter", "spoken_texts", "with_written",
           "format_results", "format_transcripts"]

FORMAT_MODEL = "format"  # the bundled formatting model
FormattingSpec = bool | str | os.PathLike | TextRewriter | None


def load_formatter(spec: FormattingSpec, device: str | torch.device = "cpu") -> TextRewriter | None:
    """None for False/None; the bundled formatting model for True; else the rewriter given, or that
    of a checkpoint directory / bundled model name."""
    if spec is None or spec is False:
        return None
    if isinstance(spec, TextRewriter):
        return spec
    return TextRewriter.load(FORMAT_MODEL if spec is True else spec, device=device)


def spoken_texts(result: StreamResult) -> list[str]:
    """The texts of a final to format: one per alternative (its text alone when it has none)."""
    return [alt.text for alt in result.alternatives] or [result.text]


def with_written(result: StreamResult, written: Sequence[str]) -> StreamResult:
    """`result` carrying `written`, the written forms of `spoken_texts(result)` in order."""
    return dataclasses.replace(result, formatted_text=written[0], formatted_alternatives=tuple(written))


def format_results(formatter: TextRewriter | None, results: list[StreamResult]) -> list[StreamResult]:
    """`results` with each final's formatted_text and formatted_alternatives (one per alternative)."""
    finals = [i for i, r in enumerate(results) if r.is_final]
    if formatter is None or not finals:
        return results
    spoken = {i: spoken_texts(results[i]) for i in finals}
    written = iter(formatter([text for i in finals for text in spoken[i]]))
    out = list(results)
    for i in finals:
        out[i] = with_written(results[i], [next(written) for _ in spoken[i]])
    return out


def format_transcripts(formatter: TextRewriter | None, transcripts: Sequence[Transcript]) -> list[Transcript]:
    """`transcripts` with formatted_text set (failed ones keep None)."""
    if formatter is None:
        return list(transcripts)
    ok = [i for i, t in enumerate(transcripts) if t.error is None]
    written = formatter([transcripts[i].text for i in ok])
    out = list(transcripts)
    for i, text in zip(ok, written):
        out[i] = dataclasses.replace(transcripts[i], formatted_text=text)
    return out
