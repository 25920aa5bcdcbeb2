"""Learning-rate schedules as pure functions of the step, so a resumed run needs only the step count.

Step t counts optimizer updates from 1; w = warmup_steps, N = max_steps, floor = min_lr.
  noam          lr * d_model^-0.5 * min(t^-0.5, t * w^-1.5)   (NeMo NoamAnnealing; Vaswani et al. 2017)
  inverse_sqrt  lr * min(t / w, sqrt(w / t))                  (linear warm-up to lr, then 1/sqrt decay)
  cosine        lr * t / w during warm-up, then floor + (lr - floor) * (1 + cos(pi * p)) / 2,
                p = (t - w) / (N - w)                         (Loshchilov & Hutter 2017)
  constant      lr * min(1, t / w)
After the warm-up every schedule is kept at or above `min_lr`.
"""

from __future__ import annotations

import math

import torch
from transduce.asr.training.config import OptimSettings

__all__ = ["learning_rate", "set_learning_rate"]


def learning_rate(cfg: OptimSettings, step: int, max_steps: int, d_model: int) -> float:
    """The learning rate of update `step` (1-based) under `cfg`; see the module docstring."""
    t, w = max(int(step), 1), cfg.warmup_steps
    if cfg.schedule == "noam":
        return _floor(cfg, t, cfg.lr * d_model ** -0.5 * min(t ** -0.5, t * w ** -1.5))
    warm = t / w if w > 0 and t < w else 1.0
    if t < w:
        return cfg.lr * warm
    if cfg.schedule == "inverse_sqrt":
        return _floor(cfg, t, cfg.lr * math.sqrt(max(w, 1) / t) if w > 0 else cfg.lr / math.sqrt(t))
    if cfg.schedule == "cosine":
        progress = min(1.0, (t - w) / max(max_steps - w, 1))
        return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return cfg.lr


def _floor(cfg: OptimSettings, t: int, lr: float) -> float:
    """`lr`, kept at or above min_lr once the warm-up is over."""
    return max(lr, cfg.min_lr) if t >= cfg.warmup_steps else lr


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set `lr` on every parameter group of `optimizer`."""
    for group in optimizer.param_groups:
        group["lr"] = lr
