"""CPU TDT loss (kernels.tdt_loss, backend "cpu") vs the float64 reference, plain-loop oracles and invariants.

B: batch, T: frames, U: target length, V: vocabulary (blank included), D: number of durations.
Oracle: kernels.reference.tdt_loss (itself checked against brute-force alignment enumeration in
test_bruteforce.py); the target-free case is also checked against a 1-D loop over frame compositions.
"""

from __future__ import annotations

import math

import pytest
import torch
from transduce.kernels import reference as ref
from transduce.kernels.tdt import tdt_loss

RTOL, ATOL = 1e-5, 1e-4
DURATION_SETS = [[0, 1, 2, 3, 4], [1, 2], [0, 2, 4], [0, 1], [3, 1]]


def _batch(t_lens, u_lens, durations, T=6, U=4, V=5, dtype=torch.float32, target_dtype=torch.int64):
    """Random logits (B, T', U+1, V+K) with garbage in padding, non-blank targets (B, U), lengths (B,)."""
    B = len(t_lens)
    logits = (torch.randn(B, T, U + 1, V + len(durations), dtype=torch.float64) * 2).to(dtype)
    targets = torch.randint(1, V, (B, U), dtype=target_dtype)
    return logits, targets, torch.tensor(t_lens), torch.tensor(u_lens)


def _random_lengths(T=6, U=4):
    """B=6 random lengths that always mix T_b = T, T_b < T, T_b = 1, U_b = 0 and U_b = U."""
    def draw(lo, hi):
        return int(torch.randint(lo, hi + 1, ()))

    t_lens = [T, draw(2, T - 1), 1, draw(1, T), T, draw(1, T - 1)]
    u_lens = [U, draw(0, U), 0, 0, draw(0, U), U]
    return t_lens, u_lens


def _loss_and_grad(fn, logits, *args, weights=None, **kw):
    """(loss, d (weights . loss) / d logits) for fn(logits, *args, **kw)."""
    x = logits.clone().requires_grad_(True)
    loss = fn(x, *args, **kw)
    w = torch.ones_like(loss) if weights is None else weights.to(loss.dtype)
    (loss * w).sum().backward()
    return loss.detach(), x.grad


def _cpu_and_ref(logits, *args, weights=None, **kw):
    got = _loss_and_grad(tdt_loss, logits, *args, weights=weights, backend="cpu", **kw)
    want = _loss_and_grad(ref.tdt_loss, logits, *args, weights=weights, **kw)
    return got, want


def _assert_close(got, want, rtol=RTOL, atol=ATOL):
    torch.testing.assert_close(got[0], want[0], rtol=rtol, atol=0)
    torch.testing.assert_close(got[1], want[1], rtol=0, atol=atol)


@pytest.mark.parametrize(("dtype", "int_dtype"), [(torch.float32, torch.int64), (torch.float64, torch.int32)])
@pytest.mark.parametrize("sigma", [0.0, 0.05])
@pytest.mark.parametrize("durations", DURATION_SETS, ids=str)
def test_cpu_matches_reference_on_random_ragged_batches(durations, sigma, dtype, int_dtype):
    t_lens, u_lens = _random_lengths()
    x, y, t_lens, u_lens = _batch(t_lens, u_lens, durations, dtype=dtype, target_dtype=int_dtype)
    t_lens, u_lens = t_lens.to(int_dtype), u_lens.to(int_dtype)
    weights = torch.rand(len(t_lens)) + 0.5  # per-utterance grad_output reaches each utterance's gradient
    got, want = _cpu_and_ref(x, y, t_lens, u_lens, 0, durations, sigma, "none", weights=weights)
    assert torch.isfinite(got[0]).any()
    _assert_close(got, want)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reductions_match_reference_and_the_unreduced_losses(reduction):
    durations = [0, 1, 2, 3, 4]
    x, y, t_lens, u_lens = _batch([6, 3, 1, 5], [4, 2, 0, 4], durations)
    got, want = _cpu_and_ref(x, y, t_lens, u_lens, 0, durations, 0.05, reduction)
    _assert_close(got, want)
    none, grad_none = _loss_and_grad(tdt_loss, x, y, t_lens, u_lens, 0, durations, 0.05, "none",
                                     backend="cpu")
    scale = 1.0 / 4 if reduction == "mean" else 1.0
    torch.testing.assert_close(got[0], none.sum() * scale)
    torch.testing.assert_close(got[1], grad_none * scale)


def test_float64_last_blank_and_int32_targets_match_reference_tightly():
    durations = [0, 1, 2, 4]
    x, y, t_lens, u_lens = _batch([6, 4, 1, 2], [4, 0, 3, 4], durations, dtype=torch.float64,
                                  target_dtype=torch.int32)
    blank = 4  # the last token, as in NeMo's TDT models
    y[y == blank] = 2
    got, want = _cpu_and_ref(x, y, t_lens.int(), u_lens.int(), blank, durations, 0.1, "none")
    assert torch.isfinite(got[0]).all()
    _assert_close(got, want, rtol=1e-10, atol=1e-10)


