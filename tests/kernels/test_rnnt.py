"""CPU RNN-T loss (kernels.rnnt_loss, backend "cpu") against the float64 reference and loss invariants.

B: batch, T: frames, U: target length, V: vocabulary. Oracle: kernels.reference.rnnt_loss (itself
checked against brute-force alignment enumeration in test_bruteforce.py); shapes stay tiny.
"""

from __future__ import annotations

import numba
import pytest
import torch
from transduce.kernels import reference as ref
from transduce.kernels.rnnt import rnnt_loss

RTOL, ATOL = 1e-5, 1e-4
OPTIONS = [  # (fastemit_lambda, delay_penalty, clamp)
    (0.0, 0.0, -1.0),
    (0.5, 0.0, -1.0),
    (0.0, 0.3, -1.0),
    (0.0, 0.0, 0.05),
    (0.2, -0.1, 0.1),
]


def _batch(t_lens, u_lens, T=6, U=4, V=7, dtype=torch.float32):
    """Random logits (B, T, U+1, V) with garbage in padding, non-blank targets (B, U), lengths (B,)."""
    B = len(t_lens)
    logits = (torch.randn(B, T, U + 1, V, dtype=torch.float64) * 2).to(dtype)
    targets = torch.randint(1, V, (B, U))
    return logits, targets, torch.tensor(t_lens), torch.tensor(u_lens)


def _ragged(**kw):
    """B=4 mixing T_b = T, T_b < T, T_b = 1, U_b = 0 and U_b = U."""
    return _batch([6, 3, 1, 5], [4, 2, 0, 4], **kw)


def _loss_and_grad(fn, logits, *args, weights=None, **kw):
    """(loss, d (weights . loss) / d logits) for fn(logits, *args, **kw)."""
    x = logits.clone().requires_grad_(True)
    loss = fn(x, *args, **kw)
    w = torch.ones_like(loss) if weights is None else weights.to(loss.dtype)
    (loss * w).sum().backward()
    return loss.detach(), x.grad


def _cpu_and_ref(logits, *args, weights=None, **kw):
    got = _loss_and_grad(rnnt_loss, logits, *args, weights=weights, backend="cpu", **kw)
    want = _loss_and_grad(ref.rnnt_loss, logits, *args, weights=weights, **kw)
    return got, want


def _assert_close(got, want, rtol=RTOL, atol=ATOL):
    torch.testing.assert_close(got[0], want[0], rtol=rtol, atol=0)
    torch.testing.assert_close(got[1], want[1], rtol=0, atol=atol)


@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
@pytest.mark.parametrize("options", OPTIONS)
def test_cpu_matches_reference_on_ragged_batches(rnnt_type, options):
    x, y, t_lens, u_lens = _ragged()
    if rnnt_type == "modified":
        t_lens = torch.tensor([6, 3, 1, 5])  # every U_b <= T_b: a path exists
    weights = torch.rand(4) + 0.5  # per-utterance grad_output reaches each utterance's gradient
    got, want = _cpu_and_ref(x, y, t_lens, u_lens, 0, "none", rnnt_type, *options, weights=weights)
    assert torch.isfinite(got[0]).all()
    _assert_close(got, want)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reductions_match_reference_and_the_unreduced_losses(reduction):
    x, y, t_lens, u_lens = _ragged()
    got, want = _cpu_and_ref(x, y, t_lens, u_lens, 0, reduction, "regular", 0.1, 0.1, -1.0)
    _assert_close(got, want)
    none, grad_none = _loss_and_grad(rnnt_loss, x, y, t_lens, u_lens, 0, "none", "regular", 0.1, 0.1,
                                     backend="cpu")
    scale = 1.0 / 4 if reduction == "mean" else 1.0
    torch.testing.assert_close(got[0], none.sum() * scale)
    torch.testing.assert_close(got[1], grad_none * scale)


@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
def test_batch_without_any_target_matches_reference(rnnt_type):
    x, y, t_lens, u_lens = _batch([5, 2, 1], [0, 0, 0], T=5, U=0)
    assert y.shape == (3, 0)
    got, want = _cpu_and_ref(x, y, t_lens, u_lens, 0, "none", rnnt_type)
    _assert_close(got, want)
    # U = 0: the only path is T_b blanks
    blank_lp = x.log_softmax(-1)[..., 0, 0]
    expected = torch.stack([-blank_lp[b, : t_lens[b]].sum() for b in range(3)])
    torch.testing.assert_close(got[0], expected, rtol=RTOL, atol=1e-6)


