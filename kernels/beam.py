"""Beam-search kernel: log-softmax + top-k over the last dim of joiner (or CTC) logits, fused.

Shapes: see NOTATION.md (V vocabulary); k: entries kept per row (hypothesis).
Devices: CUDA (Triton, one pass over the logits; rows up to kernels._triton.beam_topk.MAX_V wide
and k <= 8, torch beyond), CPU (torch log_softmax + topk), any device with backend="reference"
(float64 torch, the oracle). Autograd: no (decoding only).

    values[r, j] = x[r, i_j] - logsumexp(x[r, :]),  i_0, i_1, ... the indices of the k largest x[r, :]

Ties are broken towards the lower index by the Triton path; torch.topk leaves their order open.
"""

from __future__ import annotations

import torch
from transduce.kernels._dispatch import resolve_backend

__all__ = ["MAX_K", "log_softmax_topk"]

MAX_K = 8  # largest k the Triton kernel takes (beam search keeps k = beam <= 8 per hypothesis)


def _check(logits: torch.Tensor, k: int) -> None:
    if logits.dim() < 1 or logits.shape[-1] == 0:
        raise ValueError(f"logits must be (..., V) with V > 0, got shape {tuple(logits.shape)}")
    if not logits.dtype.is_floating_point:
        raise ValueError(f"logits must be floating point, got {logits.dtype}")
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= logits.shape[-1]:
        raise ValueError(f"k must be an int in [1, V={logits.shape[-1]}], got {k!r}")


def _torch_path(logits: torch.Tensor, k: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    values, indices = torch.log_softmax(logits.to(dtype), dim=-1).topk(k, dim=-1)
    return values, indices


def log_softmax_topk(logits: torch.Tensor, k: int, *, backend: str | None = None,
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest log-probs (..., k) of logits (..., V), largest first, and their indices (..., k).

    Values are float32 (float64 for backend="reference"); indices are int64.
    """
    _check(logits, k)
    name = resolve_backend(logits.device, backend)
    if name == "reference":
        return _torch_path(logits, k, torch.float64)
    if name == "triton" and k <= MAX_K:
        from transduce.kernels._triton.beam_topk import MAX_V
        from transduce.kernels._triton.beam_topk import log_softmax_topk as triton_topk

        if logits.shape[-1] <= MAX_V:
            lead = logits.shape[:-1]
            values, indices = triton_topk(logits.detach().reshape(-1, logits.shape[-1]), k)
            return values.view(*lead, k), indices.view(*lead, k)
    return _torch_path(logits.detach(), k, torch.float32)
