"""Worker: forward + backward of transduce's CPU losses on the inputs of a .pt file (see losses.py).

B: batch, T: frames, U: target length, V: vocabulary. Inputs: am (B, T, V), lm (B, U+1, V) and
am_tdt/lm_tdt with V+D classes; joint logits are the linear joiner am + lm, built before measuring.
"""

from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import loss_worker_main  # noqa: E402
from transduce.kernels import (  # noqa: E402
    do_rnnt_pruning,
    get_prune_ranges,
    rnnt_loss,
    rnnt_loss_pruned,
    rnnt_loss_smoothed,
    tdt_loss,
)


def _joint(am: torch.Tensor, lm: torch.Tensor) -> torch.Tensor:
    """Linear joiner: logits (B, T, U+1, V) = am (B, T, V)[:, :, None] + lm (B, U+1, V)[:, None]."""
    return (am[:, :, None, :] + lm[:, None, :, :]).requires_grad_()


def build_rnnt(d: dict):
    logits = _joint(d["am"], d["lm"])

    def call() -> float:
        loss = rnnt_loss(logits, d["targets"], d["logit_lengths"], d["target_lengths"], blank=0,
                         reduction="sum")
        loss.backward()
        return float(loss.detach())

    return call, lambda: setattr(logits, "grad", None)


def build_tdt(d: dict):
    logits = _joint(d["am_tdt"], d["lm_tdt"])

    def call() -> float:
        loss = tdt_loss(logits, d["targets"], d["logit_lengths"], d["target_lengths"], blank=0,
                        durations=list(d["durations"]), sigma=float(d["sigma"]), reduction="sum")
        loss.backward()
        return float(loss.detach())

    return call, lambda: setattr(logits, "grad", None)


def build_pruned(d: dict):
    """k2-style step: smoothed loss on am/lm -> prune ranges -> joiner on (B, T, R, V) -> pruned loss."""
    am, lm = d["am"].clone().requires_grad_(), d["lm"].clone().requires_grad_()
    targets, lengths = d["targets"], d["target_lengths"]
    zeros = torch.zeros_like(lengths)
    boundary = torch.stack([zeros, zeros, lengths, d["logit_lengths"]], dim=1)

    def call() -> float:
        simple, (px_grad, py_grad) = rnnt_loss_smoothed(
            lm, am, targets, 0, lm_only_scale=0.25, am_only_scale=0.0, boundary=boundary,
            reduction="sum", return_grad=True)
        ranges = get_prune_ranges(px_grad, py_grad, boundary, int(d["s_range"]))
        am_p, lm_p = do_rnnt_pruning(am, lm, ranges)
        pruned = rnnt_loss_pruned(am_p + lm_p, targets, ranges, 0, boundary=boundary, reduction="sum")
        loss = 0.5 * simple + pruned
        loss.backward()
        return float(pruned.detach())

    def reset() -> None:
        am.grad = lm.grad = None

    return call, reset


if __name__ == "__main__":
    loss_worker_main({"rnnt": build_rnnt, "tdt": build_tdt, "pruned": build_pruned})
