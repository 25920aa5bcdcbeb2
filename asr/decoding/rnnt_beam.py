"""Modified beam search for RNN-T: at most one symbol per frame, batched over all streams.

Shapes: see NOTATION.md (B streams, T' encoder frames of a chunk, D encoder width, J joiner width,
V vocabulary incl. blank, W beam); k = min(W, V) tokens tried per hypothesis.

Per frame t, for all B x W hypotheses at once (one joiner call and one predictor step per frame):

    1. log p(v | t, y) for every hypothesis y, and its top-k tokens (kernels.log_softmax_topk: fused
       Triton on CUDA, torch on CPU); with hotwords, the ContextGraph credit change of every token
       is added before the top-k (so a boosted token can enter the beam);
    2. W x k candidates per stream: y (blank) or y + v, scored score(y) + log p(v | t, y);
    3. candidates with equal token sequences are merged (log-added into the best of them);
    4. the W best survive; hypotheses that emitted a token step the predictor.

(Kanda et al. 2016; icefall/k2 "modified beam search"; Graves 2012 for the transducer). With no
pruning (W at least the number of distinct sequences, k = V), a hypothesis' score is the exact
log of the sum over its one-symbol-per-frame alignments. W = 1 is greedy decoding with at most one
symbol per frame. Scores include completed hotword boosts; `best`/`nbest` also take back the boost
of unfinished partial matches. Token frames and confidences (the probability of the token under
the token softmax, without boosts) follow the best alignment kept for each hypothesis. Call
`.eval()` on the predictor and joiner first (dropout would make decoding random).
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

__all__ = ["ModifiedBeamConfig", "RNNTBeamState", "ModifiedBeamSearch"]


@dataclass(frozen=True)
class ModifiedBeamConfig:
    """Settings of modified beam search: hypotheses kept per stream."""

    beam: int = 4


@dataclass(frozen=True)
class RNNTBeamState:
    """Batch-first beam state: scores, sequence keys and hotword states (B, W); predictor state of
    the B*W hypotheses (row b*W + w); projected predictor outputs (B, W, J); frames consumed (B,);
    host-side sequences (B x W) and hotword graphs (B)."""

    scores: Tensor
    keys: Tensor
    nodes: Tensor
    pred: PredictorState
    pred_out: Tensor
    offsets: Tensor
    seqs: list[list[Seq]]
    contexts: list[ContextGraph | None]

    @property
    def batch_size(self) -> int:
        return self.scores.shape[0]

    def select(self, indices: Tensor | Sequence[int]) -> RNNTBeamState:
        """The states of streams `indices`, in that order."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.scores.device).reshape(-1)
        w = self.scores.shape[1]
        rows = (idx[:, None] * w + torch.arange(w, device=idx.device)).reshape(-1)
        return RNNTBeamState(self.scores[idx], self.keys[idx], self.nodes[idx], self.pred.select(rows),
                             self.pred_out[idx], self.offsets[idx], select_list(self.seqs, idx),
                             select_list(self.contexts, idx))

    @classmethod
    def stack(cls, states: Sequence[RNNTBeamState]) -> RNNTBeamState:
        """One batch of the streams of `states`, concatenated in order."""
        if not states:
            raise DecodingError("cannot stack an empty list of RNN-T beam states")
        cat = lambda name: torch.cat([getattr(s, name) for s in states])
        return cls(cat("scores"), cat("keys"), cat("nodes"), PredictorState.stack([s.pred for s in states]),
                   cat("pred_out"), cat("offsets"), [q for s in states for q in s.seqs],
                   [c for s in states for c in s.contexts])


@dataclass
class _Beam:
    """The device-side tensors the frame loop updates (see RNNTBeamState)."""

    scores: Tensor
    keys: Tensor
    nodes: Tensor
    pred: PredictorState
    pred_out: Tensor