def test_modified_without_alignment_is_infinite_with_zero_gradient():
    x, y, t_lens, u_lens = _batch([2, 4], [3, 3], U=3)
    loss, grad = _loss_and_grad(rnnt_loss, x, y, t_lens, u_lens, 0, "none", "modified", backend="cpu")
    assert torch.isinf(loss[0]) and torch.isfinite(loss[1])
    assert grad[0].abs().sum() == 0 and grad[1].abs().sum() > 0


def test_other_blank_and_float64_match_reference_tightly():
    x, y, t_lens, u_lens = _ragged(dtype=torch.float64)
    blank = 6
    y[y == blank] = 2
    got, want = _cpu_and_ref(x, y, t_lens, u_lens, blank, "none", "modified", 0.3, 0.2, -1.0)
    _assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_gradient_rows_sum_to_zero_padding_is_zero_and_clamp_bounds_it():
    x, y, t_lens, u_lens = _ragged()
    _, grad = _loss_and_grad(rnnt_loss, x, y, t_lens, u_lens, 0, "none", backend="cpu")
    torch.testing.assert_close(grad.sum(-1), torch.zeros(grad.shape[:-1]), rtol=0, atol=1e-6)
    for b, (t, u) in enumerate(zip(t_lens.tolist(), u_lens.tolist())):
        assert grad[b, t:].abs().sum() == 0 and grad[b, :, u + 1:].abs().sum() == 0
    _, clamped = _loss_and_grad(rnnt_loss, x, y, t_lens, u_lens, 0, "none", clamp=0.01, backend="cpu")
    assert clamped.abs().max() <= 0.01 and grad.abs().max() > 0.01


def test_padding_values_never_reach_the_loss():
    x, y, t_lens, u_lens = _ragged()
    noisy, y_noisy = x.clone(), y.clone()
    noisy[1, 3:] = 1e4
    noisy[2, :, 1:] = float("nan")
    y_noisy[1, 2:] = 0  # blank beyond U_b is allowed
    got = rnnt_loss(noisy, y_noisy, t_lens, u_lens, 0, "none", backend="cpu")
    torch.testing.assert_close(got, rnnt_loss(x, y, t_lens, u_lens, 0, "none", backend="cpu"))


def test_fastemit_keeps_the_loss_value():
    x, y, t_lens, u_lens = _ragged()
    plain = rnnt_loss(x, y, t_lens, u_lens, 0, "none", backend="cpu")
    emit = rnnt_loss(x, y, t_lens, u_lens, 0, "none", fastemit_lambda=0.7, backend="cpu")
    torch.testing.assert_close(emit, plain)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_low_precision_inputs_keep_their_dtype_and_match_reference(dtype):
    x, y, t_lens, u_lens = _ragged(dtype=dtype)
    (loss, grad), (loss_ref, grad_ref) = _cpu_and_ref(x, y, t_lens, u_lens, 0, "none")
    assert loss.dtype == dtype and grad.dtype == dtype
    tol = {torch.float16: 2e-3, torch.bfloat16: 1e-2, torch.float32: RTOL}[dtype]
    torch.testing.assert_close(loss.double(), loss_ref.double(), rtol=tol, atol=0)
    torch.testing.assert_close(grad.double(), grad_ref.double(), rtol=0, atol=max(tol, ATOL))


def test_grad_in_logits_gives_the_same_gradient_in_the_logits_storage():
    x, y, t_lens, u_lens = _ragged()
    _, want = _loss_and_grad(rnnt_loss, x, y, t_lens, u_lens, 0, "sum", backend="cpu")
    leaf = x.clone().requires_grad_(True)
    logits = leaf * 1.0  # non-leaf: its buffer may be overwritten
    seen = {}
    logits.register_hook(lambda g: seen.update(ptr=g.data_ptr()))
    rnnt_loss(logits, y, t_lens, u_lens, 0, "sum", backend="cpu", grad_in_logits=True).backward()
    assert seen["ptr"] == logits.data_ptr(), "the gradient must live in the logits' own buffer"
    torch.testing.assert_close(leaf.grad, want)


