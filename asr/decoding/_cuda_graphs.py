"""CUDA-graph driving of the label loop: its two steps captured once per (batch, padded frames).

Shapes: see NOTATION.md (B streams, T' encoder frames, padded up to a multiple of `_FRAME_BUCKET`
so that chunks and utterances of similar length share a graph).

Two graphs are captured on fixed `LoopBuffers` (full-batch `torch.where` mode, no host syncs):
`find` (one find step) and `emit_find` (an emit step then a find step). The host replays them and
reads the loop's two flags after each replay, as the eager driver does, so the graph path runs the
same code as the eager masked path and gives the same results. Needs CUDA; callers check
`torch.cuda.is_available()` and the device first.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor
from transduce.asr.decoding._label_loop import ChunkOutput, LoopBuffers, drive
from transduce.asr.decoding.transducer_state import TransducerGreedyState
from transduce.asr.heads.joiner import Joiner
from transduce.asr.heads.predictor import Predictor

__all__: list[str] = []

_FRAME_BUCKET = 64
_MAX_GRAPHS = 8


class GraphCaptureError(RuntimeError):
    """The label loop's steps could not be captured as CUDA graphs (the message carries the cause)."""


class _CapturedLoop:
    """One `LoopBuffers` and its captured `find` and `emit_find` graphs."""

    def __init__(self, loop: LoopBuffers) -> None:
        self.loop = loop
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up (cuBLAS/cuDNN workspaces) outside the capture
            for _ in range(2):
                loop.find_step()
                loop.emit_step()
        torch.cuda.current_stream().wait_stream(side)
        self.find = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.find):
            loop.find_step()
        self.emit_find = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.emit_find):
            loop.emit_step()
            loop.find_step()


class GraphLoopRunner:
    """Label loops on CUDA run as graph replays; graphs are cached per (B, padded T')."""

    def __init__(self, predictor: Predictor, joiner: Joiner, max_symbols: int, window: int) -> None:
        self.predictor, self.joiner, self.max_symbols, self.window = predictor, joiner, max_symbols, window
        self._cache: OrderedDict[tuple, _CapturedLoop] = OrderedDict()

    def run(self, enc: Tensor, lens: Tensor, state: TransducerGreedyState) -> ChunkOutput:
        """The label loop over projected frames `enc` (B, T', J) with lengths `lens` (B,), on CUDA."""
        with torch.cuda.device(enc.device):
            captured = self._get(enc.shape[0], enc.shape[1], enc.device)
            loop = captured.loop
            loop.load(enc, lens, state)
            steps = drive(loop, captured.find.replay, captured.emit_find.replay, fixed_capacity=True)
            return loop.output(steps)

    def _get(self, batch: int, frames: int, device: torch.device) -> _CapturedLoop:
        padded = -(-max(frames, 1) // _FRAME_BUCKET) * _FRAME_BUCKET
        key = (batch, padded, device, self.joiner.out.weight.dtype)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        # Each emit step advances some stream by a frame or adds a label to its frame: at most
        # max_symbols per frame, so padded * max_symbols rows always suffice.
        loop = LoopBuffers(self.predictor, self.joiner, batch, padded, capacity=padded * self.max_symbols,
                           max_symbols=self.max_symbols, window=self.window, device=device, subset=False)
        try:
            self._cache[key] = _CapturedLoop(loop)
        except RuntimeError as e:
            raise GraphCaptureError(str(e)) from e
        if len(self._cache) > _MAX_GRAPHS:
            self._cache.popitem(last=False)
        return self._cache[key]
