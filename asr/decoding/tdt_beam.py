"""TDT beam search: a modified beam over (token, duration) pairs, batched over all streams.

Shapes: see NOTATION.md (B streams, T' encoder frames of a chunk, D encoder width, J joiner width,
V vocabulary incl. blank, K number of durations, W beam); k = min(W, V) tokens tried per hypothesis.

Algorithm (frame-synchronous; this project's variant of a TDT beam, cf. Xu et al. 2023 and
NeMo's TDT beam search). Every hypothesis carries its own next frame. For each frame g, in rounds
r = 0 .. max_symbols_per_frame - 1:

    1. the hypotheses whose next frame is g ("due") get token log-probs (top-k, fused kernel; plus
       hotword credit changes when a stream has hotwords) and duration log-probs (all K);
    2. each due hypothesis y yields k x K candidates (v, d) scored score(y) + log p(v) + log p(d),
       with next frame g + d; blank needs d > 0; a token with d = 0 stays on frame g for the next
       round, except in the last round, where it advances one frame (as greedy TDT does);
    3. the candidates and the hypotheses that are not due (carried unchanged) compete: candidates
       with equal token sequences AND equal next frames are merged (log-add), and the W best of each
       stream survive; hypotheses that emitted a token step the predictor (one batched step).

Frames where no hypothesis of the batch is due are skipped (TDT's frame skipping). A duration
that jumps past the end of a chunk is kept as the hypothesis' next frame, so chunked decoding
equals whole decoding. Results (`nbest`/`best`) merge hypotheses with equal token sequences
(log-add over their next frames); at the end of a stream that is the log-probability of the
sequence summed over the alignments kept. Without pruning it is exact over all alignments in which
a path ends once it reaches or jumps past the last frame.

Limits: hypotheses at different next frames compete in one beam, and one that jumped ahead has
paid for more frames than one still behind, so the beam leans towards short durations; W = 1 is
greedy decoding except where greedy would take blank with duration 0 (greedy forces one frame,
the beam picks the best blank duration > 0 or a token). Scores include completed hotword boosts;
results take back unfinished partial matches. Token confidence: the probability of the token under
the token softmax.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from transduce.asr.decoding._beam_common import (
    NO_TOKEN,
    Seq,
    Step,
    advance_nodes,
    extend_keys,
    merge_equal,
    ranked_hypotheses,
    step_predictor,
    token_topk,
    traceback,
)
from transduce.asr.decoding.base import Decoder, DecodingError, check_chunk, select_list
from transduce.asr.decoding.context_graph import ContextGraph
from transduce.asr.decoding.results import Hypothesis
from transduce.asr.heads.joiner import Joiner
from transduce.asr.heads.predictor import Predictor, PredictorState
from transduce.asr.tokenizers.base import BLANK_ID

__all__ = ["TDTBeamConfig", "TDTBeamState", "TDTBeamSearch"]


@dataclass(frozen=True)
class TDTBeamConfig:
    """Settings of TDT beam search: hypotheses kept per stream, tokens emitted per frame at most."""

    beam: int = 4
    max_symbols_per_frame: int = 4


@dataclass(frozen=True)
class TDTBeamState:
    """Batch-first beam state: scores, sequence keys, hotword states and global next frames (B, W);
    predictor state of the B*W hypotheses (row b*W + w); projected predictor outputs (B, W, J);
    frames consumed (B,); host-side sequences (B x W); hotword graphs (B)."""

    scores: Tensor
    keys: Tensor
    nodes: Tensor
    next_frame: Tensor
    pred: PredictorState
    pred_out: Tensor
    offsets: Tensor
    seqs: list[list[Seq]]
    contexts: list[ContextGraph | None]

    @property
    def batch_size(self) -> int:
        return self.scores.shape[0]

    def select(self, indices: Tensor | Sequence[int]) -> TDTBeamState:
        """The states of streams `indices`, in that order."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.scores.device).reshape(-1)
        w = self.scores.shape[1]
        rows = (idx[:, None] * w + torch.arange(w, device=idx.device)).reshape(-1)
        return TDTBeamState(self.scores[idx], self.keys[idx], self.nodes[idx], self.next_frame[idx],
                            self.pred.select(rows), self.pred_out[idx], self.offsets[idx],
                            select_list(self.seqs, idx), select_list(self.contexts, idx))

    @classmethod
    def stack(cls, states: Sequence[TDTBeamState]) -> TDTBeamState:
        """One batch of the streams of `states`, concatenated in order."""
        if not states:
            raise DecodingError("cannot stack an empty list of TDT beam states")
        cat = lambda name: torch.cat([getattr(s, name) for s in states])
        return cls(cat("scores"), cat("keys"), cat("nodes"), cat("next_frame"),
                   PredictorState.stack([s.pred for s in states]), cat("pred_out"), cat("offsets"),
                   [q for s in states for q in s.seqs], [c for s in states for c in s.contexts])


