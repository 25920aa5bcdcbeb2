"""Transformer decoder (pre-norm, self + cross attention) with a KV cache for incremental decoding.

Teacher-forced `forward` serves training; `init_cache` + `step` decode one token at a time with
the memory's keys/values projected once and the self-attention keys/values of past tokens cached,
giving the same logits as `forward` (Vaswani et al. 2017, "Attention Is All You Need").

Shapes: see NOTATION.md (B, U target tokens, T' memory frames, D, V, H, Dh = D / H); per call,
n: new tokens, n_past: tokens already decoded (cached).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from transduce.asr.nn.attention import MultiHeadAttention
from transduce.asr.nn.feed_forward import FeedForward
from transduce.asr.nn.masks import causal_mask, lengths_to_valid
from transduce.asr.nn.positional import absolute_positions

__all__ = [
    "TransformerDecoderConfig",
    "TransformerDecoderBlock",
    "TransformerDecoder",
    "LayerCache",
    "DecoderCache",
    "greedy_decode",
]

KV = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class TransformerDecoderConfig:
    """Settings of a `TransformerDecoder`.

    pos: "absolute" adds sinusoids of token positions to the embeddings; "rotary" rotates the
    self-attention queries/keys by token positions (cross-attention carries no positions).
    """

    vocab_size: int
    d_model: int = 256
    n_heads: int = 4
    n_layers: int = 6
    ff_expansion: int = 4
    activation: Literal["relu", "swish"] = "relu"
    dropout: float = 0.1
    pos: Literal["absolute", "rotary"] = "absolute"
    tie_embeddings: bool = False


@dataclass(frozen=True)
class LayerCache:
    """One block's cache: self-attention k/v of past tokens (B, H, n_past, Dh), memory k/v (B, H, T', Dh)."""

    self_k: Tensor
    self_v: Tensor
    memory_k: Tensor
    memory_v: Tensor


@dataclass(frozen=True)
class DecoderCache:
    """State of incremental decoding for a batch of B hypotheses that all advance together.

    layers: one `LayerCache` per block; memory_valid: (B, T') bool, True on real memory frames;
    length: n_past, the number of tokens already fed (the position of the next token).
    """

    layers: tuple[LayerCache, ...]
    memory_valid: Tensor
    length: int

    @property
    def batch_size(self) -> int:
        return self.memory_valid.shape[0]

    def select(self, indices: Tensor) -> DecoderCache:
        """Cache of hypotheses `indices` (B',) long: reorders, drops or repeats rows (beam search)."""
        indices = torch.as_tensor(indices, dtype=torch.long, device=self.memory_valid.device)
        if indices.dim() != 1:
            raise ValueError(f"indices must be 1-D (B',), got shape {tuple(indices.shape)}")
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.batch_size):
            raise IndexError(f"indices out of range for a cache of batch size {self.batch_size}")
        layers = tuple(
            LayerCache(*(t.index_select(0, indices) for t in (c.self_k, c.self_v, c.memory_k, c.memory_v)))
            for c in self.layers
        )
        return DecoderCache(layers, self.memory_valid.index_select(0, indices), self.length)


class TransformerDecoderBlock(nn.Module):
    """Pre-norm block: x + SelfAttn(LN x) (causal), + CrossAttn(LN x, memory), + FF(LN x)."""

    def __init__(self, cfg: TransformerDecoderConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.norm_self = nn.LayerNorm(d)
        self_pos = "rotary" if cfg.pos == "rotary" else "none"
        self.self_attn = MultiHeadAttention(d, cfg.n_heads, cfg.dropout, pos=self_pos)
        self.norm_cross = nn.LayerNorm(d)
        self.cross_attn = MultiHeadAttention(d, cfg.n_heads, cfg.dropout, pos="none")
        self.norm_ff = nn.LayerNorm(d)
        self.feed_forward = FeedForward(d, cfg.ff_expansion, cfg.dropout, cfg.activation)
        self.dropout = nn.Dropout(cfg.dropout)

    def project_memory(self, memory: Tensor) -> KV:
        """Cross-attention keys and values (B, H, T', Dh) of memory (B, T', D), made once per utterance."""
        return self.cross_attn.project_kv(memory)

    def forward(
        self,
        x: Tensor,
        positions: Tensor,
        self_mask: Tensor,
        memory_kv: KV,
        memory_mask: Tensor,
        cache: KV | None = None,
    ) -> tuple[Tensor, KV]:
        """Run the block on new tokens x (B, n, D) at positions (B|1, n); return (y (B, n, D), self k/v).

        self_mask: (B|1, n, n_past + n) over [cache ; new] keys; memory_mask: (B|1, n, T');
        cache: self-attention k/v (B, H, n_past, Dh) of earlier tokens or None (n_past = 0). The
        returned k/v (B, H, n_past + n, Dh) are the cache for the next call.
        """
        h = self.norm_self(x)
        k, v = self.self_attn.project_kv(h, positions)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        x = x + self.dropout(self.self_attn(h, (k, v), self_mask, positions=positions))
        x = x + self.dropout(self.cross_attn(self.norm_cross(x), memory_kv, memory_mask))
        x = x + self.dropout(self.feed_forward(self.norm_ff(x)))
        return x, (k, v)


class TransformerDecoder(nn.Module):
    """Token embedding, L `TransformerDecoderBlock`s (n_layers), final LayerNorm, projection to V logits."""

    def __init__(self, cfg: TransformerDecoderConfig) -> None:
        super().__init__()
        if cfg.vocab_size < 1:
            raise ValueError(f"vocab_size must be positive, got {cfg.vocab_size}")
        if cfg.pos not in ("absolute", "rotary"):
            raise ValueError(f"unknown decoder position kind {cfg.pos!r}; expected 'absolute' or 'rotary'")
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(TransformerDecoderBlock(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.output = nn.Linear(cfg.d_model, cfg.vocab_size)
        if cfg.tie_embeddings:
            self.output.weight = self.embedding.weight

    def _embed(self, tokens: Tensor, positions: Tensor) -> Tensor:
        """Tokens (B, U) at positions (1, U) -> (B, U, D)."""
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.cfg.vocab_size):
            lo, hi = int(tokens.min()), int(tokens.max())
            raise ValueError(f"token ids must lie in [0, {self.cfg.vocab_size}), got {lo}..{hi}")
        x = self.embedding(tokens) * math.sqrt(self.cfg.d_model)
        if self.cfg.pos == "absolute":
            x = x + absolute_positions(positions, self.cfg.d_model).to(x.dtype)
        return self.dropout(x)

    def _check_memory(self, memory: Tensor, memory_lens: Tensor) -> Tensor:
        """Validate memory (B, T', D) and memory_lens (B,); return memory_valid (B, T')."""
        if memory.dim() != 3 or memory.shape[-1] != self.cfg.d_model:
            raise ValueError(f"memory must be (B, T, D={self.cfg.d_model}), got {tuple(memory.shape)}")
        if memory_lens.shape != (memory.shape[0],):
            raise ValueError(f"memory_lens must be (B,)=({memory.shape[0]},), got {tuple(memory_lens.shape)}")
        if int(memory_lens.min()) < 0 or int(memory_lens.max()) > memory.shape[1]:
            raise ValueError(f"memory_lens must lie in [0, T={memory.shape[1]}], got {memory_lens.tolist()}")
        return lengths_to_valid(memory_lens, memory.shape[1])

    def forward(self, tokens: Tensor, token_lens: Tensor, memory: Tensor, memory_lens: Tensor) -> Tensor:
        """Teacher-forced logits (B, U, V) of tokens (B, U) with token_lens (B,) over memory (B, T', D).

        Position u sees tokens 0..u and the first memory_lens[b] memory frames; logits at padded
        positions u >= token_lens[b] are meaningless.
        """
        if tokens.dim() != 2 or token_lens.shape != (tokens.shape[0],):
            raise ValueError(
                f"tokens must be (B, U) and token_lens (B,), got {tuple(tokens.shape)}, "
                f"{tuple(token_lens.shape)}"
            )
        if tokens.shape[0] != memory.shape[0]:
            raise ValueError(f"tokens batch {tokens.shape[0]} != memory batch {memory.shape[0]}")
        if int(token_lens.min()) < 0 or int(token_lens.max()) > tokens.shape[1]:
            raise ValueError(f"token_lens must lie in [0, U={tokens.shape[1]}], got {token_lens.tolist()}")
        memory_valid = self._check_memory(memory, memory_lens)
        u = tokens.shape[1]
        positions = torch.arange(u, device=tokens.device)[None]  # (1, U)
        token_valid = lengths_to_valid(token_lens, u)  # (B, U)
        self_mask = causal_mask(positions, positions) & token_valid[:, None, :]  # (B, U, U)
        memory_mask = memory_valid[:, None, :].expand(-1, u, -1)  # (B, U, T')
        x = self._embed(tokens, positions)
        for block in self.blocks:
            x, _ = block(x, positions, self_mask, block.project_memory(memory), memory_mask)
        return self.output(self.norm(x))

    def init_cache(self, memory: Tensor, memory_lens: Tensor) -> DecoderCache:
        """Empty cache for decoding over memory (B, T', D), memory_lens (B,): memory k/v projected once."""
        memory_valid = self._check_memory(memory, memory_lens)
        b, h, dh = memory.shape[0], self.cfg.n_heads, self.cfg.d_model // self.cfg.n_heads
        empty = memory.new_zeros(b, h, 0, dh)
        layers = tuple(LayerCache(empty, empty, *block.project_memory(memory)) for block in self.blocks)
        return DecoderCache(layers, memory_valid, 0)

    def step(self, tokens: Tensor, cache: DecoderCache) -> tuple[Tensor, DecoderCache]:
        """Feed one token per hypothesis, tokens (B, 1); return next-token logits (B, V) and the new cache."""
        if tokens.dim() != 2 or tokens.shape != (cache.batch_size, 1):
            raise ValueError(f"tokens must be (B, 1)=({cache.batch_size}, 1), got {tuple(tokens.shape)}")
        s = cache.length
        positions = torch.full((1, 1), s, dtype=torch.long, device=tokens.device)  # (1, 1)
        self_mask = torch.ones(1, 1, s + 1, dtype=torch.bool, device=tokens.device)  # (1, 1, n_past + 1)
        memory_mask = cache.memory_valid[:, None, :]  # (B, 1, T')
        x = self._embed(tokens, positions)
        layers = []
        for block, c in zip(self.blocks, cache.layers, strict=True):
            memory_kv = (c.memory_k, c.memory_v)
            x, (k, v) = block(x, positions, self_mask, memory_kv, memory_mask, cache=(c.self_k, c.self_v))
            layers.append(LayerCache(k, v, c.memory_k, c.memory_v))
        logits = self.output(self.norm(x))[:, 0]
        return logits, DecoderCache(tuple(layers), cache.memory_valid, s + 1)


@torch.no_grad()
def greedy_decode(
    decoder: TransformerDecoder, memory: Tensor, memory_lens: Tensor, bos: int, eos: int, max_len: int
) -> tuple[Tensor, Tensor]:
    """Greedy autoregressive decoding from `bos` until `eos` or max_len tokens.

    Returns tokens (B, n) long, n <= max_len (bos and eos excluded, padded with eos), and their
    lengths (B,).
    """
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len}")
    b = memory.shape[0]
    cache = decoder.init_cache(memory, memory_lens)
    prev = torch.full((b, 1), bos, dtype=torch.long, device=memory.device)
    done = torch.zeros(b, dtype=torch.bool, device=memory.device)
    lengths = torch.zeros(b, dtype=torch.long, device=memory.device)
    out = []
    for _ in range(max_len):
        logits, cache = decoder.step(prev, cache)
        best = logits.argmax(dim=-1)  # (B,)
        done = done | (best == eos)
        best = best.masked_fill(done, eos)
        lengths = lengths + (~done).long()
        out.append(best)
        if bool(done.all()):
            break
        prev = best[:, None]
    tokens = torch.stack(out, dim=1) if out else memory.new_zeros(b, 0, dtype=torch.long)
    return tokens[:, : int(lengths.max()) if b else 0], lengths
