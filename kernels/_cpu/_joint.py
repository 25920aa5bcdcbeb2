"""Torch helpers shared by the CPU RNN-T and TDT losses: chunked passes over the joint logits.

Shapes: see NOTATION.md (B, T' frames of the logits, U target length, V vocabulary incl. blank).
The big (B, T', U+1, V) tensor is visited one utterance and a few frames at a time so that
temporaries stay small; padding is never read.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

__all__ = ["frame_chunks", "exp_shifted", "gradient_buffer", "finish_gradient", "zero_padding", "work_logits"]

_CHUNK_ELEMS = 1 << 21


def frame_chunks(t_len: int, frame_elems: int) -> Iterator[tuple[int, int]]:
    """Frame ranges [t0, t1) covering [0, t_len) with about _CHUNK_ELEMS elements each."""
    step = max(1, _CHUNK_ELEMS // max(1, frame_elems))
    for t0 in range(0, t_len, step):
        yield t0, min(t_len, t0 + step)


def exp_shifted(x: torch.Tensor, out: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """out = exp(x - max) over the last dim (out may alias x); returns (log-sum-exp, sum, out).

    x (..., V) -> log-sum-exp (...,) and sum of out (...,), both in x's dtype.
    """
    m = x.amax(-1, keepdim=True)
    out = torch.sub(x, m) if out is None else torch.sub(x, m, out=out)
    out.exp_()
    total = out.sum(-1)
    return m.squeeze(-1) + total.log(), total, out


def work_logits(logits: torch.Tensor) -> torch.Tensor:
    """The logits in a dtype the CPU path computes in (float32/float64; half types are upcast)."""
    if logits.dtype in (torch.float32, torch.float64):
        return logits.detach()
    return logits.detach().float()


def gradient_buffer(logits: torch.Tensor, work: torch.Tensor, grad_in_logits: bool) -> torch.Tensor:
    """The tensor the gradient is computed in: the logits' own storage, an upcast copy we own, or new."""
    if work.dtype != logits.dtype:
        return work
    return logits.detach() if grad_in_logits else torch.empty_like(work)


def finish_gradient(logits: torch.Tensor, buf: torch.Tensor, grad_in_logits: bool) -> torch.Tensor:
    """The gradient in the logits' dtype (written back into the logits' storage if asked)."""
    if buf.dtype == logits.dtype:
        return buf
    if grad_in_logits:
        return logits.detach().copy_(buf)
    return buf.to(logits.dtype)


def zero_padding(buf: torch.Tensor, t_lens: list[int], u_lens: list[int]) -> None:
    """Zero every frame t >= T'_b and every label position u > U_b of buf (B, T', U+1, V)."""
    for b, (t_len, u_len) in enumerate(zip(t_lens, u_lens)):
        buf[b, t_len:].zero_()
        buf[b, :t_len, u_len + 1 :].zero_()