def _blank_only_loss(logits, t_len, durations, blank, sigma):
    """-log P(no labels): sum over compositions of t_len into positive durations, by a plain 1-D loop."""
    n_v = logits.shape[-1] - len(durations)
    tok = logits[: t_len, 0, :n_v].double().log_softmax(-1)[:, blank] - sigma
    dur = logits[: t_len, 0, n_v:].double().log_softmax(-1)
    ll = [0.0] + [-math.inf] * t_len  # ll[t]: log-prob of reaching frame t by blank arcs only
    for t in range(1, t_len + 1):
        terms = [ll[t - d] + float(tok[t - d] + dur[t - d, k])
                 for k, d in enumerate(durations) if 0 < d <= t and ll[t - d] > -math.inf]
        ll[t] = max(terms) + math.log(sum(math.exp(v - max(terms)) for v in terms)) if terms else -math.inf
    return -ll[t_len]


@pytest.mark.parametrize("durations", [[0, 1, 2, 3, 4], [0, 2, 3]], ids=str)
def test_target_free_utterances_match_a_loop_over_frame_compositions(durations):
    x, y, t_lens, u_lens = _batch([6, 5, 1, 2], [0, 0, 0, 0], durations, U=0)
    assert y.shape == (4, 0)
    got = tdt_loss(x, y, t_lens, u_lens, 0, durations, 0.05, "none", backend="cpu")
    want = [_blank_only_loss(x[b], int(t_lens[b]), durations, 0, 0.05) for b in range(4)]
    torch.testing.assert_close(got.double(), torch.tensor(want, dtype=torch.float64), rtol=RTOL, atol=0)
    assert math.isinf(want[2]) == (1 not in durations) and math.isfinite(want[0])  # T_b = 1 needs d = 1


@pytest.mark.parametrize(("durations", "t_lens", "u_lens", "dead"), [
    ([0, 2, 4], [6, 3, 1, 5], [4, 2, 0, 1], [False, True, True, True]),  # even strides never land on odd T_b
    ([1, 2], [6, 3, 2, 4], [4, 3, 2, 3], [False, True, True, False]),  # each label needs its own frame
])
def test_utterances_without_a_path_get_infinite_loss_and_zero_gradient(durations, t_lens, u_lens, dead):
    x, y, t_lens, u_lens = _batch(t_lens, u_lens, durations)
    (loss, grad), want = _cpu_and_ref(x, y, t_lens, u_lens, 0, durations, 0.0, "none")
    dead = torch.tensor(dead)
    assert torch.equal(torch.isinf(loss), dead) and bool((loss[dead] > 0).all())
    assert grad[dead].abs().sum() == 0 and bool((grad[~dead].flatten(1).abs().sum(1) > 0).all())
    _assert_close((loss, grad), want)
    mean = tdt_loss(x, y, t_lens, u_lens, 0, durations, 0.0, "mean", backend="cpu")
    assert math.isinf(mean)


def test_duration_zero_lets_one_frame_carry_several_labels():
    x, y, t_lens, u_lens = _batch([1, 2], [3, 4], [0, 1], T=2)
    with_zero = tdt_loss(x, y, t_lens, u_lens, 0, [0, 1], reduction="none", backend="cpu")
    assert torch.isfinite(with_zero).all()
    without = tdt_loss(x, y, t_lens, u_lens, 0, [1, 2], reduction="none", backend="cpu")
    assert torch.isinf(without).all()


def test_gradient_rows_sum_to_zero_per_softmax_and_padding_is_zero():
    durations = [0, 1, 2, 3, 4]
    x, y, t_lens, u_lens = _batch([6, 3, 1, 5], [4, 2, 0, 4], durations)
    _, grad = _loss_and_grad(tdt_loss, x, y, t_lens, u_lens, 0, durations, 0.05, "none", backend="cpu")
    n_v = grad.shape[-1] - len(durations)
    zeros = torch.zeros(grad.shape[:-1])
    torch.testing.assert_close(grad[..., :n_v].sum(-1), zeros, rtol=0, atol=1e-6)
    torch.testing.assert_close(grad[..., n_v:].sum(-1), zeros, rtol=0, atol=1e-6)
    for b, (t, u) in enumerate(zip(t_lens.tolist(), u_lens.tolist())):
        assert grad[b, t:].abs().sum() == 0 and grad[b, :, u + 1:].abs().sum() == 0
        assert grad[b, :t, : u + 1].abs().sum() > 0


def test_padding_values_never_reach_the_loss():
    durations = [0, 1, 2]
    x, y, t_lens, u_lens = _batch([6, 3, 1, 5], [4, 2, 0, 4], durations)
    noisy, y_noisy = x.clone(), y.clone()
    noisy[1, 3:] = 1e4
    noisy[2, :, 1:] = float("nan")
    y_noisy[1, 2:] = 0  # blank beyond U_b is allowed
    got = tdt_loss(noisy, y_noisy, t_lens, u_lens, 0, durations, reduction="none", backend="cpu")
    want = tdt_loss(x, y, t_lens, u_lens, 0, durations, reduction="none", backend="cpu")
    torch.testing.assert_close(got, want)


