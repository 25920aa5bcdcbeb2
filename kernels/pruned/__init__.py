"""Pruned RNN-T (k2 semantics): the MI recursion, simple/smoothed losses, prune ranges, pruned loss.

B: batch, S: symbols (U), T: frames, C: classes, R: s_range. A training step: the simple (or
smoothed) loss on lm (B, S+1, C) and am (B, T, C) with return_grad=True gives occupations;
get_prune_ranges turns them into ranges (B, T, R); do_rnnt_pruning gathers the joiner inputs; the
joiner's (B, T, R, C) logits go to rnnt_loss_pruned. boundary (B, 4) = (begin_symbol, begin_frame,
end_symbol, end_frame), default (0, 0, S, T). Paper: "Pruned RNN-T for fast, memory-efficient ASR
training" (Kuang et al., 2022). Backends: numba on CPU, Triton on CUDA, float64 reference on request.
"""

from transduce.kernels.pruned._losses import rnnt_loss_pruned, rnnt_loss_simple, rnnt_loss_smoothed
from transduce.kernels.pruned._mi import mutual_information_recursion
from transduce.kernels.pruned._ranges import do_rnnt_pruning, get_prune_ranges

__all__ = [
    "mutual_information_recursion",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
    "get_prune_ranges",
    "do_rnnt_pruning",
    "rnnt_loss_pruned",
]
