"""Peer worker (NeMo's venv; imports only torch, NeMo and the torch-only benchmarks/_common.py).

B: batch, T: frames, U: target length, V: vocabulary. Same inputs and joiner as _ours_losses.py:
logits (B, T, U+1, V) = am[:, :, None] + lm[:, None]. Peers: NeMo's RNNTLossNumba (on CPU it takes
log_softmax itself, then runs warp-transducer's loops) and TDTLossPytorch (pure PyTorch autograd).
"""

from __future__ import annotations

import torch
from _common import loss_worker_main


def _joint(am: torch.Tensor, lm: torch.Tensor) -> torch.Tensor:
    return (am[:, :, None, :] + lm[:, None, :, :]).requires_grad_()


def build_rnnt(d: dict):
    from nemo.collections.asr.parts.numba.rnnt_loss import RNNTLossNumba

    loss_fn = RNNTLossNumba(blank=0, reduction="sum")
    logits = _joint(d["am"], d["lm"])
    args = (d["targets"].long(), d["logit_lengths"].long(), d["target_lengths"].long())

    def call() -> float:
        loss = loss_fn(logits, *args)
        loss.backward()
        return float(loss.detach().sum())

    return call, lambda: setattr(logits, "grad", None)


def build_tdt(d: dict):
    # TDTLossPytorch moves its alpha table with .cuda(); on CPU that must be the identity.
    torch.Tensor.cuda = lambda self, *a, **k: self
    from nemo.collections.asr.losses.rnnt_pytorch import TDTLossPytorch

    loss_fn = TDTLossPytorch(blank=0, durations=list(d["durations"]), reduction="sum",
                             sigma=float(d["sigma"]))
    logits = _joint(d["am_tdt"], d["lm_tdt"])
    args = (d["targets"].long(), d["logit_lengths"].long(), d["target_lengths"].long())

    def call() -> float:
        loss = loss_fn(logits, *args)
        loss.backward()
        return float(loss.detach())

    return call, lambda: setattr(logits, "grad", None)


if __name__ == "__main__":
    loss_worker_main({"rnnt": build_rnnt, "tdt": build_tdt})