def test_grad_in_logits_with_half_logits_writes_back_into_them():
    x, y, t_lens, u_lens = _ragged(dtype=torch.bfloat16)
    _, want = _loss_and_grad(rnnt_loss, x, y, t_lens, u_lens, 0, "sum", backend="cpu")
    logits = x.clone().requires_grad_(True) * 1
    seen = {}
    logits.register_hook(lambda g: seen.update(g=g))
    rnnt_loss(logits, y, t_lens, u_lens, 0, "sum", backend="cpu", grad_in_logits=True).backward()
    assert seen["g"].data_ptr() == logits.data_ptr()
    torch.testing.assert_close(seen["g"], want)


def test_non_contiguous_logits_and_int32_lengths_give_the_same_result():
    x, y, t_lens, u_lens = _ragged()
    strided = x.transpose(1, 2).contiguous().transpose(1, 2)  # same values, (B, U+1, T, V) memory
    assert not strided.is_contiguous()
    want = _loss_and_grad(rnnt_loss, x, y, t_lens, u_lens, 0, "none", backend="cpu")
    got = _loss_and_grad(rnnt_loss, strided, y.int(), t_lens.int(), u_lens.int(), 0, "none", backend="cpu")
    _assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_backward_runs_once_and_no_grad_gives_the_same_loss():
    x, y, t_lens, u_lens = _ragged()
    with torch.no_grad():
        plain = rnnt_loss(x, y, t_lens, u_lens, 0, "none", backend="cpu")
    logits = x.clone().requires_grad_(True)
    loss = rnnt_loss(logits, y, t_lens, u_lens, 0, "sum", backend="cpu")
    torch.testing.assert_close(loss, plain.sum())
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="only once"):
        loss.backward()


def test_numba_threads_follow_torch_and_do_not_change_results():
    x, y, t_lens, u_lens = _batch([6, 5, 4, 3, 2, 1], [4, 3, 2, 1, 0, 4])
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _loss_and_grad(rnnt_loss, x, y, t_lens, u_lens, 0, "none", backend="cpu")
        assert numba.get_num_threads() == 1
        torch.set_num_threads(2)
        two = _loss_and_grad(rnnt_loss, x, y, t_lens, u_lens, 0, "none", backend="cpu")
        assert numba.get_num_threads() == min(2, numba.config.NUMBA_NUM_THREADS)
    finally:
        torch.set_num_threads(before)
    _assert_close(one, two, rtol=0, atol=0)


BAD_INPUTS = [  # (change to the valid call's arguments, message fragment)
    (lambda a: a.update(logits=a["logits"][0]), "logits must have 4 dims"),
    (lambda a: a.update(logits=a["logits"].long()), "floating-point"),
    (lambda a: a.update(targets=a["targets"][:, :2]), "targets must have shape"),
    (lambda a: a.update(targets=a["targets"].float()), "targets must be an int32 or int64"),
    (lambda a: a.update(logit_lengths=torch.tensor([6, 7, 1, 5])), "logit_lengths must lie in"),
    (lambda a: a.update(logit_lengths=torch.tensor([6, 0, 1, 5])), "logit_lengths must lie in"),
    (lambda a: a.update(logit_lengths=torch.tensor([6, 3, 1])), "logit_lengths must have shape"),
    (lambda a: a.update(target_lengths=torch.tensor([5, 2, 0, 4])), "target_lengths must lie in"),
    (lambda a: a.update(target_lengths=torch.tensor([-1, 2, 0, 4])), "target_lengths must lie in"),
    (lambda a: a.update(blank=7), "blank must be an int in"),
    (lambda a: a.update(blank=-1), "blank must be an int in"),
    (lambda a: a["targets"].__setitem__((0, 1), 0), "must not contain the blank"),
    (lambda a: a["targets"].__setitem__((1, 0), 7), "targets must lie in"),
    (lambda a: a.update(reduction="avg"), "reduction must be one of"),
    (lambda a: a.update(rnnt_type="fancy"), "rnnt_type must be one of"),
]


@pytest.mark.parametrize(("change", "message"), BAD_INPUTS)
def test_bad_inputs_raise_value_errors_naming_the_problem(change, message):
    x, y, t_lens, u_lens = _ragged()
    args = dict(logits=x, targets=y, logit_lengths=t_lens, target_lengths=u_lens, blank=0)
    change(args)
    with pytest.raises(ValueError, match=message):
        rnnt_loss(**args, backend="cpu")
