"""Classic frame-looping batched greedy RNN-T: the oracle and speed baseline for label looping.

Shapes: see NOTATION.md (B streams, T' encoder frames of the chunk, J joiner width).

For each frame, every stream still inside its length joins the frame with its predictor output;
streams whose argmax is a label emit it and step the predictor (the whole batch is stepped, the
non-emitting streams keep their state via `PredictorState.where`), and join the same frame again,
up to `max_symbols` labels per frame; a blank ends the stream's frame.
"""

from __future__ import annotations

import torch
from torch import Tensor
from transduce.asr.decoding._label_loop import ChunkOutput
from transduce.asr.decoding.transducer_state import TransducerGreedyState
from transduce.asr.heads.joiner import Joiner
from transduce.asr.heads.predictor import Predictor

__all__: list[str] = []


def frame_loop(predictor: Predictor, joiner: Joiner, enc: Tensor, lens: Tensor, state: TransducerGreedyState,
               max_symbols: int) -> ChunkOutput:
    """Greedy RNN-T over projected encoder frames `enc` (B, T', J) with lengths `lens` (B,)."""
    dec, pred = state.dec, state.pred
    score = torch.zeros(enc.shape[0], dtype=torch.float64, device=enc.device)
    rows: list[tuple[Tensor, ...]] = []
    for f in range(int(lens.max()) if lens.numel() else 0):
        need = f < lens
        for _ in range(max_symbols):
            tok_lp, tok = torch.log_softmax(joiner.joint(enc[:, f], dec).float(), dim=-1).max(dim=-1)
            score += torch.where(need, tok_lp.double(), 0.0)
            need = need & (tok != 0)
            if not bool(need.any()):
                break
            rows.append((tok, state.offset + f, tok_lp.exp(), torch.zeros_like(tok), need))
            out, new = predictor.step(tok, pred)
            dec = torch.where(need[:, None], joiner.pred_proj(out), dec)
            pred = new.where(need, pred)
    recs = [torch.stack(col) if rows else torch.empty(0, enc.shape[0], dtype=dt, device=enc.device)
            for col, dt in zip(zip(*rows) if rows else [()] * 5,
                               (torch.long, torch.long, torch.float32, torch.long, torch.bool))]
    return ChunkOutput(lens.clone(), score, dec, pred, *recs)
