"""One batched model step over many sessions, and a synchronous driver for non-async callers.

B: sessions in the step, T: feature frames of the longest chunk, F: mel bins, T': encoder frames,
D: model width, V: vocabulary.

A step pads the sessions' feature chunks into (B, T, F), normalises them, stacks their encoder
states and runs ONE `encoder.stream_step`; the new encoder frames (B, T', D) go to ONE
`decode_chunk` per shared decoder (sessions with the same decoding settings share one). States
are split back with `select` and handed to each session's `apply`. The model work is pure until
the last moment, so when a batched step fails the sessions are retried one by one and only the
ones that fail alone get the error (their sessions are closed).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from transduce.asr.decoding import DecoderState
from transduce.asr.encoders import EncoderState
from transduce.asr.models.asr_model import ASRModel
from transduce.streaming.errors import SessionConfigError, SessionFailedError
from transduce.streaming.session import FeatureChunk, Session

__all__ = ["run_step", "decode_sessions"]

_Work = list[tuple[Session, FeatureChunk]]
# one session's step: its new encoder state, decoder state, encoder frames decoded, CTC blank tail
_StepResult = tuple[EncoderState, DecoderState, int, int | None]


def _encode(model: ASRModel, work: _Work) -> tuple[Tensor, Tensor, EncoderState]:
    """Encoder step over the chunks: out (B, T', D), out_lens (B,), the new batched state."""
    p = next(model.parameters())
    chunks = [c.frames for _, c in work]
    lens = torch.tensor([len(c) for c in chunks], dtype=torch.long, device=p.device)
    feats = torch.nn.utils.rnn.pad_sequence(chunks, batch_first=True).to(p.device, p.dtype)  # (B, T, F)
    x = model.normalizer(feats, lens)
    final = torch.tensor([c.final for _, c in work], dtype=torch.bool, device=p.device)
    state = EncoderState.stack([c.encoder_state for _, c in work])
    return model.encoder.stream_step(x, lens, state, final=final)


def _blank_tails(logits: Tensor, lens: Tensor) -> list[int]:
    """Per row of CTC logits (B, T', V): how many of the last valid frames have blank as argmax."""
    t = logits.shape[1]
    pos = torch.arange(t, device=logits.device)[None, :]
    speech = (logits.argmax(dim=-1) != 0) & (pos < lens[:, None])
    last = torch.where(speech, pos, -1).amax(dim=1) if t else torch.full_like(lens, -1)
    return (lens - 1 - last).tolist()


def _decode(model: ASRModel, work: _Work, out: Tensor,
            out_lens: Tensor) -> tuple[list[DecoderState], list[int | None]]:
    """Each session's new decoder state (one decode_chunk per shared decoder) and, for CTC, its
    trailing blank frames (None for transducers)."""
    groups: dict[int, list[int]] = {}
    for i, (s, _) in enumerate(work):
        groups.setdefault(id(s.decoder), []).append(i)
    states: list[DecoderState | None] = [None] * len(work)
    tails: list[int | None] = [None] * len(work)
    for idx in groups.values():
        session, chunks = work[idx[0]][0], [work[i][1] for i in idx]
        rows = torch.tensor(idx, dtype=torch.long, device=out.device)
        x = out.index_select(0, rows) if len(idx) < len(work) else out
        lens = out_lens.index_select(0, rows)
        if session.ctc:
            x = model.ctc_head(x)  # (B, T', V)
            for i, tail in zip(idx, _blank_tails(x, lens)):
                tails[i] = tail
        batched = type(chunks[0].decoder_state).stack([c.decoder_state for c in chunks])
        new = session.decoder.decode_chunk(x, lens, batched)
        for j, i in enumerate(idx):
            states[i] = new if len(idx) == 1 else new.select([j])
    return states, tails


def _compute(model: ASRModel, work: _Work) -> list[_StepResult]:
    """The new (encoder state, decoder state, encoder frames, CTC blank tail) of each session; touches
    no session."""
    out, out_lens, enc = _encode(model, work)
    dec, tails = _decode(model, work, out, out_lens)
    single = len(work) == 1
    lens = out_lens.tolist()
    return [(enc if single else enc.select([i]), dec[i], lens[i], tails[i]) for i in range(len(work))]


def run_step(model: ASRModel, work: Sequence[tuple[Session, FeatureChunk]]) -> list[BaseException | None]:
    """Run one batched step for (session, chunk) pairs; per pair None or the error that closed it."""
    work = list(work)
    if not work:
        return []
    for s, _ in work:
        if s.model is not model:
            raise SessionConfigError("a session of another model was passed to this model's step")
    with torch.inference_mode():
        try:
            results: list[_StepResult | BaseException] = _compute(model, work)
        except Exception as e:  # noqa: BLE001 - find the culprit(s): the others still get their step
            results = [e] if len(work) == 1 else [_compute_alone(model, pair) for pair in work]
    errors: list[BaseException | None] = []
    for (s, c), r in zip(work, results):
        errors.append(_apply(s, c, r))
    return errors


def _compute_alone(model: ASRModel, pair: tuple[Session, FeatureChunk]) -> _StepResult | BaseException:
    try:
        return _compute(model, [pair])[0]
    except Exception as e:  # noqa: BLE001 - any failure is this session's alone
        return e


def _apply(session: Session, chunk: FeatureChunk,
           result: _StepResult | BaseException) -> BaseException | None:
    if isinstance(result, BaseException):
        session.close()
        err = SessionFailedError(f"the model step of this stream failed: {result}")
        err.__cause__ = result
        return err
    try:
        enc, dec, frames, tail = result
        session.apply(enc, dec, frames, chunk.final, tail)
    except Exception as e:  # noqa: BLE001
        session.close()
        err = SessionFailedError(f"making this stream's results failed: {e}")
        err.__cause__ = e
        return err
    return None


def decode_sessions(model: ASRModel, sessions: Sequence[Session], max_batch: int | None = None) -> None:
    """Step `sessions` (of `model`) in batches until none has a chunk ready; results wait in each session.

    For synchronous callers (Python API, tests). Raises the first SessionFailedError after the
    healthy sessions are done (the failed ones are closed).
    """
    if max_batch is not None and max_batch < 1:
        raise SessionConfigError(f"max_batch must be >= 1, got {max_batch}")
    first_error: BaseException | None = None
    while True:
        ready = [s for s in sessions if not s.closed and s.is_ready()]
        if not ready:
            break
        size = max_batch or len(ready)
        for i in range(0, len(ready), size):
            work = [(s, c) for s in ready[i:i + size] if (c := s.ready_chunk()) is not None]
            for err in run_step(model, work):
                first_error = first_error or err
    if first_error is not None:
        raise first_error
