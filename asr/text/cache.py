"""KV cache of the text models: rows at different lengths, n >= 1 new tokens per step, roll back.

`asr.nn.decoder.DecoderCache` advances every row by one token together. Verifying a draft
(aggressive decoding) feeds n tokens at once and then keeps a different number of them per row,
so this cache records a length per row and `truncate` rolls rows back. Layout invariant: row b's
tokens 0..lengths[b]-1 sit in slots 0..lengths[b]-1 of the self-attention keys/values; slots past
lengths[b] are stale and masked. A step appends n new slots after all old ones (where a shorter
row has stale slots in between, hidden by the mask of `step_layout`) and `extend` packs each row
back to the invariant.

Shapes: see NOTATION.md (B, H, T' memory positions, Dh = D / H); n: new tokens of one step,
n_slots: cached slots (the longest row's length).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

__all__ = ["TextCache", "step_layout"]

KV = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class TextCache:
    """Incremental state of a text decoder or LM for B rows.

    self_kv: one (k, v) per layer, each (B, H, n_slots, Dh); lengths: (B,) long, tokens fed per row
    (the position of its next token); memory_kv: one (k, v) per layer, each (B, H, T', Dh), the
    cross-attention keys/values (empty for an LM); memory_valid: (B, T') bool or None (LM).
    """

    self_kv: tuple[KV, ...]
    lengths: Tensor
    memory_kv: tuple[KV, ...] = ()
    memory_valid: Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.lengths.shape[0]

    @property
    def n_slots(self) -> int:
        return self.self_kv[0][0].shape[2] if self.self_kv else 0

    def select(self, indices: Tensor, same_memory: bool = False) -> TextCache:
        """Cache of rows `indices` (B',) long: reorders, drops or repeats rows (beam search).

        same_memory: every new row b' has the same memory as the old row b' (beams reordered within
        one source), so the cross-attention keys/values are kept instead of copied.
        """
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.lengths.device)
        if idx.dim() != 1:
            raise ValueError(f"indices must be 1-D (B',), got shape {tuple(idx.shape)}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.batch_size):
            raise IndexError(f"indices out of range for a cache of batch size {self.batch_size}")
        if same_memory and idx.numel() != self.batch_size:
            raise ValueError(f"same_memory needs B' = B = {self.batch_size} rows, got {idx.numel()}")
        pick = lambda t: t.index_select(0, idx)
        self_kv = tuple((pick(k), pick(v)) for k, v in self.self_kv)
        if same_memory:
            return replace(self, self_kv=self_kv, lengths=pick(self.lengths))
        memory_kv = tuple((pick(k), pick(v)) for k, v in self.memory_kv)
        valid = None if self.memory_valid is None else pick(self.memory_valid)
        return TextCache(self_kv, pick(self.lengths), memory_kv, valid)

    def truncate(self, lengths: Tensor) -> TextCache:
        """Roll row b back to its first lengths[b] tokens (B,) long, lengths <= self.lengths."""
        lengths = torch.as_tensor(lengths, dtype=torch.long, device=self.lengths.device)
        if lengths.shape != self.lengths.shape:
            raise ValueError(f"lengths must be (B,)=({self.batch_size},), got {tuple(lengths.shape)}")
        if bool((lengths < 0).any()) or bool((lengths > self.lengths).any()):
            raise ValueError(f"can only roll back: lengths {lengths.tolist()} vs cached "
                             f"{self.lengths.tolist()}")
        n = int(lengths.max()) if lengths.numel() else 0
        self_kv = tuple((k[:, :, :n], v[:, :, :n]) for k, v in self.self_kv)
        return replace(self, self_kv=self_kv, lengths=lengths)

    def extend(self, self_kv: tuple[KV, ...], n: int) -> TextCache:
        """The cache after a step that fed n tokens per row and returned, per layer, [old ; new] k/v
        (B, H, n_slots + n, Dh): rows packed back so that row b holds lengths[b] + n slots."""
        lengths = self.lengths + n
        if not self_kv or not self.batch_size or int(self.lengths.min()) == self.n_slots:  # nothing to move
            return replace(self, self_kv=self_kv, lengths=lengths)
        total = int(lengths.max())
        s = torch.arange(total, device=lengths.device)[None]  # (1, total)
        old = self.lengths[:, None]
        src = torch.where(s < old, s, self.n_slots + s - old).clamp(max=self.n_slots + n - 1)  # (B, total)
        b, h, _, dh = self_kv[0][0].shape
        index = src[:, None, :, None].expand(b, h, total, dh)
        packed = tuple((k.gather(2, index), v.gather(2, index)) for k, v in self_kv)
        return replace(self, self_kv=packed, lengths=lengths)


def step_layout(cache: TextCache, n: int) -> tuple[Tensor, Tensor]:
    """Positions (B, n) of n new tokens per row and the self-attention mask (B, n, n_slots + n).

    New token i of row b sits at position lengths[b] + i and sees the row's cached tokens (slots
    < lengths[b]) and new tokens 0..i.
    """
    device = cache.lengths.device
    new = torch.arange(n, device=device)
    positions = cache.lengths[:, None] + new[None]  # (B, n)
    old = torch.arange(cache.n_slots, device=device)[None, None, :] < cache.lengths[:, None, None]
    causal = (new[None, :] <= new[:, None])[None]  # (1, n, n)
    b = cache.batch_size
    mask = torch.cat([old.expand(b, n, -1), causal.expand(b, -1, -1)], dim=2)
    return positions, mask
