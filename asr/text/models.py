"""Text models built from the shared blocks of asr.nn: an encoder-decoder (TextSeq2Seq) and a
decoder-only language model (TextLM), for text-to-text tasks (correction, normalisation, copying)
and for rescoring speech hypotheses. The encoder stacks `TransformerEncoderBlock`s, the seq2seq
decoder is `asr.nn.decoder.TransformerDecoder` (its incremental step widened to n >= 1 tokens per
row and rows of different lengths by `TextDecoder`, for verifying drafts in one pass), the LM
stacks `TransformerEncoderBlock`s under a causal mask; both keep a `TextCache`. Both are registered
("text_seq2seq", "text_lm"), so `transduce.save_model` / `load_model` store and rebuild them from
config.json like the speech models. Token ids follow asr.tokenizers.text_bpe (0 pad, 1 unk, 2 bos,
3 eos); decoder and LM inputs start with bos.

Shapes: see NOTATION.md (B batch, T' source tokens = memory positions, U target tokens, D, V, H,
Dh = D / H); n: tokens fed in one incremental step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transduce.asr.models.registry import register_model
from transduce.asr.nn.decoder import TransformerDecoder, TransformerDecoderConfig
from transduce.asr.nn.masks import causal_mask, lengths_to_valid
from transduce.asr.nn.positional import absolute_positions
from transduce.asr.nn.transformer_block import TransformerBlockConfig, TransformerEncoderBlock
from transduce.asr.text.cache import TextCache, step_layout
from transduce.asr.tokenizers.text_bpe import BOS_ID, EOS_ID

__all__ = ["TextSeq2SeqConfig", "TextLMConfig", "TextDecoder", "TextSeq2Seq", "TextLM"]

Position = Literal["absolute", "rotary"]
Activation = Literal["relu", "swish"]


@dataclass(frozen=True)
class TextSeq2SeqConfig:
    """Settings of a TextSeq2Seq. pos: "absolute" adds sinusoids to the token embeddings of source and
    target; "rotary" rotates the self-attention queries/keys of encoder and decoder. tie_embeddings:
    one (V, D) matrix embeds the source and the target and projects to the logits."""

    vocab_size: int
    d_model: int = 256
    n_heads: int = 4
    encoder_layers: int = 6
    decoder_layers: int = 6
    ff_expansion: int = 4
    activation: Activation = "relu"
    dropout: float = 0.1
    pos: Position = "absolute"
    tie_embeddings: bool = True
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID

    def __post_init__(self) -> None:
        _check_sizes(self, self.encoder_layers, self.decoder_layers)

    def decoder_config(self) -> TransformerDecoderConfig:
        return TransformerDecoderConfig(
            self.vocab_size, self.d_model, self.n_heads, self.decoder_layers, self.ff_expansion,
            self.activation, self.dropout, self.pos, self.tie_embeddings)

    def block_config(self) -> TransformerBlockConfig:
        return _block_config(self)


@dataclass(frozen=True)
class TextLMConfig:
    """Settings of a TextLM (positions and tying as in TextSeq2SeqConfig; tying joins the input
    embedding and the output projection)."""

    vocab_size: int
    d_model: int = 256
    n_heads: int = 4
    n_layers: int = 6
    ff_expansion: int = 4
    activation: Activation = "relu"
    dropout: float = 0.1
    pos: Position = "rotary"
    tie_embeddings: bool = True
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID

    def __post_init__(self) -> None:
        _check_sizes(self, self.n_layers)

    def block_config(self) -> TransformerBlockConfig:
        return _block_config(self)


def _check_sizes(cfg: TextSeq2SeqConfig | TextLMConfig, *layers: int) -> None:
    if cfg.vocab_size <= max(cfg.bos_id, cfg.eos_id):
        raise ValueError(f"vocab_size {cfg.vocab_size} must exceed bos_id {cfg.bos_id} and eos_id "
                         f"{cfg.eos_id}")
    if cfg.d_model % cfg.n_heads or (cfg.d_model // cfg.n_heads) % 2:
        raise ValueError(f"d_model {cfg.d_model} must split into n_heads {cfg.n_heads} heads of even width")
    if cfg.pos not in ("absolute", "rotary"):
        raise ValueError(f"unknown position kind {cfg.pos!r}; expected 'absolute' or 'rotary'")
    if min(layers) < 1:
        raise ValueError(f"every stack needs at least one layer, got {layers}")


def _block_config(cfg: TextSeq2SeqConfig | TextLMConfig) -> TransformerBlockConfig:
    return TransformerBlockConfig(
        cfg.d_model, cfg.n_heads, cfg.ff_expansion, cfg.activation,
        "rotary" if cfg.pos == "rotary" else "none", cfg.dropout, cfg.dropout)


def _init_embedding(embedding: nn.Embedding) -> None:
    """N(0, 1/D) entries, so the embedding scaled by sqrt(D) has unit variance (Vaswani et al. 2017)."""
    nn.init.normal_(embedding.weight, std=embedding.weight.shape[1] ** -0.5)


def _embed(embedding: nn.Embedding, tokens: Tensor, positions: Tensor, pos: str) -> Tensor:
    """Tokens (B, n) at positions (B|1, n) -> (B, n, D): scaled embedding (+ sinusoids if absolute)."""
    v, d = embedding.weight.shape
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= v):
        raise ValueError(f"token ids must lie in [0, {v}), got {int(tokens.min())}..{int(tokens.max())}")
    x = embedding(tokens) * math.sqrt(d)
    if pos == "absolute":
        x = x + absolute_positions(positions, d).to(x.dtype)
    return x


def _check_tokens(name: str, tokens: Tensor, lens: Tensor) -> None:
    if tokens.dim() != 2 or lens.shape != (tokens.shape[0],):
        raise ValueError(f"{name} must be (B, n) and its lengths (B,), got {tuple(tokens.shape)}, "
                         f"{tuple(lens.shape)}")
    if lens.numel() and (int(lens.min()) < 0 or int(lens.max()) > tokens.shape[1]):
        raise ValueError(f"{name} lengths must lie in [0, {tokens.shape[1]}], got {lens.tolist()}")


def _check_step(tokens: Tensor, cache: TextCache) -> None:
    if tokens.dim() != 2 or tokens.shape[0] != cache.batch_size or tokens.shape[1] < 1:
        raise ValueError(f"tokens must be (B={cache.batch_size}, n >= 1), got {tuple(tokens.shape)}")


class TextDecoder(TransformerDecoder):
    """A `TransformerDecoder` (same weights, same teacher-forced forward) whose `init_cache` / `step`
    keep a `TextCache`: n >= 1 tokens per row per step, rows at different lengths, roll-back."""

    def init_cache(self, memory: Tensor, memory_lens: Tensor) -> TextCache:
        """Empty cache over memory (B, T', D) with memory_lens (B,); memory k/v projected once."""
        valid = self._check_memory(memory, memory_lens)
        b, h, dh = memory.shape[0], self.cfg.n_heads, self.cfg.d_model // self.cfg.n_heads
        empty = memory.new_zeros(b, h, 0, dh)
        memory_kv = tuple(block.project_memory(memory) for block in self.blocks)
        lengths = torch.zeros(b, dtype=torch.long, device=memory.device)
        return TextCache(tuple((empty, empty) for _ in self.blocks), lengths, memory_kv, valid)

    def step(self, tokens: Tensor, cache: TextCache) -> tuple[Tensor, TextCache]:
        """Feed tokens (B, n) after each row's cached ones; return logits (B, n, V) and the new cache."""
        _check_step(tokens, cache)
        n = tokens.shape[1]
        positions, self_mask = step_layout(cache, n)
        memory_mask = cache.memory_valid[:, None, :].expand(-1, n, -1)  # (B, n, T')
        x = self._embed(tokens, positions)
        kvs = []
        for block, kv, memory_kv in zip(self.blocks, cache.self_kv, cache.memory_kv, strict=True):
            x, kv = block(x, positions, self_mask, memory_kv, memory_mask, cache=kv)
            kvs.append(kv)
        return self.output(self.norm(x)), cache.extend(tuple(kvs), n)


@register_model("text_seq2seq", TextSeq2SeqConfig)
class TextSeq2Seq(nn.Module):
    """Token embedding, L encoder `TransformerEncoderBlock`s + LayerNorm over the source, and a
    `TextDecoder` over the target with cross-attention to the encoder output."""

    def __init__(self, cfg: TextSeq2SeqConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.decoder = TextDecoder(cfg.decoder_config())
        self.src_embedding = None if cfg.tie_embeddings else nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.encoder = nn.ModuleList(TransformerEncoderBlock(cfg.block_config())
                                     for _ in range(cfg.encoder_layers))
        self.encoder_norm = nn.LayerNorm(cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        for emb in (self.decoder.embedding, self.src_embedding):
            if emb is not None:
                _init_embedding(emb)

    def encode(self, src: Tensor, src_lens: Tensor) -> tuple[Tensor, Tensor]:
        """Source tokens (B, T') with lengths (B,) -> memory (B, T', D) and memory_lens (B,) = src_lens."""
        _check_tokens("src", src, src_lens)
        t = src.shape[1]
        positions = torch.arange(t, device=src.device)[None]  # (1, T')
        valid = lengths_to_valid(src_lens, t)  # (B, T')
        mask = valid[:, None, :].expand(-1, t, -1)  # (B, T', T')
        embedding = self.decoder.embedding if self.src_embedding is None else self.src_embedding
        x = self.dropout(_embed(embedding, src, positions, self.cfg.pos))
        for block in self.encoder:
            x = block(x, mask, valid, positions)
        return self.encoder_norm(x), src_lens

    def forward(self, src: Tensor, src_lens: Tensor, tgt_in: Tensor, tgt_lens: Tensor) -> Tensor:
        """Teacher-forced logits (B, U, V) of tgt_in (B, U) (bos first) given src (B, T').

        Position u sees tgt_in[:, :u+1] and the first src_lens[b] source tokens; logits at padded
        positions u >= tgt_lens[b] are meaningless.
        """
        _check_tokens("tgt_in", tgt_in, tgt_lens)
        memory, memory_lens = self.encode(src, src_lens)
        return self.decoder(tgt_in, tgt_lens, memory, memory_lens)

    def init_cache(self, memory: Tensor, memory_lens: Tensor) -> TextCache:
        """Empty decoding cache over memory (B, T', D), memory_lens (B,) (from `encode`)."""
        return self.decoder.init_cache(memory, memory_lens)

    def step(self, tokens: Tensor, cache: TextCache) -> tuple[Tensor, TextCache]:
        """Feed tokens (B, n), n >= 1; logits (B, n, V) equal `forward`'s at those positions."""
        return self.decoder.step(tokens, cache)


@register_model("text_lm", TextLMConfig)
class TextLM(nn.Module):
    """Decoder-only LM: embedding, L `TransformerEncoderBlock`s under a causal mask, LayerNorm, V logits."""

    def __init__(self, cfg: TextLMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(TransformerEncoderBlock(cfg.block_config()) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.output = nn.Linear(cfg.d_model, cfg.vocab_size)
        _init_embedding(self.embedding)
        if cfg.tie_embeddings:
            self.output.weight = self.embedding.weight

    def forward(self, tokens: Tensor, lens: Tensor) -> Tensor:
        """Logits (B, U, V) of tokens (B, U) (bos first): position u predicts the token after tokens[:, u]."""
        _check_tokens("tokens", tokens, lens)
        u = tokens.shape[1]
        positions = torch.arange(u, device=tokens.device)[None]  # (1, U)
        valid = lengths_to_valid(lens, u)  # (B, U)
        mask = causal_mask(positions, positions) & valid[:, None, :]  # (B, U, U)
        x = self.dropout(_embed(self.embedding, tokens, positions, self.cfg.pos))
        for block in self.blocks:
            x = block(x, mask, valid, positions)
        return self.output(self.norm(x))

    def init_cache(self, batch: int, device: torch.device | str | None = None) -> TextCache:
        """Empty cache for `batch` rows (on the model's device unless given)."""
        w = self.output.weight
        h = self.cfg.n_heads
        empty = w.new_zeros(batch, h, 0, self.cfg.d_model // h, device=device)
        lengths = torch.zeros(batch, dtype=torch.long, device=empty.device)
        return TextCache(tuple((empty, empty) for _ in self.blocks), lengths)

    def step(self, tokens: Tensor, cache: TextCache) -> tuple[Tensor, TextCache]:
        """Feed tokens (B, n), n >= 1; logits (B, n, V) equal `forward`'s at those positions."""
        _check_step(tokens, cache)
        n = tokens.shape[1]
        positions, mask = step_layout(cache, n)
        valid = torch.ones(tokens.shape, dtype=torch.bool, device=tokens.device)
        x = self.dropout(_embed(self.embedding, tokens, positions, self.cfg.pos))
        kvs = []
        for block, (k, v) in zip(self.blocks, cache.self_kv, strict=True):
            x1, (k_new, v_new) = block.prepare(x, positions)
            kv = (torch.cat([k, k_new], dim=2), torch.cat([v, v_new], dim=2))
            x, _ = block.finish(x1, kv, mask, valid, positions)
            kvs.append(kv)
        return self.output(self.norm(x)), cache.extend(tuple(kvs), n)

    def score(self, tokens: Tensor, lens: Tensor, add_eos: bool = True) -> Tensor:
        """Log-probabilities (B,) of tokens (B, U) (no bos) with lengths (B,): sum over u < U_b of
        log p(tokens[b, u] | bos, tokens[b, :u]), plus log p(eos | ...) after them if add_eos."""
        _check_tokens("tokens", tokens, lens)
        b, u = tokens.shape
        bos = tokens.new_full((b, 1), self.cfg.bos_id)
        logits = self(torch.cat([bos, tokens], dim=1), lens + 1)  # (B, U+1, V)
        target = torch.cat([tokens, tokens.new_zeros(b, 1)], dim=1)  # (B, U+1)
        if add_eos:
            target = target.scatter(1, lens[:, None], self.cfg.eos_id)
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        logp = F.log_softmax(logits, dim=-1).gather(-1, target[..., None])[..., 0]  # (B, U+1)
        counted = lengths_to_valid(lens + int(add_eos), u + 1)
        return torch.where(counted, logp, torch.zeros_like(logp)).sum(dim=1)