@dataclass
class _Beam:
    """The device-side tensors the frame loop updates (see TDTBeamState)."""

    scores: Tensor
    keys: Tensor
    nodes: Tensor
    next_frame: Tensor
    pred: PredictorState
    pred_out: Tensor


@dataclass(frozen=True)
class _Cands:
    """Candidates (B, n_cand) of one round: carried hypotheses first, then expansions."""

    scores: Tensor
    parent: Tensor
    token: Tensor  # NO_TOKEN where nothing is emitted
    duration: Tensor
    next_frame: Tensor
    keys: Tensor
    logp: Tensor


class TDTBeamSearch(Decoder[TDTBeamState]):
    """Batched TDT beam search over encoder output (B, T', D); see the module docstring."""

    def __init__(self, predictor: Predictor, joiner: Joiner, cfg: TDTBeamConfig | None = None) -> None:
        cfg = cfg or TDTBeamConfig()
        if cfg.beam < 1 or cfg.max_symbols_per_frame < 1:
            raise ValueError(f"beam and max_symbols_per_frame must be >= 1, got {cfg}")
        if not joiner.durations:
            raise ValueError("TDTBeamSearch needs a TDT joiner (with durations); use ModifiedBeamSearch")
        self.predictor, self.joiner, self.cfg = predictor, joiner, cfg
        self._durations = torch.tensor(joiner.durations, dtype=torch.long)

    @torch.no_grad()
    def init_state(self, batch_size: int, device: torch.device | str = "cpu",
                   contexts: Sequence[ContextGraph | None] | None = None) -> TDTBeamState:
        """`batch_size` empty streams; `contexts` gives each stream its hotword graph (or None)."""
        contexts = list(contexts) if contexts is not None else [None] * batch_size
        if len(contexts) != batch_size:
            raise DecodingError(f"got {len(contexts)} hotword graphs for {batch_size} streams")
        w = self.cfg.beam
        scores = torch.full((batch_size, w), float("-inf"), device=device)
        scores[:, 0] = 0.0
        start = torch.full((batch_size * w,), BLANK_ID, dtype=torch.long, device=device)
        out, pred = self.predictor.step(start, self.predictor.init_state(batch_size * w, device))
        zeros = torch.zeros(batch_size, w, dtype=torch.long, device=device)
        return TDTBeamState(scores, zeros, zeros.clone(), zeros.clone(), pred,
                            self.joiner.pred_proj(out).view(batch_size, w, -1),
                            torch.zeros(batch_size, dtype=torch.long, device=device),
                            [[Seq()] * w for _ in range(batch_size)], contexts)

    @torch.no_grad()
    def decode_chunk(self, x: Tensor, x_lens: Tensor | None, state: TDTBeamState) -> TDTBeamState:
        """Advance every stream by its `x_lens` (B,) valid frames of encoder output `x` (B, T', D)."""
        lens = check_chunk(x, x_lens, state.batch_size, self.joiner.cfg.enc_dim, "encoder output")
        n_frames = int(lens.max()) if state.batch_size else 0
        enc = self.joiner.enc_proj(x[:, :n_frames])
        beam = _Beam(state.scores, state.keys, state.nodes, state.next_frame, state.pred, state.pred_out)
        steps: list[Step] = []
        for t in range(n_frames):
            frame = state.offsets + t
            for r in range(self.cfg.max_symbols_per_frame):
                due = ((t < lens)[:, None] & (beam.next_frame == frame[:, None])
                       & (beam.scores > float("-inf")))
                if not bool(due.any()):
                    break
                last = r == self.cfg.max_symbols_per_frame - 1
                beam, step = self._round(enc[:, t], frame, due, last, beam, state.contexts)
                steps.append(step)
        return TDTBeamState(beam.scores, beam.keys, beam.nodes, beam.next_frame, beam.pred, beam.pred_out,
                             state.offsets + lens, traceback(steps, state.seqs), list(state.contexts))

    def _candidates(self, enc_t: Tensor, frame: Tensor, due: Tensor, last: bool, beam: _Beam,
                    contexts: list[ContextGraph | None]) -> _Cands:
        """The carried hypotheses (B, W) and the k x K expansions of each due one, as (B, W + W*k*K)."""
        n_b, n_w = beam.scores.shape
        tok_logits, dur_logits = self.joiner.split(self.joiner.joint(enc_t[:, None, :], beam.pred_out))
        k = min(n_w, self.joiner.vocab_size)
        ranked, tokens, logp = token_topk(tok_logits, beam.nodes, contexts, k)
        dur_lp = torch.log_softmax(dur_logits.float(), dim=-1)
        durs = self._durations.to(frame.device)
        n_d = durs.numel()
        score = beam.scores[:, :, None, None] + ranked[..., None] + dur_lp[:, :, None, :]  # (B, W, k, K)
        tok = tokens[..., None].expand(-1, -1, -1, n_d)
        d = durs.expand(n_b, n_w, k, n_d)
        ok = due[:, :, None, None] & ((tok != BLANK_ID) | (d > 0))
        step = d.clamp_min(1) if last else d
        emit = tok != BLANK_ID
        flat = lambda z: z.reshape(n_b, -1)
        ident = torch.arange(n_w, device=frame.device).expand(n_b, n_w)
        parent = ident[:, :, None, None].expand(-1, -1, k, n_d)
        return _Cands(
            scores=torch.cat([beam.scores.masked_fill(due, float("-inf")),
                              flat(score.masked_fill(~ok, float("-inf")))], 1),
            parent=torch.cat([ident, flat(parent)], 1),
            token=torch.cat([torch.full_like(ident, NO_TOKEN), flat(torch.where(emit, tok, NO_TOKEN))], 1),
            duration=torch.cat([torch.zeros_like(ident), flat(d)], 1),
            next_frame=torch.cat([beam.next_frame, flat(frame[:, None, None, None] + step)], 1),
            keys=torch.cat([beam.keys, flat(extend_keys(beam.keys[:, :, None, None], tok, emit))], 1),
            logp=torch.cat([torch.zeros(n_b, n_w, device=frame.device),
                            flat(logp[..., None].expand(-1, -1, -1, n_d))], 1),
        )

    def _round(self, enc_t: Tensor, frame: Tensor, due: Tensor, last: bool, beam: _Beam,
               contexts: list[ContextGraph | None]) -> tuple[_Beam, Step]:
        """One expansion round at global frames `frame` (B,) for the due hypotheses (B, W)."""
        n_b, n_w = beam.scores.shape
        c = self._candidates(enc_t, frame, due, last, beam, contexts)
        merge_keys = extend_keys(c.keys, c.next_frame, torch.ones_like(c.keys, dtype=torch.bool))
        scores, sel = merge_equal(c.scores, merge_keys).topk(n_w, dim=1)
        pick = lambda z: z.gather(1, sel)
        parent, tok = pick(c.parent), pick(c.token)
        tok = torch.where(scores > float("-inf"), tok, NO_TOKEN)
        emit = tok >= 0
        pred, pred_out = step_predictor(self.predictor, self.joiner, beam.pred, beam.pred_out, parent,
                                        tok, emit)
        nodes = advance_nodes(contexts, beam.nodes.gather(1, parent), tok, self.joiner.vocab_size)
        new = _Beam(scores, pick(c.keys), nodes, pick(c.next_frame), pred, pred_out)
        step = Step(parent, tok, frame[:, None].expand(n_b, n_w), pick(c.logp).exp(), pick(c.duration))
        return new, step

    def nbest(self, state: TDTBeamState) -> list[list[Hypothesis]]:
        """Distinct token sequences of each stream, best first (log-added over their next frames)."""
        out = []
        for hyps in ranked_hypotheses(state.scores, state.nodes, state.seqs, state.contexts, durations=True):
            groups: dict[tuple[int, ...], list[Hypothesis]] = {}
            for h in hyps:
                groups.setdefault(tuple(h.tokens), []).append(h)
            merged = [Hypothesis(g[0].tokens, g[0].frames, g[0].confidences,
                                 float(torch.tensor([h.score for h in g], dtype=torch.float64).logsumexp(0)),
                                 g[0].durations) for g in groups.values()]
            out.append(sorted(merged, key=lambda h: h.score, reverse=True))
        return out

    def best(self, state: TDTBeamState) -> list[Hypothesis]:
        """The best token sequence of each stream."""
        return [n[0] for n in self.nbest(state)]