class ModifiedBeamSearch(Decoder[RNNTBeamState]):
    """Batched modified beam search over encoder output (B, T', D); see the module docstring."""

    def __init__(self, predictor: Predictor, joiner: Joiner, cfg: ModifiedBeamConfig | None = None) -> None:
        cfg = cfg or ModifiedBeamConfig()
        if cfg.beam < 1:
            raise ValueError(f"beam must be >= 1, got {cfg.beam}")
        if joiner.durations:
            raise ValueError("ModifiedBeamSearch needs an RNN-T joiner (no durations); use TDTBeamSearch")
        self.predictor, self.joiner, self.cfg = predictor, joiner, cfg

    @torch.no_grad()
    def init_state(self, batch_size: int, device: torch.device | str = "cpu",
                   contexts: Sequence[ContextGraph | None] | None = None) -> RNNTBeamState:
        """`batch_size` empty streams; `contexts` gives each stream its hotword graph (or None)."""
        contexts = list(contexts) if contexts is not None else [None] * batch_size
        if len(contexts) != batch_size:
            raise DecodingError(f"got {len(contexts)} hotword graphs for {batch_size} streams")
        w = self.cfg.beam
        scores = torch.full((batch_size, w), float("-inf"), device=device)
        scores[:, 0] = 0.0
        start = torch.full((batch_size * w,), BLANK_ID, dtype=torch.long, device=device)
        out, pred = self.predictor.step(start, self.predictor.init_state(batch_size * w, device))
        pred_out = self.joiner.pred_proj(out).view(batch_size, w, -1)
        zeros = torch.zeros(batch_size, w, dtype=torch.long, device=device)
        return RNNTBeamState(scores, zeros, zeros.clone(), pred, pred_out,
                             torch.zeros(batch_size, dtype=torch.long, device=device),
                             [[Seq()] * w for _ in range(batch_size)], contexts)

    @torch.no_grad()
    def decode_chunk(self, x: Tensor, x_lens: Tensor | None, state: RNNTBeamState) -> RNNTBeamState:
        """Advance every stream by its `x_lens` (B,) valid frames of encoder output `x` (B, T', D)."""
        lens = check_chunk(x, x_lens, state.batch_size, self.joiner.cfg.enc_dim, "encoder output")
        n_frames = int(lens.max()) if state.batch_size else 0
        enc = self.joiner.enc_proj(x[:, :n_frames])
        beam = _Beam(state.scores, state.keys, state.nodes, state.pred, state.pred_out)
        steps = []
        for t in range(n_frames):
            beam, step = self._frame(enc[:, t], t < lens, state.offsets + t, beam, state.contexts)
            steps.append(step)
        return RNNTBeamState(beam.scores, beam.keys, beam.nodes, beam.pred, beam.pred_out,
                             state.offsets + lens, traceback(steps, state.seqs), list(state.contexts))

    def _frame(self, enc_t: Tensor, active: Tensor, frame: Tensor, beam: _Beam,
               contexts: list[ContextGraph | None]) -> tuple[_Beam, Step]:
        """One frame for every stream: enc_t (B, J) projected encoder frame, active (B,) bool."""
        n_b, n_w = beam.scores.shape
        n_v = self.joiner.vocab_size
        k = min(n_w, n_v)
        ranked, tokens, logp = token_topk(self.joiner.joint(enc_t[:, None, :], beam.pred_out),
                                           beam.nodes, contexts, k)
        cand = (beam.scores[:, :, None] + ranked).reshape(n_b, n_w * k)
        parent = torch.arange(n_w, device=cand.device).repeat_interleave(k).expand(n_b, -1)
        tok = tokens.reshape(n_b, -1)
        keys = extend_keys(beam.keys.gather(1, parent), tok, tok != BLANK_ID)
        scores, sel = merge_equal(cand, keys).topk(n_w, dim=1)
        keep = torch.arange(n_w, device=cand.device).expand(n_b, -1)
        on = active[:, None]
        parent = torch.where(on, parent.gather(1, sel), keep)
        scores = torch.where(on, scores, beam.scores)
        emit = on & (tok.gather(1, sel) != BLANK_ID) & (scores > float("-inf"))
        tok = torch.where(emit, tok.gather(1, sel), NO_TOKEN)
        keys = torch.where(emit, keys.gather(1, sel), beam.keys.gather(1, parent))
        pred, pred_out = step_predictor(self.predictor, self.joiner, beam.pred, beam.pred_out, parent,
                                        tok, emit)
        nodes = advance_nodes(contexts, beam.nodes.gather(1, parent), tok, n_v)
        conf = logp.reshape(n_b, -1).gather(1, sel).exp()
        step = Step(parent, tok, frame[:, None].expand(n_b, n_w), conf, torch.zeros_like(tok))
        return _Beam(scores, keys, nodes, pred, pred_out), step

    def nbest(self, state: RNNTBeamState) -> list[list[Hypothesis]]:
        """The live hypotheses of each stream, best first (unfinished hotword matches taken back)."""
        return ranked_hypotheses(state.scores, state.nodes, state.seqs, state.contexts, durations=False)

    def best(self, state: RNNTBeamState) -> list[Hypothesis]:
        """The best hypothesis of each stream."""
        return [n[0] for n in self.nbest(state)]

