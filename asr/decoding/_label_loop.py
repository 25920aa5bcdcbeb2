"""The batched label loop of greedy RNN-T/TDT decoding, as in-place steps on fixed buffers.

Shapes: see NOTATION.md (B streams, T' encoder frames of the chunk, J joiner width); the records
hold one row per emit step, (steps, B).

Label looping (NeMo's batched greedy; Xu et al. 2023 for TDT frame skipping): each stream has a
frame index t. A *find* step joins, for every stream still searching, frame t with the current
predictor output and takes the argmax token (and, for TDT, the argmax duration, separately);
streams whose argmax is blank advance t by the duration (at least 1; RNN-T: 1) and search again,
without touching the predictor. Since the predictor output is fixed during the search, a find
step joins a window of w = `window` frames t .. t+w-1 at once and follows the blank jumps inside
it by pointer doubling (w = 1 is the one-frame step; results do not depend on w). When no stream is
searching, an *emit* step records the label of every active stream, advances t by the label's
duration (RNN-T: 0), forces one frame forward after `max_symbols` labels on the same frame, and
steps the predictor of the emitting streams only.
RNN-T is TDT with every duration 0 (blanks still advance one frame).

Every step reads and writes only the tensors held here and never waits on the host, so the steps
can be captured in CUDA graphs (`_cuda_graphs`); the driver reads two flags per step. In `subset`
mode (CPU) a step computes only the rows that take part (an index per step, which syncs); otherwise
it computes every row and keeps the taking-part ones with `torch.where` (GPU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from transduce.asr.decoding.transducer_state import TransducerGreedyState
from transduce.asr.heads.joiner import Joiner
from transduce.asr.heads.predictor import Predictor, PredictorState

__all__: list[str] = []


@dataclass(frozen=True)
class ChunkOutput:
    """What a loop leaves after a chunk: per-stream t_end (B,), score (B,) float64, the predictor
    (`dec` (B, J), `pred`), and records (steps, B) of each emit step: token, frame, conf, dur, emitted."""

    t_end: Tensor
    score: Tensor
    dec: Tensor
    pred: PredictorState
    tok: Tensor
    frame: Tensor
    conf: Tensor
    dur: Tensor
    emitted: Tensor


class LoopBuffers:
    """Fixed-size buffers of one label loop over (B, frames) and its two steps (see the module docstring)."""

    def __init__(self, predictor: Predictor, joiner: Joiner, batch: int, frames: int, *, capacity: int,
                 max_symbols: int, window: int, device: torch.device, subset: bool) -> None:
        self.predictor, self.joiner = predictor, joiner
        self.max_symbols, self.subset, self.frames, self.window = max_symbols, subset, frames, window
        self.blank = 0
        self.tdt = bool(joiner.durations)
        dtype = joiner.out.weight.dtype
        long = dict(dtype=torch.long, device=device)
        self.enc = torch.zeros(batch, frames, joiner.cfg.joint_dim, dtype=dtype, device=device)
        self.dec = torch.zeros(batch, joiner.cfg.joint_dim, dtype=dtype, device=device)
        init = predictor.init_state(batch, device)
        self.history, self.h, self.c = init.history.clone(), init.h.clone(), init.c.clone()
        self.lens, self.t, self.offset, self.symbols, self.tok, self.dur = (
            torch.zeros(batch, **long) for _ in range(6))
        self.tok_lp = torch.zeros(batch, device=device)
        self.dur_lp = torch.zeros(batch, device=device)
        self.score = torch.zeros(batch, dtype=torch.float64, device=device)
        self.m = torch.zeros(batch, dtype=torch.bool, device=device)
        self.flags = torch.zeros(2, dtype=torch.bool, device=device)
        self.k = torch.zeros(1, **long)
        self.rows = torch.arange(batch, **long)
        self.dvals = torch.tensor(joiner.durations or (0,), **long)
        self.pos = torch.arange(window, **long)
        self.tail = torch.arange(window, window + max(max(joiner.durations or (1,)), 1), **long)
        self.doublings = max(window - 1, 0).bit_length()  # 2**doublings >= window jumps
        self.rec = _records(capacity, batch, device)

    def load(self, enc: Tensor, lens: Tensor, state: TransducerGreedyState) -> None:
        """Copy in a chunk's projected encoder output `enc` (B, T', J), T' <= `frames`, and the state."""
        n = enc.shape[1]
        self.enc[:, :n].copy_(enc)
        self.enc[:, n:].zero_()
        for dst, src in ((self.lens, lens), (self.t, state.skip), (self.offset, state.offset),
                         (self.dec, state.dec), (self.history, state.pred.history), (self.h, state.pred.h),
                         (self.c, state.pred.c)):
            dst.copy_(src)
        for buf in (self.symbols, self.score, self.k):
            buf.zero_()
        self.m.copy_(self.t < self.lens)

    def find_step(self) -> None:
        """Searching streams (`m`) look for their next label over the next `window` frames at once."""
        m = self.m
        idx = m.nonzero()[:, 0] if self.subset else self.rows
        t, lens = self.t[idx], self.lens[idx]
        adv, blank_lp, found, picks = self._search(idx, t, lens)
        for buf, val in zip((self.tok, self.tok_lp, self.dur, self.dur_lp), picks):
            self._put(buf, idx, val)
        self._put(self.score, idx, self.score[idx] + blank_lp)
        self._put(self.symbols, idx, torch.where(adv > 0, 0, self.symbols[idx]))
        self._put(self.t, idx, t + adv)
        self._put(self.m, idx, ~found & (t + adv < lens))
        self.flags.copy_(torch.stack([self.m.any(), (self.t < self.lens).any()]))

    def emit_step(self) -> None:
        """Every active stream (all hold a label now) emits it, advances and steps its predictor."""
        emit = self.t < self.lens
        for buf, val in zip(self.rec, (self.tok, self.offset + self.t, self.tok_lp.exp(), self.dur, emit)):
            buf.index_copy_(0, self.k, val.unsqueeze(0))
        self.k.add_(1)
        self.score.add_(torch.where(emit, (self.tok_lp + self.dur_lp).double(), 0.0))
        stay = emit & (self.dur == 0)
        self.symbols.copy_(torch.where(stay, self.symbols + 1, torch.where(emit, 0, self.symbols)))
        force = stay & (self.symbols >= self.max_symbols)
        self.t.add_(torch.where(emit, self.dur, 0) + force.long())
        self.symbols.masked_fill_(force, 0)
        self._step_predictor(emit)
        self.m.copy_(self.t < self.lens)

    def grow(self, steps: int) -> None:
        """Make room for `steps` emit records (eager driving only; graphs size them up front)."""
        if steps > self.rec[0].shape[0]:
            self.rec = tuple(torch.cat([r, torch.empty_like(r)]) for r in self.rec)

    def output(self, steps: int) -> ChunkOutput:
        """Copies of the loop's results after `steps` emit steps."""
        pred = PredictorState(self.history.clone(), self.h.clone(), self.c.clone())
        return ChunkOutput(self.t.clone(), self.score.clone(), self.dec.clone(), pred,
                           *(r[:steps].clone() for r in self.rec))

    def _search(self, idx: Tensor, t: Tensor, lens: Tensor) -> tuple[Tensor, Tensor, Tensor, tuple]:
        """Walk rows `idx` from frames `t` (n,) over blanks within the window.

        Joins frames t .. t+w-1 (w = `window`) with each row's (fixed) predictor output, takes the
        argmax token and duration per frame, and follows blank jumps (max(duration, 1) frames) by
        pointer doubling until a label, the stream's end `lens` or the window's end. Returns the frames
        advanced (n,), the blank log-probs summed on the way (n,) float64, whether a label was
        found (n,), and (token, log-prob, duration, log-prob) at the stop (n,) each.
        """
        w = self.window
        frames = t[:, None] + self.pos                                          # (n, w)
        valid = frames < lens[:, None]
        enc = self.enc[idx[:, None], frames.clamp(max=self.frames - 1)]         # (n, w, J)
        tok_logits, dur_logits = self.joiner.split(self.joiner.joint(enc, self.dec[idx][:, None]))
        tok_lp, tok = torch.log_softmax(tok_logits.float(), dim=-1).max(dim=-1)
        if self.tdt:
            dur_lp, dur_idx = torch.log_softmax(dur_logits.float(), dim=-1).max(dim=-1)
            dur = self.dvals[dur_idx]
        else:
            dur, dur_lp = torch.zeros_like(tok), torch.zeros_like(tok_lp)
        blank = valid & (tok == self.blank)
        # positions 0..w-1 are window frames, w.. are exits past the window; stops point to themselves
        step = torch.where(blank, dur.clamp(min=1), 0)
        nxt = torch.cat([self.pos + step, self.tail.expand(len(idx), -1)], 1)
        acc = torch.cat([torch.where(blank, (tok_lp + dur_lp).double(), 0.0),
                         torch.zeros(len(idx), self.tail.shape[0], dtype=torch.float64, device=t.device)], 1)
        for _ in range(self.doublings):
            acc = acc + acc.gather(1, nxt)
            nxt = nxt.gather(1, nxt)
        adv = nxt[:, 0]
        at = adv.clamp(max=w - 1)[:, None]
        found = (adv < w) & valid.gather(1, at)[:, 0]
        picks = tuple(x.gather(1, at)[:, 0] for x in (tok, tok_lp, dur, dur_lp))
        return adv, acc[:, 0], found, picks

    def _put(self, buf: Tensor, idx: Tensor, val: Tensor) -> None:
        """buf[idx] = val for the searching rows (subset mode: `idx` are they; else all rows, masked by m)."""
        if self.subset:
            buf.index_copy_(0, idx, val)
        else:
            buf.copy_(torch.where(self.m, val, buf))

    def _step_predictor(self, emit: Tensor) -> None:
        """Feed each emitting stream's label to its predictor; the others keep theirs."""
        if self.subset:
            idx = emit.nonzero()[:, 0]
            state = PredictorState(self.history[idx], self.h[idx], self.c[idx])
            out, new = self.predictor.step(self.tok[idx], state)
            self.dec.index_copy_(0, idx, self.joiner.pred_proj(out))
            for buf, val in ((self.history, new.history), (self.h, new.h), (self.c, new.c)):
                buf.index_copy_(0, idx, val)
            return
        old = PredictorState(self.history, self.h, self.c)
        out, new = self.predictor.step(self.tok, old)
        self.dec.copy_(torch.where(emit[:, None], self.joiner.pred_proj(out), self.dec))
        new = new.where(emit, old)
        for buf, val in ((self.history, new.history), (self.h, new.h), (self.c, new.c)):
            buf.copy_(val)


def drive(loop: LoopBuffers, find: Callable[[], None], emit_find: Callable[[], None],
          fixed_capacity: bool) -> int:
    """Run the loop to the end of the chunk: find until nobody searches, emit, repeat; emit steps.

    `find` runs one find step, `emit_find` an emit step then a find step (eagerly or as graph
    replays); the only host sync is reading the two flags after each.
    """
    find()
    steps = 0
    while True:
        searching, active = loop.flags.tolist()
        if searching:
            find()
        elif active:
            if fixed_capacity and steps >= loop.rec[0].shape[0]:
                raise RuntimeError("label loop ran out of record rows (bug: capacity bound violated)")
            if not fixed_capacity:
                loop.grow(steps + 1)
            emit_find()
            steps += 1
        else:
            return steps


def _records(capacity: int, batch: int, device: torch.device) -> tuple[Tensor, ...]:
    """Empty (capacity, B) records: token, global frame, confidence, duration, emitted."""
    long = dict(dtype=torch.long, device=device)
    return (torch.empty(capacity, batch, **long), torch.empty(capacity, batch, **long),
            torch.empty(capacity, batch, device=device), torch.empty(capacity, batch, **long),
            torch.empty(capacity, batch, dtype=torch.bool, device=device))
