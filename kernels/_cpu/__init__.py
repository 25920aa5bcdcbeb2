"""CPU backend of the RNN-T and TDT losses: torch for the log-softmax over V, numba for the DPs.

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V vocabulary incl. blank,
K number of TDT durations). Internal backend contract (kernels._cpu and kernels._triton both
export these two functions; the public API in kernels.rnnt / kernels.tdt validates inputs and
calls them):

  rnnt_loss_and_grad(logits (B, T', U+1, V), targets (B, U), logit_lengths (B,), target_lengths (B,),
                     blank: int, rnnt_type: str, fastemit_lambda: float, delay_penalty: float,
                     clamp: float, need_grad: bool, grad_in_logits: bool)
      -> (losses (B,), grads (B, T', U+1, V) or None)
  tdt_loss_and_grad(logits (B, T', U+1, V+K), targets, logit_lengths, target_lengths, blank: int,
                    durations: list[int], sigma: float, need_grad: bool, grad_in_logits: bool)
      -> (losses (B,), grads (B, T', U+1, V+K) or None)

losses are per utterance (-log-likelihood, with the delay penalty in the lattice). grads =
d loss_b / d logits per utterance: unreduced, clamped (RNN-T, clamp > 0), FastEmit-scaled on
label arcs, exactly 0 in padding (t >= T'_b or u > U_b); None unless need_grad. With
grad_in_logits=True the gradient is written into the logits' own storage (through
logits.detach(), so autograd's version counter still catches misuse) and that same tensor is
returned: no second (B, T', U+1, V) tensor is allocated. The numba DPs are imported on first call.
"""

from __future__ import annotations

from transduce.kernels._cpu.rnnt import rnnt_loss_and_grad
from transduce.kernels._cpu.tdt import tdt_loss_and_grad

__all__ = ["rnnt_loss_and_grad", "tdt_loss_and_grad"]
