"""The float64 pure-torch oracle of every loss in `kernels`: readable loops, autograd gradients.

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V vocabulary incl. blank, K
number of TDT durations, S prune range). Same names and argument orders as the
public API (kernels.rnnt_loss, tdt_loss, ctc_loss and the pruned family); computations run in float64
and results come back in the input dtype on the input device. Tests compare every fast path against
these; `kernels.use_backend("reference")` routes the public API here. Never on the hot path.
"""

from transduce.kernels.reference._lattice import rnnt_lattice, tdt_lattice
from transduce.kernels.reference._losses import ctc_loss, rnnt_loss, tdt_loss
from transduce.kernels.reference._mi import mutual_information_recursion
from transduce.kernels.reference._pruned import (
    do_rnnt_pruning,
    get_prune_ranges,
    rnnt_loss_pruned,
    rnnt_loss_simple,
    rnnt_loss_smoothed,
)

__all__ = [
    "rnnt_loss",
    "tdt_loss",
    "ctc_loss",
    "rnnt_lattice",
    "tdt_lattice",
    "mutual_information_recursion",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
    "rnnt_loss_pruned",
    "get_prune_ranges",
    "do_rnnt_pruning",
]
