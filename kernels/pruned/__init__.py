"""Pruned RNN-T (k2 semantics): the MI recursion, simple/smoothed losses, prune ranges, pruned loss.

Shapes: see NOTATION.md (B, U symbols, T' frames, V classes, S prune range; k2 writes the symbols
S and the classes C, and the code here keeps k2's names). A training step: the simple (or
smoothed) loss on lm (B, U+1, V) and am (B, T', V) with return_grad=True gives occupations;
get_prune_ranges turns them into ranges (B, T', S); do_rnnt_pruning gathers the joiner inputs; the
joiner's (B, T', S, V) logits go to rnnt_loss_pruned. boundary (B, 4) = (begin_symbol, begin_frame,
end_symbol, end_frame), default (0, 0, U, T'). Paper: "Pruned RNN-T for fast, memory-efficient ASR
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
