"""Shared machinery of the encoders: offline forward and the exact cache-aware streaming step.

Every layer keeps a frontier: how many of its output frames are final. Layer l may finish frame i
once every key its context mask lets frame i see is final in its input: i + right < n for the n
final input frames (regular style) or the whole chunk of i is in (chunked_limited), or the stream
has ended. A step computes keys/values of the new input frames of each layer, then finishes the
newly final query frames over [cached keys ; new keys] under the same position-based mask as the
offline forward, so streaming output equals offline output for any chunking. The look-ahead of
"regular" contexts adds up over layers (L * right frames); chunked_limited contexts add none.

Shapes: see NOTATION.md (B, T, F, T', D, H, Dh, L); the counts of a streaming step are named
where they occur.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from transduce.asr.encoders.config import ConformerConfig, Context, TransformerConfig
from transduce.asr.encoders.state import EncoderState, StreamingError
from transduce.asr.nn._cache import keep_last
from transduce.asr.nn.masks import chunked_limited_mask, context_mask, lengths_to_valid, limited_mask
from transduce.asr.nn.positional import absolute_positions, relative_positions
from transduce.asr.nn.subsampling import ConvSubsampling

__all__: list[str] = []

_STYLES = ("regular", "chunked_limited")


def _arange(n: int, like: Tensor) -> Tensor:
    return torch.arange(n, device=like.device)[None, :]


@dataclass(frozen=True)
class _StreamingConfig:
    """What `_StreamingEncoder` takes from an encoder config (ConformerConfig / TransformerConfig).

    pos_emb: 'relative' (Transformer-XL, in attention), 'rotary' (in attention) or 'absolute'
    (sinusoids added after subsampling); the Conformer is always 'relative'.
    """

    att_context_size: tuple[Context, ...]
    att_context_style: str
    d_model: int
    xscaling: bool
    pos_emb: str
    dropout_pre_encoder: float

    @classmethod
    def from_config(cls, cfg: ConformerConfig | TransformerConfig, *, pos_emb: str) -> _StreamingConfig:
        """The fields of `cfg` that the shared machinery reads, with the encoder's `pos_emb`."""
        return cls(cfg.att_context_size, cfg.att_context_style, cfg.d_model, cfg.xscaling, pos_emb,
                   cfg.dropout_pre_encoder)


