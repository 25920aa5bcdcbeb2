"""The one interface every decoder implements (greedy and beam; CTC, RNN-T and TDT).

Shapes: see NOTATION.md (B streams, T' encoder frames of this chunk, D encoder width, V vocabulary
incl. blank).

    state = decoder.init_state(batch_size, device)
    state = decoder.decode_chunk(x, x_lens, state)   # x (B, T', D) encoder output (transducers)
                                                     #   or (B, T', V) CTC logits (CTC decoders)
    hyps  = decoder.best(state)                      # list[Hypothesis]: best so far per stream
    nbest = decoder.nbest(state)                     # list[list[Hypothesis]] (greedy: one each)
    hyps  = decoder.decode(x, x_lens)                # a whole utterance: init + one chunk

Decoders are resumable: decoding the encoder output in chunks (any boundaries, streams of
different lengths in one batch, streams re-batched between chunks with `select`/`stack`) equals
decoding it whole, exactly for greedy, the same best hypothesis for beam search. Each decoder has
its own state class (tensors for the batchable parts, python lists for the growing hypotheses);
all are batch first and follow the `DecoderState` protocol. Frame offsets live in the state, so
`Hypothesis.frames` are global encoder-frame indices. States are never modified in place:
`decode_chunk` returns a new one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar, runtime_checkable

import torch
from torch import Tensor
from transduce.asr.decoding.results import Hypothesis

__all__ = ["DecodingError", "DecoderState", "Decoder", "check_chunk", "select_list"]

_T = TypeVar("_T")
S = TypeVar("S", bound="DecoderState")


class DecodingError(ValueError):
    """A decoder got input it cannot decode (the message names the problem)."""


@runtime_checkable
class DecoderState(Protocol):
    """Batch-first per-stream decoder state that splits and re-batches like the encoder state."""

    @property
    def batch_size(self) -> int: ...

    def select(self: S, indices: Tensor | Sequence[int]) -> S:
        """The states of streams `indices`, in that order."""
        ...

    @classmethod
    def stack(cls: type[S], states: Sequence[S]) -> S:
        """One batch of the streams of `states`, concatenated in order."""
        ...


class Decoder(ABC, Generic[S]):
    """A decoding strategy (greedy, beam, ...) behind the interface of the module docstring."""

    @abstractmethod
    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> S:
        """The state of `batch_size` streams that have decoded nothing yet."""

    @abstractmethod
    def decode_chunk(self, x: Tensor, x_lens: Tensor | None, state: S) -> S:
        """Decode the next frames `x` (B, T', D|V), of which `x_lens` (B,) are valid; the new state."""

    @abstractmethod
    def best(self, state: S) -> list[Hypothesis]:
        """The best hypothesis so far of each stream of `state`."""

    def nbest(self, state: S) -> list[list[Hypothesis]]:
        """The hypotheses of each stream, best first (one per stream unless overridden)."""
        return [[h] for h in self.best(state)]

    def decode(self, x: Tensor, x_lens: Tensor | None = None) -> list[Hypothesis]:
        """Decode whole utterances `x` (B, T', D|V) with valid lengths `x_lens` (B,) (default: all T')."""
        state = self.init_state(x.shape[0], x.device)
        return self.best(self.decode_chunk(x, x_lens, state))


def check_chunk(x: Tensor, x_lens: Tensor | None, batch_size: int, width: int | None = None,
                what: str = "x") -> Tensor:
    """Validate a chunk `x` (B, T', width) against the state's batch size and width; its lengths (B,) long.

    Raises DecodingError naming the problem (rank, batch, width, or lengths outside [0, T']).
    """
    if x.dim() != 3:
        raise DecodingError(f"{what} must be (B, T', D|V), got shape {tuple(x.shape)}")
    b, t, w = x.shape
    if b != batch_size:
        raise DecodingError(f"{what} has {b} streams but the decoder state has {batch_size}")
    if width is not None and w != width:
        raise DecodingError(f"{what} has width {w}, the decoder expects {width}")
    if x_lens is None:
        return torch.full((b,), t, dtype=torch.long, device=x.device)
    if x_lens.shape != (b,):
        raise DecodingError(f"x_lens must be ({b},), got shape {tuple(x_lens.shape)}")
    if x_lens.dtype.is_floating_point or x_lens.dtype == torch.bool:
        raise DecodingError(f"x_lens must hold integers, got {x_lens.dtype}")
    lens = x_lens.to(device=x.device, dtype=torch.long)
    if b and (int(lens.min()) < 0 or int(lens.max()) > t):
        raise DecodingError(f"x_lens must lie in [0, {t}] (the chunk's frames), got {lens.tolist()}")
    return lens


def select_list(items: Sequence[_T], indices: Tensor | Sequence[int]) -> list[_T]:
    """`items` picked at `indices` (in that order): the list half of a state's `select`."""
    idx = indices.tolist() if isinstance(indices, Tensor) else list(indices)
    return [items[int(i)] for i in idx]
