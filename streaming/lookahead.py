"""Look-aheads in milliseconds, the unit users speak, and the one place that checks them.

A model's encoder has one or more attention contexts [left, right] (att_context_size); which one
a stream uses is an index inside the engine, but every user-facing setting (Recognizer, the
`--lookahead-ms` options, the gRPC `lookahead_ms` field, ListModels, the model card) is the
look-ahead in ms: how much audio after a frame the model sees before that frame is final.
  chunked_limited: right encoder frames (a chunk of right + 1 frames is emitted together);
  regular: every layer looks `right` frames further, so L layers see L * right frames ahead.
One encoder frame is `model.frame_shift_s` (feature shift x subsampling factor).
"""

from __future__ import annotations

from transduce.asr.models.asr_model import ASRModel
from transduce.streaming.errors import SessionConfigError

__all__ = ["lookahead_index", "lookaheads_ms"]


def lookaheads_ms(model: ASRModel) -> list[int]:
    """The look-ahead of each of the encoder's contexts, in ms (in att_context_size order)."""
    encoder = model.encoder
    layers = 1 if encoder.style == "chunked_limited" else len(encoder.layers)
    return [int(round(layers * max(right, 0) * model.frame_shift_s * 1000)) for _, right in encoder.contexts]


def lookahead_index(model: ASRModel, ms: int | None) -> int:
    """The context index of look-ahead `ms` (None: the model's default, its first context); a
    SessionConfigError naming the model's look-aheads for any other value."""
    if ms is None:
        return 0
    known = lookaheads_ms(model)
    if isinstance(ms, bool) or not isinstance(ms, int) or ms not in known:
        raise SessionConfigError(f"lookahead_ms {ms!r} is not one of the model's look-aheads {known} (ms)")
    return known.index(ms)