class _StreamingEncoder(nn.Module):
    """Subsampling -> scale/positions -> blocks -> optional final norm, offline or streaming.

    The subclass builds the modules (so their initialisation order, and with it the seeded weights,
    stays its own) and passes them with its settings in `cfg`.
    """

    def __init__(
        self,
        cfg: _StreamingConfig,
        pre_encode: ConvSubsampling,
        layers: nn.ModuleList,
        final_norm: nn.Module | None = None,
    ) -> None:
        super().__init__()
        style, contexts = cfg.att_context_style, cfg.att_context_size
        if style not in _STYLES:
            raise ValueError(f"unknown att_context_style {style!r}; expected one of {_STYLES}")
        if not contexts or any(len(c) != 2 for c in contexts):
            raise ValueError(f"att_context_size must be a non-empty list of [left, right], got {contexts}")
        self.pre_encode, self.layers, self.final_norm = pre_encode, layers, final_norm
        self.contexts = tuple((int(a), int(b)) for a, b in contexts)
        self.style, self.d_model, self.pos_emb = style, cfg.d_model, cfg.pos_emb
        self.xscale = math.sqrt(cfg.d_model) if cfg.xscaling else 1.0
        self.dropout = nn.Dropout(cfg.dropout_pre_encoder)

    # ----------------------------------------------------------------------------------- offline
    def _pick(self, lookahead: int | None) -> int:
        if lookahead is None:
            return random.randrange(len(self.contexts)) if self.training else 0
        if not 0 <= lookahead < len(self.contexts):
            raise ValueError(f"lookahead index {lookahead} out of range for att_context_size {self.contexts}")
        return lookahead

    def _embed(self, x: Tensor, positions: Tensor) -> Tensor:
        """Scale n subsampled frames (B, n, D) and add absolute positions (B|1, n) if configured."""
        x = x * self.xscale
        if self.pos_emb == "absolute":
            x = x + absolute_positions(positions, self.d_model).to(x.dtype)
        return self.dropout(x)

    def forward(self, feats: Tensor, lengths: Tensor, lookahead: int | None = None) -> tuple[Tensor, Tensor]:
        """feats (B, T, F), lengths (B,) -> out (B, T', D) (zero past out_lens), out_lens (B,).

        lookahead: index into att_context_size; None picks one at random in training, else the first.
        """
        assert feats.dim() == 3 and lengths.shape == feats.shape[:1], (
            f"feats must be (B, T, F) and lengths (B,), got {tuple(feats.shape)} and {tuple(lengths.shape)}"
        )
        left, right = self.contexts[self._pick(lookahead)]
        x, lens = self.pre_encode(feats, lengths)
        t = x.shape[1]
        pos = torch.arange(t, device=x.device)[None, :]
        x = self._embed(x, pos)
        valid = lengths_to_valid(lens, t)
        mask = context_mask(pos[0], pos[0], left, right, self.style) & valid[:, None, :]
        rel = None
        if self.pos_emb == "relative":
            # chunked_limited lets the end of a chunk see up to left + right frames back
            back, ahead = (left + max(right, 0) if left >= 0 else t), (right if right >= 0 else t)
            rel = relative_positions(pos, pos, self.d_model, back, ahead)
        for layer in self.layers:
            x = layer(x, mask, valid, pos, rel)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x.masked_fill(~valid[:, :, None], 0.0), lens

    # --------------------------------------------------------------------------------- streaming
    def _check_streamable(self) -> None:
        if not self.pre_encode.causal:
            raise StreamingError("streaming needs causal subsampling: set causal_downsampling=True")
        for left, right in self.contexts:
            if left < 0 or right < 0:
                raise StreamingError(
                    f"streaming needs a limited context [left >= 0, right >= 0] for every att_context_size, "
                    f"got [{left}, {right}]"
                )
        for layer in self.layers:
            conv = getattr(layer, "conv", None)
            if conv is not None and not conv.causal:
                raise StreamingError("streaming needs conv_context_size='causal'")

    @property
    def _cache_frames(self) -> tuple[int, int]:
        """(c, p): attention cache frames max(left + right) and pending query frames max(right)."""
        return max(a + b for a, b in self.contexts), max(b for _, b in self.contexts)

    def chunk_frames(self, lookahead: int = 0) -> tuple[int, int]:
        """Feature frames (first, later) per streaming step for context `lookahead`.

        A chunk holds right + 1 subsampled frames (s = subsampling factor): the first chunk needs
        1 + s * right feature frames, later chunks s * (right + 1). In the "regular" style the
        first chunk also waits for the look-ahead of every layer: 1 + s * (right + L * right).
        Any other chunking gives the same output frames, only later or in other groups.
        """
        _, right = self.contexts[self._pick(lookahead)]
        s, n_layers = self.pre_encode.factor, len(self.layers)
        wait = right if self.style == "chunked_limited" else right + n_layers * right
        return 1 + s * wait, s * (right + 1)

    def init_state(self, batch_size: int, lookahead: int | Tensor | list[int] = 0) -> EncoderState:
        """Empty state of `batch_size` streams with context att_context_size[lookahead] (int or (B,))."""
        self._check_streamable()
        p0 = next(self.parameters())
        dev, dt = p0.device, p0.dtype
        idx = torch.as_tensor(lookahead, dtype=torch.long).reshape(-1).expand(batch_size).clone()
        if bool(((idx < 0) | (idx >= len(self.contexts))).any()):
            raise StreamingError(f"lookahead {lookahead} out of range for att_context_size {self.contexts}")
        ctx = torch.tensor(self.contexts, dtype=torch.long)[idx]
        c, p = self._cache_frames
        n_layers, attn = len(self.layers), self.layers[0].self_attn
        h, dh = attn.n_heads, attn.d_head
        conv = getattr(self.layers[0], "conv", None)
        k = conv.cache_size if conv is not None else 0
        z = lambda *shape: torch.zeros(*shape, device=dev, dtype=dt)  # noqa: E731
        return EncoderState(
            sub_cache=z(batch_size, self.pre_encode.cache_size, self.pre_encode.feat_in),
            frames_in=torch.zeros(batch_size, dtype=torch.long, device=dev),
            frontier=torch.zeros(batch_size, n_layers + 1, dtype=torch.long, device=dev),
            k=z(batch_size, n_layers, h, c, dh),
            v=z(batch_size, n_layers, h, c, dh),
            x1=z(batch_size, n_layers, p, self.d_model),
            conv=z(batch_size, n_layers, self.d_model, k),
            lookahead=idx.to(dev),
            left=ctx[:, 0].to(dev),
            right=ctx[:, 1].to(dev),
        )

    def _ready(self, n_in: Tensor, n_out: Tensor, state: EncoderState, final: Tensor) -> Tensor:
        """(B,) output frames of a layer that are final once its input has n_in final frames."""
        if self.style == "regular":
            ready = (n_in - state.right).clamp(min=0)
        else:
            chunk = state.right + 1
            ready = torch.div(n_in, chunk, rounding_mode="floor") * chunk
        return torch.maximum(torch.where(final, n_in, ready), n_out)

    def _mask(self, q_pos: Tensor, k_pos: Tensor, state: EncoderState) -> Tensor:
        if self.style == "regular":
            return limited_mask(q_pos, k_pos, state.left, state.right)
        chunk = state.right + 1
        return chunked_limited_mask(q_pos, k_pos, chunk, torch.div(state.left, chunk, rounding_mode="floor"))

    def stream_step(
        self, chunk: Tensor, chunk_lens: Tensor, state: EncoderState, final: bool | Tensor = False
    ) -> tuple[Tensor, Tensor, EncoderState]:
        """Feed chunk (B, T, F) with chunk_lens (B,) valid frames -> out (B, m, D), out_lens (B,), new state.

        out holds each stream's newly final encoder frames (the first out_lens[b], zero after;
        m = max(out_lens)).
        final: True (or (B,) bool) on a stream's last chunk, so frames waiting for look-ahead
        are finished as the offline forward finishes the end of an utterance.
        """
        b = state.batch_size
        if chunk.dim() != 3 or chunk.shape[0] != b or chunk.shape[2] != self.pre_encode.feat_in:
            raise StreamingError(
                f"chunk must be (B={b}, T, F={self.pre_encode.feat_in}), got {tuple(chunk.shape)}"
            )
        if chunk_lens.shape != (b,) or bool(((chunk_lens < 0) | (chunk_lens > chunk.shape[1])).any()):
            raise StreamingError(
                f"chunk_lens must be (B={b},) within [0, {chunk.shape[1]}], got {chunk_lens}"
            )
        final_t = torch.as_tensor(final, dtype=torch.bool, device=chunk.device).reshape(-1).expand(b)
        chunk_lens = chunk_lens.to(state.frames_in.device)
        x, counts, sub_cache = self.pre_encode.stream(chunk, chunk_lens, state.sub_cache, state.frames_in,
                                                      final_t)
        n_prev = state.frontier[:, 0]
        x = self._embed(x, n_prev[:, None] + _arange(x.shape[1], x))
        frontier, caches = [n_prev + counts], {"k": [], "v": [], "x1": [], "conv": []}
        for i, layer in enumerate(self.layers):
            n_out = self._ready(frontier[-1], state.frontier[:, i + 1], state, final_t)
            x, counts, new = self._layer_step(
                layer, i, x, n_prev, counts, state.frontier[:, i + 1], n_out, state
            )
            for key, val in new.items():
                caches[key].append(val)
            n_prev = state.frontier[:, i + 1]
            frontier.append(n_out)
        if self.final_norm is not None:
            x = self.final_norm(x)
        x = x.masked_fill(~lengths_to_valid(counts, x.shape[1])[:, :, None], 0.0)
        new_state = EncoderState(
            sub_cache=sub_cache,
            frames_in=state.frames_in + chunk_lens,
            frontier=torch.stack(frontier, dim=1),
            **{key: torch.stack(val, dim=1) for key, val in caches.items()},
            lookahead=state.lookahead,
            left=state.left,
            right=state.right,
        )
        return x, counts, new_state

    def _layer_step(
        self,
        layer: nn.Module,
        i: int,
        x: Tensor,
        n_in: Tensor,
        counts: Tensor,
        n_done: Tensor,
        n_out: Tensor,
        state: EncoderState,
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Layer i: new input frames x (B, n, D) at n_in .. n_in + counts - 1; finishes n_done .. n_out - 1.

        Returns the finished frames (B, q, D), q = max(n_out - n_done), their counts (B,) and the
        layer's new caches (c, p: see `_cache_frames`; n = x.shape[1], `u` in the code).
        """
        c, p = self._cache_frames
        u = x.shape[1]
        x1_new, (k_new, v_new) = layer.prepare(x, n_in[:, None] + _arange(u, x))
        k_buf = torch.cat([state.k[:, i], k_new], dim=2)  # (B, H, c + n, Dh)
        v_buf = torch.cat([state.v[:, i], v_new], dim=2)
        x1_buf = torch.cat([state.x1[:, i], x1_new], dim=1)  # (B, p + n, D)
        k_pos = n_in[:, None] - c + _arange(c + u, x)
        k_valid = (k_pos >= 0) & (k_pos < (n_in + counts)[:, None])
        q_counts = n_out - n_done
        q = int(q_counts.max()) if q_counts.numel() else 0
        q_pos = n_done[:, None] + _arange(q, x)
        assert bool((n_in - n_done <= p).all()), f"more than P={p} query frames pending in layer {i}"
        slot = (q_pos - n_in[:, None] + p).clamp(0, p + u - 1)
        x1_q = torch.gather(x1_buf, 1, slot[:, :, None].expand(-1, -1, x1_buf.shape[2]))
        mask = self._mask(q_pos, k_pos, state) & k_valid[:, None, :]
        rel = None
        if self.pos_emb == "relative":
            rel = relative_positions(q_pos, k_pos, self.d_model, c, p)
        q_valid = lengths_to_valid(q_counts, q)
        conv_cache = state.conv[:, i] if state.conv.shape[-1] > 0 else None
        if q == 0:  # nothing final yet in any stream (warm-up): skip the block
            out, conv_new = x1_q, None
        else:
            out, conv_new = layer.finish(x1_q, (k_buf, v_buf), mask, q_valid, q_pos, rel, conv_cache)
        new = {
            "k": keep_last(k_buf, c + counts, c, dim=2),
            "v": keep_last(v_buf, c + counts, c, dim=2),
            "x1": keep_last(x1_buf, p + counts, p, dim=1),
            "conv": conv_new if conv_new is not None else state.conv[:, i],
        }
        return out, q_counts, new
