"""Building the MI lattice (px, py) for the simple, smoothed and pruned RNN-T losses (torch ops).

Shapes: see NOTATION.md (B, U symbols, T' frames, V classes incl. the termination symbol, S prune
range; the code keeps k2's names S, T, C, R for U, T', V, S). px (B, U, T'+1) regular / (B, U, T')
modified, py (B, U+1, T'); px[b, u, t] is the log-prob of emitting symbols[b, u] at node (u, t),
py[b, u, t] that of the termination symbol.
"""

from __future__ import annotations

import torch

__all__ = ["simple_logprobs", "smoothed_logprobs", "pruned_logprobs", "finish_px"]


def _joint_normalizers(lm: torch.Tensor, am: torch.Tensor) -> torch.Tensor:
    """log sum_c exp(lm[b,u,c] + am[b,t,c]) as (B, U+1, T'), via one matmul of exp-shifted factors."""
    lm_max = lm.detach().amax(dim=2, keepdim=True)  # (B, U+1, 1)
    am_max = am.detach().amax(dim=2, keepdim=True)  # (B, T', 1)
    prod = torch.matmul((lm - lm_max).exp(), (am - am_max).exp().transpose(1, 2))  # (B, U+1, T')
    return (prod + torch.finfo(prod.dtype).tiny).log() + lm_max + am_max.transpose(1, 2)


def _symbol_scores(
    lm: torch.Tensor, am: torch.Tensor, symbols: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unnormalised symbol scores: am part (B, U, T') and lm part (B, U, 1)."""
    B, T, _ = am.shape
    S = symbols.shape[1]
    px_am = torch.gather(am, 2, symbols.unsqueeze(1).expand(B, T, S)).transpose(1, 2)  # (B, U, T')
    px_lm = torch.gather(lm[:, :S], 2, symbols.unsqueeze(2))  # (B, U, 1)
    return px_am, px_lm


def finish_px(px: torch.Tensor, boundary: torch.Tensor, modified: bool, delay_penalty: float) -> torch.Tensor:
    """(B, U, T') symbol log-probs -> the MI px: regular gets a -inf column T' and -inf at column t_end
    (no symbol on the one-past-last frame); then the delay penalty (T'_b - 1)/2 - t, scaled, is added."""
    B, S, T = px.shape
    if not modified:
        px = torch.cat([px, px.new_full((B, S, 1), float("-inf"))], dim=2)
        t_end = boundary[:, 3].reshape(B, 1, 1).expand(B, S, 1)
        px = px.scatter(2, t_end, float("-inf"))
    if delay_penalty != 0.0:
        t = torch.arange(px.shape[2], device=px.device, dtype=px.dtype)
        centre = (boundary[:, 3].to(px.dtype) - 1) / 2
        px = px + delay_penalty * (centre.reshape(B, 1, 1) - t.reshape(1, 1, -1))
    return px


def simple_logprobs(
    lm: torch.Tensor, am: torch.Tensor, symbols: torch.Tensor, termination_symbol: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(px (B, U, T'), py (B, U+1, T')) of the additive joiner log_softmax_c(lm[u] + am[t])."""
    norm = _joint_normalizers(lm, am)  # (B, U+1, T')
    S = symbols.shape[1]
    px_am, px_lm = _symbol_scores(lm, am, symbols)
    px = px_am + px_lm - norm[:, :S]
    py = am[:, :, termination_symbol].unsqueeze(1) + lm[:, :, termination_symbol].unsqueeze(2) - norm
    return px, py


def smoothed_logprobs(
    lm: torch.Tensor,
    am: torch.Tensor,
    symbols: torch.Tensor,
    termination_symbol: int,
    lm_only_scale: float,
    am_only_scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-linear mix of the joint, lm-only and am-only (with a batch-averaged unigram lm) lattices.

    weights: 1 - lm_only_scale - am_only_scale, lm_only_scale, am_only_scale (k2's smoothed loss).
    """
    B, T, C = am.shape
    S = symbols.shape[1]
    px, py = simple_logprobs(lm, am, symbols, termination_symbol)
    lm_only = lm.log_softmax(dim=2)  # (B, U+1, V)
    unigram = (lm_only.exp().mean(dim=(0, 1)) + torch.finfo(lm.dtype).tiny).log()  # (V,)
    am_only_norm = torch.logsumexp(am + unigram, dim=2)  # (B, T')
    px_am, _ = _symbol_scores(lm, am, symbols)
    px_amonly = px_am + unigram[symbols].unsqueeze(2) - am_only_norm.unsqueeze(1)  # (B, U, T')
    px_lmonly = torch.gather(lm_only[:, :S], 2, symbols.unsqueeze(2))  # (B, U, 1)
    py_amonly = (am[:, :, termination_symbol] + unigram[termination_symbol] - am_only_norm).unsqueeze(1)
    py_lmonly = lm_only[:, :, termination_symbol].unsqueeze(2)  # (B, U+1, 1)
    # exact zero weights would turn -inf * 0 into nan; k2 uses a tiny weight instead
    w_lm = lm_only_scale if lm_only_scale != 0.0 else 1e-20
    w_am = am_only_scale if am_only_scale != 0.0 else 1e-20
    w_joint = 1.0 - lm_only_scale - am_only_scale
    px = w_joint * px + w_lm * px_lmonly + w_am * px_amonly
    py = w_joint * py + w_lm * py_lmonly + w_am * py_amonly
    return px, py


def pruned_logprobs(
    logits: torch.Tensor, symbols: torch.Tensor, ranges: torch.Tensor, termination_symbol: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(px (B, U, T'), py (B, U+1, T')) from pruned joiner logits (B, T', S, V); -inf outside the ranges."""
    B, T, R, C = logits.shape
    S = symbols.shape[1]
    logp = logits.log_softmax(dim=3)  # (B, T', S, V)
    padded = torch.cat([symbols, symbols.new_full((B, 1), termination_symbol)], dim=1)  # (B, U+1)
    kept = torch.gather(padded.unsqueeze(1).expand(B, T, S + 1), 2, ranges)  # (B, T', S)
    px_kept = torch.gather(logp, 3, kept.unsqueeze(3)).squeeze(3)  # (B, T', S)
    py_kept = logp[..., termination_symbol]  # (B, T', S)
    grid = logits.new_full((B, T, S + 1), float("-inf"))
    px = grid.scatter(2, ranges, px_kept)[:, :, :S].transpose(1, 2)  # (B, U, T')
    py = grid.scatter(2, ranges, py_kept).transpose(1, 2)  # (B, U+1, T')
    return px, py
