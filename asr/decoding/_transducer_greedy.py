"""The engine shared by the greedy RNN-T and TDT decoders: state set-up, loop choice, bookkeeping.

Shapes: see NOTATION.md (B streams, T' encoder frames of the chunk, D encoder width, J joiner width).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor
from transduce.asr.decoding._cuda_graphs import GraphCaptureError, GraphLoopRunner
from transduce.asr.decoding._frame_loop import frame_loop
from transduce.asr.decoding._label_loop import ChunkOutput, LoopBuffers, drive
from transduce.asr.decoding.base import Decoder, DecodingError, check_chunk
from transduce.asr.decoding.results import Hypothesis
from transduce.asr.decoding.transducer_state import TransducerGreedyConfig, TransducerGreedyState
from transduce.asr.heads.joiner import Joiner
from transduce.asr.heads.predictor import Predictor

__all__: list[str] = []


class GreedyCore:
    """Greedy transducer decoding with `predictor` and `joiner` under `cfg` (see TransducerGreedyConfig)."""

    def __init__(self, predictor: Predictor, joiner: Joiner, cfg: TransducerGreedyConfig) -> None:
        if predictor.out_dim != joiner.cfg.pred_dim:
            raise DecodingError(
                f"predictor width {predictor.out_dim} != joiner pred_dim {joiner.cfg.pred_dim}")
        if predictor.cfg.vocab_size != joiner.vocab_size:
            raise DecodingError(
                f"predictor vocab_size {predictor.cfg.vocab_size} != joiner vocab_size {joiner.vocab_size}")
        self.predictor, self.joiner, self.cfg = predictor, joiner, cfg
        self.tdt = bool(joiner.durations)
        self._graphs: GraphLoopRunner | None = None
        self._graphs_failed = False

    @torch.no_grad()
    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> TransducerGreedyState:
        """Predictor after the start symbol (blank), offset and skip 0, empty hypotheses."""
        pred = self.predictor.init_state(batch_size, device)
        out, pred = self.predictor.step(torch.zeros(batch_size, dtype=torch.long, device=device), pred)
        zeros = torch.zeros(batch_size, dtype=torch.long, device=device)
        return TransducerGreedyState(pred, self.joiner.pred_proj(out), zeros, zeros.clone(),
                                     [Hypothesis() for _ in range(batch_size)])

    @torch.no_grad()
    def decode_chunk(self, x: Tensor, x_lens: Tensor | None,
                     state: TransducerGreedyState) -> TransducerGreedyState:
        """Decode encoder output `x` (B, T', D) with valid lengths `x_lens` (B,); the new state."""
        lens = check_chunk(x, x_lens, state.batch_size, self.joiner.cfg.enc_dim, what="encoder output")
        if state.offset.device != x.device:
            raise DecodingError(f"encoder output is on {x.device} but the decoder state is on "
                                f"{state.offset.device}")
        if x.shape[1] == 0:
            return state
        enc = self.joiner.enc_proj(x.to(self.joiner.out.weight.dtype))
        return _finish(state, lens, self._loop(enc, lens, state), self.tdt)

    def _loop(self, enc: Tensor, lens: Tensor, state: TransducerGreedyState) -> ChunkOutput:
        cfg = self.cfg
        if cfg.frame_looping:
            return frame_loop(self.predictor, self.joiner, enc, lens, state, cfg.max_symbols_per_frame)
        if enc.is_cuda and cfg.cuda_graphs and not self._graphs_failed and torch.cuda.is_available():
            if self._graphs is None:
                self._graphs = GraphLoopRunner(self.predictor, self.joiner, cfg.max_symbols_per_frame,
                                               cfg.window)
            try:
                return self._graphs.run(enc, lens, state)
            except GraphCaptureError as e:  # e.g. a predictor whose ops cannot be captured
                warnings.warn(f"CUDA graph capture failed, decoding eagerly from now on: {e}", RuntimeWarning,
                              stacklevel=3)
                self._graphs_failed = True
        subset = cfg.rows == "subset" or (cfg.rows == "auto" and not enc.is_cuda)
        loop = LoopBuffers(self.predictor, self.joiner, enc.shape[0], enc.shape[1], capacity=enc.shape[1] + 1,
                           max_symbols=cfg.max_symbols_per_frame, window=cfg.window, device=enc.device,
                           subset=subset)
        loop.load(enc, lens, state)

        def emit_find() -> None:
            loop.emit_step()
            loop.find_step()

        return loop.output(drive(loop, loop.find_step, emit_find, fixed_capacity=False))


def _finish(state: TransducerGreedyState, lens: Tensor, out: ChunkOutput, tdt: bool) -> TransducerGreedyState:
    """The state after a chunk: hypotheses extended by the emitted records, offset and skip moved."""
    tok, frame, conf, dur, emitted = (r.t().tolist() for r in (out.tok, out.frame, out.conf, out.dur,
                                                               out.emitted))
    score = out.score.tolist()
    hyps = []
    for b, hyp in enumerate(state.hyps):
        keep = [i for i, e in enumerate(emitted[b]) if e]
        hyps.append(hyp.extend([tok[b][i] for i in keep], [frame[b][i] for i in keep],
                               [conf[b][i] for i in keep], score[b],
                               [dur[b][i] for i in keep] if tdt else ()))
    skip = (out.t_end - lens).clamp(min=0)
    return TransducerGreedyState(out.pred, out.dec, state.offset + lens, skip, hyps)


class GreedyTransducerDecoder(Decoder[TransducerGreedyState]):
    """The Decoder interface over a GreedyCore; RNNTGreedyDecoder and TDTGreedyDecoder set `_core`."""

    _core: GreedyCore

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> TransducerGreedyState:
        """Predictor after the start symbol, nothing decoded, no frames to skip."""
        return self._core.init_state(batch_size, device)

    def decode_chunk(self, x: Tensor, x_lens: Tensor | None,
                     state: TransducerGreedyState) -> TransducerGreedyState:
        """Decode encoder output `x` (B, T', D), `x_lens` (B,) valid frames; the new state."""
        return self._core.decode_chunk(x, x_lens, state)

    def best(self, state: TransducerGreedyState) -> list[Hypothesis]:
        """The greedy hypothesis so far of each stream."""
        return list(state.hyps)
