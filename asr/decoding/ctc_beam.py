"""CTC prefix beam search, resumable across chunks, with n-best and optional hotwords.

Shapes: see NOTATION.md (B streams, T' encoder frames of a chunk, V vocabulary incl. blank);
k = token_topk (default: beam) tokens kept per frame.

Each prefix (a collapsed token sequence) carries two log-probabilities over the frames seen so
far: pb (alignments ending in blank) and pnb (ending in the prefix's last token). Per frame t with
log-probs lp_t (Graves 2012, ch. 7; Hannun et al. 2014, "First-pass LVCSR with ... prefix search"):

    blank:          pb'(y)    += (pb(y) + pnb(y)) + lp_t(blank)
    repeat last:    pnb'(y)   += pnb(y) + lp_t(y_last)
    new token c:    pnb'(y+c) += (pb(y) if c == y_last else pb(y) + pnb(y)) + lp_t(c)

(+= is log-add), then the `beam` best prefixes survive. Only the top-k tokens of each frame (one
batched top-k over (B, T', V)) extend prefixes; the blank and repeat terms are always exact. With
hotwords a prefix also carries the ContextGraph credit of its tokens, added for ranking and
pruning; partial matches are taken back when ranking results (`best`/`nbest`). Without pruning
(beam and k large enough), a prefix's score is the exact log-probability of its token sequence.

Frames and confidences: a token's frame is the frame of the best single contribution that created
the prefix; its confidence is the largest probability of the token over the frames of its run on
that best contribution (the measure of asr.decoding.results).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor
from transduce.asr.decoding.base import Decoder, DecodingError, check_chunk, select_list
from transduce.asr.decoding.context_graph import ContextGraph
from transduce.asr.decoding.results import Hypothesis

__all__ = ["CTCBeamConfig", "CTCBeamState", "CTCPrefixBeamSearch"]

_NEG_INF = float("-inf")


@dataclass(frozen=True)
class CTCBeamConfig:
    """Settings: prefixes kept per stream, blank id, tokens tried per frame (None: `beam`)."""

    beam: int = 4
    blank: int = 0
    token_topk: int | None = None


class _Prefix(NamedTuple):
    """One surviving prefix: its two log-probs, token frames/confidences and hotword state."""

    pb: float
    pnb: float
    frames: tuple[int, ...]
    confs: tuple[float, ...]
    node: int = 0
    credit: float = 0.0


@dataclass(frozen=True)
class CTCBeamState:
    """Per stream: surviving prefixes (token tuple -> _Prefix), frames consumed, hotword graph."""

    beams: list[dict[tuple[int, ...], _Prefix]]
    offsets: list[int]
    contexts: list[ContextGraph | None]

    @property
    def batch_size(self) -> int:
        return len(self.beams)

    def select(self, indices: Tensor | Sequence[int]) -> CTCBeamState:
        """The states of streams `indices`, in that order."""
        return CTCBeamState(select_list(self.beams, indices), select_list(self.offsets, indices),
                            select_list(self.contexts, indices))

    @classmethod
    def stack(cls, states: Sequence[CTCBeamState]) -> CTCBeamState:
        """One batch of the streams of `states`, concatenated in order."""
        if not states:
            raise DecodingError("cannot stack an empty list of CTC beam states")
        return cls([b for s in states for b in s.beams], [o for s in states for o in s.offsets],
                   [c for s in states for c in s.contexts])


def _logadd(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    m = a if a > b else b
    return m + math.log1p(math.exp(-abs(a - b)))


class CTCPrefixBeamSearch(Decoder[CTCBeamState]):
    """CTC prefix beam search over CTC logits (B, T', V); see the module docstring."""

    def __init__(self, cfg: CTCBeamConfig | None = None) -> None:
        cfg = cfg or CTCBeamConfig()
        if cfg.beam < 1 or (cfg.token_topk is not None and cfg.token_topk < 1):
            raise ValueError(f"beam and token_topk must be >= 1, got {cfg.beam} and {cfg.token_topk}")
        self.cfg = cfg

    def init_state(self, batch_size: int, device: torch.device | str = "cpu",
                   contexts: Sequence[ContextGraph | None] | None = None) -> CTCBeamState:
        """`batch_size` empty streams; `contexts` gives each stream its hotword graph (or None)."""
        contexts = list(contexts) if contexts is not None else [None] * batch_size
        if len(contexts) != batch_size:
            raise DecodingError(f"got {len(contexts)} hotword graphs for {batch_size} streams")
        empty = {(): _Prefix(0.0, _NEG_INF, (), ())}
        return CTCBeamState([dict(empty) for _ in range(batch_size)], [0] * batch_size, contexts)

    def decode_chunk(self, x: Tensor, x_lens: Tensor | None, state: CTCBeamState) -> CTCBeamState:
        """Advance every stream by its `x_lens` (B,) valid frames of CTC logits `x` (B, T', V)."""
        lens = check_chunk(x, x_lens, state.batch_size, what="CTC logits").tolist()
        n_v = x.shape[-1]
        if not 0 <= self.cfg.blank < n_v:
            raise DecodingError(f"blank id {self.cfg.blank} is outside the vocabulary [0, {n_v})")
        lp = torch.log_softmax(x.detach().float(), dim=-1)
        k = min(self.cfg.token_topk or self.cfg.beam, n_v)
        top_v, top_i = (t.cpu().tolist() for t in lp.topk(k, dim=-1))
        lp = lp.cpu().numpy()
        beams = []
        for b in range(state.batch_size):
            beam = state.beams[b]
            for t in range(lens[b]):
                beam = self._frame(beam, lp[b, t], top_v[b][t], top_i[b][t], state.offsets[b] + t,
                                   state.contexts[b])
            beams.append(beam)
        offsets = [o + n for o, n in zip(state.offsets, lens)]
        return CTCBeamState(beams, offsets, list(state.contexts))

    def _frame(self, beam: dict, lp_t, top_v: list[float], top_i: list[int], frame: int,
               graph: ContextGraph | None) -> dict:
        """The `beam` best prefixes after one frame with log-probs lp_t (V,)."""
        blank = self.cfg.blank
        out: dict[tuple[int, ...], list] = {}  # key -> [pb, pnb, best, frames, confs, node, credit]
        lp_blank = float(lp_t[blank])
        for key, p in beam.items():
            total = _logadd(p.pb, p.pnb)
            _add(out, key, p, total + lp_blank, _NEG_INF, p.frames, p.confs)
            if key and p.pnb > _NEG_INF:
                lp_last = float(lp_t[key[-1]])
                confs = p.confs[:-1] + (max(p.confs[-1], math.exp(lp_last)),)
                _add(out, key, p, _NEG_INF, p.pnb + lp_last, p.frames, confs)
            for lv, v in zip(top_v, top_i):
                if v == blank:
                    continue
                base = p.pb if key and v == key[-1] else total
                if base == _NEG_INF:
                    continue
                node, credit = p.node, p.credit
                if graph is not None:
                    node, delta = graph.step(node, v)
                    credit += delta
                _add(out, key + (v,), _Prefix(0, 0, (), (), node, credit), _NEG_INF, base + lv,
                     p.frames + (frame,), p.confs + (math.exp(lv),))
        ranked = sorted(out.items(), key=lambda kv: _logadd(kv[1][0], kv[1][1]) + kv[1][6], reverse=True)
        return {key: _Prefix(e[0], e[1], e[3], e[4], e[5], e[6]) for key, e in ranked[: self.cfg.beam]}

    def best(self, state: CTCBeamState) -> list[Hypothesis]:
        """The best prefix of each stream (partial hotword matches taken back)."""
        return [n[0] for n in self.nbest(state)]

    def nbest(self, state: CTCBeamState) -> list[list[Hypothesis]]:
        """Every surviving prefix of each stream, best first."""
        out = []
        for beam, graph in zip(state.beams, state.contexts):
            hyps = [Hypothesis(list(key), list(p.frames), list(p.confs), _final_score(p, graph))
                    for key, p in beam.items()]
            out.append(sorted(hyps, key=lambda h: h.score, reverse=True))
        return out


def _add(out: dict, key: tuple[int, ...], src: _Prefix, pb: float, pnb: float,
         frames: tuple[int, ...], confs: tuple[float, ...]) -> None:
    """Log-add one contribution to `out[key]`; the frames of the best single contribution win."""
    contrib = pb if pb > pnb else pnb
    e = out.get(key)
    if e is None:
        out[key] = [pb, pnb, contrib, frames, confs, src.node, src.credit]
        return
    e[0], e[1] = _logadd(e[0], pb), _logadd(e[1], pnb)
    if contrib > e[2]:
        e[2], e[3], e[4] = contrib, frames, confs


def _final_score(p: _Prefix, graph: ContextGraph | None) -> float:
    score = _logadd(p.pb, p.pnb) + p.credit
    return score + graph.final_penalty(p.node) if graph is not None else score
