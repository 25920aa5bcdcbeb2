"""asr.losses modules: equal to the functional kernels and to independent oracles (float64 reference,
torch CTC, the full RNN-T loss of the same joiner), omega sampling, gradients into the joiner, errors.

B: batch, T: frames, U: target length, V: vocabulary, D: number of TDT durations, J: joiner width.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transduce.asr.config import from_dict, to_dict
from transduce.asr.losses import (
    CTCLoss,
    CTCLossConfig,
    PrunedRNNTLoss,
    PrunedRNNTLossConfig,
    RNNTLoss,
    RNNTLossConfig,
    TDTLoss,
    TDTLossConfig,
)
from transduce.kernels import reference as ref

from transduce import kernels

RTOL, ATOL = 1e-5, 1e-4
T_LENS, U_LENS = [6, 3, 1, 5], [4, 2, 0, 3]


def _targets(V, U=4, B=4):
    return torch.randint(1, V, (B, U)), torch.tensor(T_LENS[:B]), torch.tensor(U_LENS[:B])


def _loss_and_grad(fn, logits, *args, **kw):
    x = logits.clone().requires_grad_(True)
    loss = fn(x, *args, **kw)
    loss.sum().backward()
    return loss.detach(), x.grad


def _assert_close(got, want, rtol=RTOL, atol=ATOL):
    torch.testing.assert_close(got[0], want[0], rtol=rtol, atol=0)
    torch.testing.assert_close(got[1], want[1], rtol=0, atol=atol)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("delay_penalty", [0.0, 0.3])
def test_ctc_module_equals_kernel_and_reference(reduction, delay_penalty):
    x, (y, t_lens, u_lens) = torch.randn(4, 6, 5), _targets(5)
    module = CTCLoss(blank=0, reduction=reduction, delay_penalty=delay_penalty)
    got = _loss_and_grad(module, x, y, t_lens, u_lens)
    _assert_close(got, _loss_and_grad(kernels.ctc_loss, x, y, t_lens, u_lens, 0, reduction, delay_penalty),
                  rtol=0, atol=0)
    _assert_close(got, _loss_and_grad(ref.ctc_loss, x, y, t_lens, u_lens, 0, reduction, delay_penalty))


def test_plain_ctc_module_sums_like_torch_ctc():
    x, (y, t_lens, u_lens) = torch.randn(4, 6, 5, dtype=torch.float64), _targets(5)
    got = CTCLoss(reduction="sum")(x, y, t_lens, u_lens)
    want = F.ctc_loss(x.log_softmax(-1).transpose(0, 1), y, t_lens, u_lens, blank=0, reduction="sum")
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize(("rnnt_type", "fastemit_lambda", "delay_penalty", "clamp"), [
    ("regular", 0.0, 0.0, -1.0), ("regular", 0.5, 0.2, -1.0), ("modified", 0.0, 0.1, 0.05),
])
def test_rnnt_module_equals_kernel_and_reference(rnnt_type, fastemit_lambda, delay_penalty, clamp):
    x, (y, t_lens, u_lens) = torch.randn(4, 6, 5, 6) * 2, _targets(6)
    opts = (rnnt_type, fastemit_lambda, delay_penalty, clamp)
    module = RNNTLoss(0, "none", *opts)
    got = _loss_and_grad(module, x, y, t_lens, u_lens)
    want = _loss_and_grad(kernels.rnnt_loss, x, y, t_lens, u_lens, 0, "none", *opts)
    _assert_close(got, want, rtol=0, atol=0)
    _assert_close(got, _loss_and_grad(ref.rnnt_loss, x, y, t_lens, u_lens, 0, "none", *opts))


def test_rnnt_module_grad_in_logits_gives_the_same_gradient():
    x, (y, t_lens, u_lens) = torch.randn(4, 6, 5, 6), _targets(6)
    _, want = _loss_and_grad(RNNTLoss(reduction="sum"), x, y, t_lens, u_lens)
    leaf = x.clone().requires_grad_(True)
    RNNTLoss(reduction="sum", grad_in_logits=True)(leaf * 1.0, y, t_lens, u_lens).backward()
    torch.testing.assert_close(leaf.grad, want)


DURATIONS = (0, 1, 2, 4)


def _tdt_batch(V=5):
    x = torch.randn(4, 6, 5, V + len(DURATIONS)) * 2
    return (x, *_targets(V))


def test_tdt_module_with_omega_zero_equals_the_tdt_kernel_and_reference():
    x, y, t_lens, u_lens = _tdt_batch()
    module = TDTLoss(blank=0, durations=DURATIONS, sigma=0.05, omega=0.0, reduction="none")
    state = torch.get_rng_state()
    got = _loss_and_grad(module, x, y, t_lens, u_lens)
    assert torch.equal(torch.get_rng_state(), state), "omega = 0 must not draw from the generator"
    want = _loss_and_grad(kernels.tdt_loss, x, y, t_lens, u_lens, 0, list(DURATIONS), 0.05, "none")
    _assert_close(got, want, rtol=0, atol=0)
    _assert_close(got, _loss_and_grad(ref.tdt_loss, x, y, t_lens, u_lens, 0, DURATIONS, 0.05, "none"))


def test_tdt_module_with_omega_one_is_the_rnnt_loss_of_the_token_logits():
    x, y, t_lens, u_lens = _tdt_batch()
    module = TDTLoss(blank=0, durations=DURATIONS, sigma=0.05, omega=1.0, reduction="sum")
    loss, grad = _loss_and_grad(module, x, y, t_lens, u_lens)
    want_loss, want_grad = _loss_and_grad(ref.rnnt_loss, x[..., :5], y, t_lens, u_lens, 0, "sum")
    torch.testing.assert_close(loss, want_loss, rtol=RTOL, atol=0)
    torch.testing.assert_close(grad[..., :5], want_grad, rtol=0, atol=ATOL)
    assert grad[..., 5:].abs().sum() == 0  # the duration logits take no part


def test_tdt_omega_is_drawn_once_per_call_from_torch_and_seeding_reproduces_it():
    x, y, t_lens, u_lens = _tdt_batch()
    module = TDTLoss(durations=DURATIONS, omega=0.5, reduction="none")
    tdt = kernels.tdt_loss(x, y, t_lens, u_lens, 0, list(DURATIONS), reduction="none")
    rnnt = kernels.rnnt_loss(x[..., :5], y, t_lens, u_lens, 0, reduction="none")
    chosen = []
    for seed in range(12):
        torch.manual_seed(seed)
        expect_rnnt = bool(torch.rand(()) < 0.5)
        torch.manual_seed(seed)
        got = module(x, y, t_lens, u_lens)
        torch.testing.assert_close(got, rnnt if expect_rnnt else tdt)
        chosen.append(expect_rnnt)
    assert any(chosen) and not all(chosen)


def test_tdt_module_grad_in_logits_gives_the_same_gradient():
    x, y, t_lens, u_lens = _tdt_batch()
    _, want = _loss_and_grad(TDTLoss(durations=DURATIONS, reduction="sum"), x, y, t_lens, u_lens)
    leaf = x.clone().requires_grad_(True)
    module = TDTLoss(durations=DURATIONS, reduction="sum", grad_in_logits=True)
    module(leaf * 1.0, y, t_lens, u_lens).backward()
    torch.testing.assert_close(leaf.grad, want)


class _Joiner(nn.Module):
    """A small non-linear joiner: out(tanh(a + l)) on already projected inputs (..., J)."""

    def __init__(self, J: int, V: int) -> None:
        super().__init__()
        self.out = nn.Linear(J, V)

    def forward(self, a: torch.Tensor, lm: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(a + lm))


def _pruned_setup(V=6, J=8, E=7, U=4, T=6, dtype=torch.float64):
    """Encoder/predictor outputs, their simple (B, *, V) and joiner (B, *, J) projections, a joiner."""
    torch.manual_seed(0)
    enc = torch.randn(4, T, E, dtype=dtype, requires_grad=True)
    pred = torch.randn(4, U + 1, E, dtype=dtype, requires_grad=True)
    projs = [nn.Linear(E, n).to(dtype) for n in (V, V, J, J)]
    joiner = _Joiner(J, V).to(dtype)
    am, lm, joiner_am, joiner_lm = projs[0](enc), projs[1](pred), projs[2](enc), projs[3](pred)
    y, t_lens, u_lens = _targets(V, U)
    return dict(am=am, lm=lm, joiner_am=joiner_am, joiner_lm=joiner_lm, targets=y, logit_lengths=t_lens,
                target_lengths=u_lens, joiner=joiner), (enc, pred)


def _full_loss(inputs, rnnt_type, delay_penalty):
    """The RNN-T loss (B,) of the joiner on the whole (B, T, U+1, V) grid, by the float64 reference."""
    logits = inputs["joiner"](inputs["joiner_am"].unsqueeze(2), inputs["joiner_lm"].unsqueeze(1))
    return ref.rnnt_loss(logits, inputs["targets"], inputs["logit_lengths"], inputs["target_lengths"], 0,
                         "none", rnnt_type, delay_penalty=delay_penalty)


@pytest.mark.parametrize(("rnnt_type", "delay_penalty"),
                         [("regular", 0.0), ("modified", 0.0), ("regular", 0.2)])
def test_pruned_loss_with_full_range_is_the_full_rnnt_loss_of_the_joiner(rnnt_type, delay_penalty):
    inputs, _ = _pruned_setup()
    module = PrunedRNNTLoss(s_range=5, rnnt_type=rnnt_type, delay_penalty=delay_penalty, reduction="none")
    _, pruned = module(**inputs)
    full = _full_loss(inputs, rnnt_type, delay_penalty)
    torch.testing.assert_close(pruned, full, rtol=1e-9, atol=1e-9)
    params = list(inputs["joiner"].parameters())
    got = torch.autograd.grad(pruned.sum(), params + [inputs["joiner_am"], inputs["joiner_lm"]])
    want = torch.autograd.grad(full.sum(), params + [inputs["joiner_am"], inputs["joiner_lm"]])
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-7, atol=1e-9)


def test_pruned_loss_with_narrow_range_keeps_a_subset_of_the_paths():
    inputs, _ = _pruned_setup()
    _, pruned = PrunedRNNTLoss(s_range=2, reduction="none")(**inputs)
    full = _full_loss(inputs, "regular", 0.0)
    assert torch.isfinite(pruned).all() and bool((pruned >= full - 1e-9).all())
    assert bool((pruned > full + 1e-6).any())  # U_b >= 2 utterances lose paths


def test_simple_loss_is_the_smoothed_kernel_and_without_smoothing_the_additive_joiner_loss():
    inputs, _ = _pruned_setup()
    simple, _ = PrunedRNNTLoss(lm_only_scale=0.0, am_only_scale=0.0, reduction="none")(**inputs)
    additive = inputs["am"].unsqueeze(2) + inputs["lm"].unsqueeze(1)  # (B, T, U+1, V)
    args = (inputs["targets"], inputs["logit_lengths"], inputs["target_lengths"], 0, "none")
    torch.testing.assert_close(simple, ref.rnnt_loss(additive, *args), rtol=1e-9, atol=1e-9)
    smoothed, _ = PrunedRNNTLoss(lm_only_scale=0.2, am_only_scale=0.1, reduction="sum")(**inputs)
    boundary = torch.stack([torch.zeros(4, dtype=torch.int64)] * 2 + [inputs["target_lengths"],
                                                                        inputs["logit_lengths"]], 1)
    want = kernels.rnnt_loss_smoothed(inputs["lm"], inputs["am"], inputs["targets"], 0, 0.2, 0.1, boundary,
                                      reduction="sum")
    torch.testing.assert_close(smoothed, want)


def test_gradients_flow_into_joiner_projections_and_encoder_only_within_lengths():
    inputs, (enc, pred) = _pruned_setup(dtype=torch.float32)
    module = PrunedRNNTLoss(s_range=3)
    losses = module(**inputs)
    total = module.combine(losses, pruned_loss_scale=0.7)
    torch.testing.assert_close(total, 0.5 * losses.simple_loss + 0.7 * losses.pruned_loss)
    total.backward()
    for p in inputs["joiner"].parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    for b, (t, u) in enumerate(zip(T_LENS, U_LENS)):
        assert enc.grad[b, :t].abs().sum() > 0 and enc.grad[b, t:].abs().sum() == 0
        # padded predictor rows reach the loss only through the smoothed loss's batch unigram, weighted
        # by am_only_scale (k2 puts 1e-20 there when it is 0)
        assert pred.grad[b, : u + 1].abs().sum() > 0 and pred.grad[b, u + 1:].abs().sum() < 1e-15


def test_pruned_module_ignores_target_padding_and_computes_half_inputs_in_float32():
    inputs, _ = _pruned_setup(dtype=torch.float32)
    clean = PrunedRNNTLoss(reduction="none")(**inputs)
    noisy = dict(inputs, targets=inputs["targets"].clone())
    noisy["targets"][1, 2:] = -1
    noisy["targets"][2, :] = 99
    for a, b in zip(PrunedRNNTLoss(reduction="none")(**noisy), clean):
        torch.testing.assert_close(a, b)
    half = {k: v.detach().bfloat16() if k in ("am", "lm") else v for k, v in inputs.items()}
    simple, _ = PrunedRNNTLoss(reduction="none")(**half)
    assert simple.dtype == torch.float32 and torch.isfinite(simple).all()


def test_configs_round_trip_through_from_config_and_plain_dicts():
    modules = [CTCLoss(delay_penalty=0.1), RNNTLoss(rnnt_type="modified", clamp=0.5),
               TDTLoss(durations=[0, 1, 2], sigma=0.05, omega=0.1), PrunedRNNTLoss(s_range=4)]
    for module in modules:
        again = type(module).from_config(module.cfg)
        assert again.cfg == module.cfg and dataclasses.is_dataclass(module.cfg)
        assert from_dict(type(module.cfg), to_dict(module.cfg)) == module.cfg
        with pytest.raises(dataclasses.FrozenInstanceError):
            module.cfg.blank = 3
    assert TDTLoss(durations=[0, 1, 2]).cfg.durations == (0, 1, 2)


BAD_SETTINGS = [
    (lambda: CTCLoss(blank=-1), "blank must be an int >= 0"),
    (lambda: CTCLossConfig(reduction="avg"), "reduction must be one of"),
    (lambda: RNNTLoss(rnnt_type="fancy"), "rnnt_type must be one of"),
    (lambda: RNNTLossConfig(fastemit_lambda=-0.1), "fastemit_lambda must be >= 0"),
    (lambda: TDTLoss(durations=[]), "durations must be a non-empty"),
    (lambda: TDTLoss(durations=[0, -1]), "durations must be a non-empty"),
    (lambda: TDTLoss(durations=[0]), "hold a positive value"),
    (lambda: TDTLoss(durations=[1, 1]), "durations must be distinct"),
    (lambda: TDTLoss(sigma=-0.1), "sigma must be >= 0"),
    (lambda: TDTLossConfig(omega=1.5), "omega must be a probability"),
    (lambda: PrunedRNNTLoss(s_range=1), "s_range must be an int >= 2"),
    (lambda: PrunedRNNTLoss(s_range=0, rnnt_type="modified"), "s_range must be an int >= 1"),
    (lambda: PrunedRNNTLossConfig(lm_only_scale=0.7, am_only_scale=0.5), "lm_only_scale and am_only_scale"),
    (lambda: PrunedRNNTLoss(simple_loss_scale=-1.0), "simple_loss_scale must be >= 0"),
]


@pytest.mark.parametrize(("make", "message"), BAD_SETTINGS)
def test_bad_settings_raise_value_errors_naming_them(make, message):
    with pytest.raises(ValueError, match=message):
        make()


BAD_PRUNED_INPUTS = [
    (lambda a: a.update(am=a["am"][0]), "am must be a floating 3-dim"),
    (lambda a: a.update(lm=a["lm"][..., :3]), "lm must be"),
    (lambda a: a.update(targets=a["targets"][:, :2]), "targets must be an int32/int64 tensor of shape"),
    (lambda a: a.update(logit_lengths=torch.tensor([7, 3, 1, 5])), "logit_lengths must lie in"),
    (lambda a: a.update(target_lengths=torch.tensor([5, 2, 0, 3])), "target_lengths must lie in"),
    (lambda a: a.update(target_lengths=torch.tensor([4.0, 2, 0, 3])), "target_lengths must be an int32"),
    (lambda a: a["targets"].__setitem__((0, 1), 0), "must not contain the blank"),
    (lambda a: a["targets"].__setitem__((0, 1), 6), "targets must lie in"),
    (lambda a: a.update(joiner=lambda am, lm: (am + lm)[..., :3]), "joiner must return logits"),
]


@pytest.mark.parametrize(("change", "message"), BAD_PRUNED_INPUTS)
def test_bad_pruned_inputs_raise_value_errors_naming_the_argument(change, message):
    inputs, _ = _pruned_setup(J=6)
    inputs.update(joiner_am=None, joiner_lm=None, joiner=lambda am, lm: am + lm)
    change(inputs)
    with pytest.raises(ValueError, match=message):
        PrunedRNNTLoss()(**inputs)


def test_bad_tensor_inputs_of_the_other_modules_raise_value_errors():
    x, (y, t_lens, u_lens) = torch.randn(4, 6, 5, 6), _targets(6)
    with pytest.raises(ValueError, match="logit_lengths must lie in"):
        RNNTLoss()(x, y, t_lens + 1, u_lens)
    with pytest.raises(ValueError, match="blank must be an int in"):
        CTCLoss(blank=6)(x[:, :, 0], y, t_lens, u_lens)
    for omega in (0.0, 1.0):
        with pytest.raises(ValueError, match="logits must|last dim of logits"):
            TDTLoss(durations=DURATIONS, omega=omega)(x[..., :4], y, t_lens, u_lens)