def test_grad_in_logits_gives_the_same_gradient_in_the_logits_storage():
    durations = [0, 1, 2, 3, 4]
    x, y, t_lens, u_lens = _batch([6, 3, 1, 5], [4, 2, 0, 4], durations)
    _, want = _loss_and_grad(tdt_loss, x, y, t_lens, u_lens, 0, durations, 0.05, "sum", backend="cpu")
    leaf = x.clone().requires_grad_(True)
    logits = leaf * 1.0  # non-leaf: its buffer may be overwritten
    seen = {}
    logits.register_hook(lambda g: seen.update(ptr=g.data_ptr()))
    loss = tdt_loss(logits, y, t_lens, u_lens, 0, durations, 0.05, "sum", backend="cpu", grad_in_logits=True)
    loss.backward()
    assert seen["ptr"] == logits.data_ptr(), "the gradient must live in the logits' own buffer"
    torch.testing.assert_close(leaf.grad, want)


def test_non_contiguous_logits_and_no_grad_give_the_same_result():
    durations = [0, 1, 2]
    x, y, t_lens, u_lens = _batch([6, 3, 1, 5], [4, 2, 0, 4], durations)
    strided = x.transpose(1, 2).contiguous().transpose(1, 2)
    assert not strided.is_contiguous()
    want = _loss_and_grad(tdt_loss, x, y, t_lens, u_lens, 0, durations, 0.0, "none", backend="cpu")
    got = _loss_and_grad(tdt_loss, strided, y, t_lens, u_lens, 0, durations, 0.0, "none", backend="cpu")
    _assert_close(got, want, rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        plain = tdt_loss(x, y, t_lens, u_lens, 0, durations, 0.0, "none", backend="cpu")
    torch.testing.assert_close(plain, want[0])


def test_backward_runs_once():
    durations = [0, 1, 2]
    x, y, t_lens, u_lens = _batch([6, 3], [4, 2], durations)
    loss = tdt_loss(x.requires_grad_(True), y, t_lens, u_lens, 0, durations, backend="cpu")
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="only once"):
        loss.backward()


BAD_INPUTS = [  # (change to the valid call's arguments, message fragment)
    (lambda a: a.update(logits=a["logits"][0]), "logits must have 4 dims"),
    (lambda a: a.update(logits=a["logits"].long()), "floating-point"),
    (lambda a: a.update(targets=a["targets"][:, :2]), "targets must have shape"),
    (lambda a: a.update(targets=a["targets"].float()), "targets must be an int32 or int64"),
    (lambda a: a.update(logit_lengths=torch.tensor([6, 7, 1, 5])), "logit_lengths must lie in"),
    (lambda a: a.update(logit_lengths=torch.tensor([6, 0, 1, 5])), "logit_lengths must lie in"),
    (lambda a: a.update(logit_lengths=torch.tensor([6, 3, 1.0, 5])), "logit_lengths must be an int32"),
    (lambda a: a.update(target_lengths=torch.tensor([5, 2, 0, 4])), "target_lengths must lie in"),
    (lambda a: a.update(target_lengths=torch.tensor([4, 2, 0])), "target_lengths must have shape"),
    (lambda a: a.update(blank=5), "blank must be an int in"),  # index 5 is the first duration logit
    (lambda a: a.update(blank=-1), "blank must be an int in"),
    (lambda a: a["targets"].__setitem__((0, 1), 0), "must not contain the blank"),
    (lambda a: a["targets"].__setitem__((1, 0), 5), "targets must lie in"),
    (lambda a: a.update(durations=[]), "durations must be a non-empty list"),
    (lambda a: a.update(durations=[0, -1, 2]), "durations must be a non-empty list of ints >= 0"),
    (lambda a: a.update(durations=[0, 1.5, 2]), "durations must be a non-empty list of ints"),
    (lambda a: a.update(durations=[0, True, 2]), "durations must be a non-empty list of ints"),
    (lambda a: a.update(durations=[0, 2, 2]), "durations must not repeat"),
    (lambda a: a.update(durations=[0]), "durations need a positive value"),
    (lambda a: a.update(durations=[0, 1, 2, 3, 4, 5, 6, 7]), "last dim of logits"),
    (lambda a: a.update(reduction="avg"), "reduction must be one of"),
]


@pytest.mark.parametrize(("change", "message"), BAD_INPUTS)
def test_bad_inputs_raise_value_errors_naming_the_problem(change, message):
    x, y, t_lens, u_lens = _batch([6, 3, 1, 5], [4, 2, 0, 4], [0, 1, 2])
    args = dict(logits=x, targets=y, logit_lengths=t_lens, target_lengths=u_lens, blank=0,
                durations=[0, 1, 2])
    change(args)
    with pytest.raises(ValueError, match=message):
        tdt_loss(**args, backend="cpu")
