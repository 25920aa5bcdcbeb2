"""GPU backend of the lattice losses in Triton (compiles to CUDA; runs on CPU with TRITON_INTERPRET=1).

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, also the symbols of the MI
lattice, V vocabulary incl. blank, K number of TDT durations). Same internal contract as
kernels._cpu (see its docstring): rnnt_loss_and_grad and tdt_loss_and_grad -> (losses (B,), grads
or None), and mutual_information(px, py, boundary) -> (mi (B,), px_grad, py_grad) like
kernels._cpu.mutual_information. Each loss is three launches over the big tensor's rows and the
small lattice: (a) one pass over the logits for the log-softmax denominators (online max/sum over
V) and the blank/label/duration gathers; (b) wavefront DPs, one program per utterance over
anti-diagonals t + u = n; (c) one fused pass writing d loss / d logits, optionally into the
logits' own buffer. Kernels use only tl APIs stable since Triton 3.0.
"""

from __future__ import annotations

from transduce.kernels._triton.mi import mutual_information
from transduce.kernels._triton.rnnt import rnnt_loss_and_grad
from transduce.kernels._triton.tdt import tdt_loss_and_grad

__all__ = ["mutual_information", "rnnt_loss_and_grad", "tdt_loss_and_grad"]
