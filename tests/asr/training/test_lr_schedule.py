"""Learning-rate schedules: the shapes their formulas promise, checked at points worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch
from transduce.asr.training.config import OptimSettings
from transduce.asr.training.schedule import learning_rate, set_learning_rate


def _lr(schedule, step, max_steps=1000, d_model=256, **kw):
    cfg = OptimSettings(schedule=schedule, **{"lr": 1e-3, "warmup_steps": 100, "min_lr": 0.0, **kw})
    return learning_rate(cfg, step, max_steps, d_model)


def test_noam_is_nemo_noam_annealing():
    # NeMo: lr * d^-0.5 * min(t^-0.5, t * w^-1.5); with lr 5, d 256, w 100 the peak at t = w is
    # 5 / 16 / 10 = 0.03125, the warm-up is linear and the decay 1/sqrt(t)
    lr = lambda t: _lr("noam", t, lr=5.0, d_model=256)
    assert lr(100) == pytest.approx(0.03125)
    assert lr(50) == pytest.approx(0.03125 / 2) and lr(1) == pytest.approx(0.03125 / 100)
    assert lr(400) == pytest.approx(0.03125 / 2) and lr(10000) == pytest.approx(0.03125 / 10)
    assert max(lr(t) for t in range(1, 1000)) == pytest.approx(0.03125)
    assert _lr("noam", 10**8, lr=5.0, min_lr=1e-4) == 1e-4  # the floor after the warm-up


def test_inverse_sqrt_warms_up_to_lr_then_halves_at_four_times_warmup():
    assert _lr("inverse_sqrt", 50) == pytest.approx(5e-4)
    assert _lr("inverse_sqrt", 100) == pytest.approx(1e-3)
    assert _lr("inverse_sqrt", 400) == pytest.approx(5e-4)
    assert _lr("inverse_sqrt", 10**6, min_lr=1e-5) == 1e-5
    assert _lr("inverse_sqrt", 9, warmup_steps=0) == pytest.approx(1e-3 / 3)  # no warm-up: lr / sqrt(t)


def test_cosine_goes_from_lr_to_min_lr_through_the_midpoint():
    kw = {"min_lr": 1e-5}
    assert _lr("cosine", 100, **kw) == pytest.approx(1e-3)
    assert _lr("cosine", 550, **kw) == pytest.approx((1e-3 + 1e-5) / 2)
    assert _lr("cosine", 1000, **kw) == pytest.approx(1e-5)
    assert _lr("cosine", 5000, **kw) == pytest.approx(1e-5)  # past max_steps: stays at the floor
    values = [_lr("cosine", t, **kw) for t in range(100, 1001)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    # 3/4 of the way the cosine is at (1 + cos(3 pi / 4)) / 2 of the range
    assert _lr("cosine", 775, **kw) == pytest.approx(1e-5 + (1e-3 - 1e-5) * (1 - math.sqrt(0.5)) / 2)


@pytest.mark.parametrize("schedule", ["inverse_sqrt", "cosine", "constant"])
def test_warmup_is_linear_from_zero_and_continuous(schedule):
    warm = [_lr(schedule, t) for t in range(1, 101)]
    assert warm == pytest.approx([1e-3 * t / 100 for t in range(1, 101)])
    assert _lr(schedule, 101) == pytest.approx(1e-3, rel=0.01)


def test_set_learning_rate_reaches_every_group():
    p, q = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.AdamW([{"params": [p]}, {"params": [q], "weight_decay": 0.0}], lr=1.0)
    set_learning_rate(opt, 0.25)
    assert [g["lr"] for g in opt.param_groups] == [0.25, 0.25]
