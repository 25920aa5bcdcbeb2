"""The float64 reference oracle: gradcheck, torch's CTC, a plain-Python MI recursion, invariances and
the pruned == full identity. B: batch, T: frames, U (S): target length, V (C): vocabulary, R: s_range.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from transduce.kernels import reference as ref

TYPES = ["regular", "modified"]
f64 = dict(dtype=torch.float64)


def _lengths(*values: list[int]) -> list[torch.Tensor]:
    return [torch.tensor(v) for v in values]


def _gradcheck(fn, *inputs) -> bool:
    """torch's numerical vs analytic gradient check (raises on a mismatch, else True)."""
    return torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


# ----------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_gradcheck_rnnt_loss_with_delay_penalty(rnnt_type):
    logits = torch.randn(2, 3, 3, 4, **f64, requires_grad=True)
    targets = torch.randint(1, 4, (2, 2))
    t_len, u_len = _lengths([3, 2], [2, 1])
    loss = lambda x: ref.rnnt_loss(x, targets, t_len, u_len, 0, "none", rnnt_type, delay_penalty=0.3)  # noqa: E731
    assert _gradcheck(loss, logits)


def test_gradcheck_tdt_loss_with_sigma():
    durations = [0, 1, 2]
    logits = torch.randn(2, 3, 3, 4 + 3, **f64, requires_grad=True)
    targets = torch.randint(1, 4, (2, 2))
    t_len, u_len = _lengths([3, 2], [2, 1])
    assert _gradcheck(lambda x: ref.tdt_loss(x, targets, t_len, u_len, 0, durations, 0.05, "none"), logits)


def test_gradcheck_ctc_loss_with_delay_penalty():
    logits = torch.randn(2, 4, 4, **f64, requires_grad=True)
    targets = torch.tensor([[1, 1], [2, 3]])
    t_len, u_len = _lengths([4, 3], [2, 1])
    assert _gradcheck(lambda x: ref.ctc_loss(x, targets, t_len, u_len, 0, "none", 0.2), logits)


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_gradcheck_mutual_information_and_lattices(rnnt_type):
    modified = rnnt_type == "modified"
    px = torch.randn(2, 2, 3 if modified else 4, **f64, requires_grad=True)
    py = torch.randn(2, 3, 3, **f64, requires_grad=True)
    bnd = torch.tensor([[0, 0, 2, 3], [1, 1, 2, 3]])
    assert _gradcheck(lambda x, y: ref.mutual_information_recursion(x, y, bnd), px, py)
    blank_lp = torch.randn(2, 3, 3, **f64, requires_grad=True)
    label_lp = torch.randn(2, 3, 2, **f64, requires_grad=True)
    t_len, u_len = _lengths([3, 2], [2, 1])
    assert _gradcheck(lambda a, b: ref.rnnt_lattice(a, b, t_len, u_len, rnnt_type), blank_lp, label_lp)


def test_gradcheck_tdt_lattice():
    blank_lp = torch.randn(2, 3, 3, **f64, requires_grad=True)
    label_lp = torch.randn(2, 3, 2, **f64, requires_grad=True)
    dur_lp = torch.randn(2, 3, 3, 2, **f64, requires_grad=True)
    t_len, u_len = _lengths([3, 2], [2, 1])
    lattice = lambda a, b, d: ref.tdt_lattice(a, b, d, [0, 1], t_len, u_len)  # noqa: E731
    assert _gradcheck(lattice, blank_lp, label_lp, dur_lp)


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_gradcheck_simple_smoothed_and_pruned_losses(rnnt_type):
    B, S, T, C = 2, 2, 3, 4
    lm = torch.randn(B, S + 1, C, **f64, requires_grad=True)
    am = torch.randn(B, T, C, **f64, requires_grad=True)
    symbols = torch.randint(1, C, (B, S))
    bnd = torch.tensor([[0, 0, 2, 3], [0, 0, 1, 2]])
    kw = dict(boundary=bnd, rnnt_type=rnnt_type, delay_penalty=0.1, reduction="none")
    assert _gradcheck(lambda a, b: ref.rnnt_loss_simple(a, b, symbols, 0, **kw), lm, am)
    assert _gradcheck(lambda a, b: ref.rnnt_loss_smoothed(a, b, symbols, 0, 0.2, 0.1, **kw), lm, am)
    ranges = torch.tensor([[0, 1], [1, 2], [1, 2]]).expand(B, T, 2)
    logits = torch.randn(B, T, 2, C, **f64, requires_grad=True)
    assert _gradcheck(lambda x: ref.rnnt_loss_pruned(x, symbols, ranges, 0, **kw), logits)
    assert _gradcheck(lambda a, b: ref.do_rnnt_pruning(a, b, ranges), am, lm)


# ----------------------------------------------------------------------------- CTC


def test_ctc_reference_equals_torch_ctc_loss_and_gradient():
    B, T, V = 4, 6, 5
    logits = torch.randn(B, T, V, **f64, requires_grad=True)
    targets = torch.tensor([[1, 2, 3], [2, 2, 4], [4, 1, 1], [3, 0, 0]])
    t_len, u_len = _lengths([6, 5, 1, 2], [3, 3, 0, 1])
    got = ref.ctc_loss(logits, targets, t_len, u_len, blank=0, reduction="none")
    log_probs = logits.log_softmax(-1).transpose(0, 1)  # (T, B, V), torch's layout
    want = F.ctc_loss(log_probs, targets, t_len, u_len, blank=0, reduction="none")
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    w = torch.rand(B, **f64)
    g_got, g_want = (torch.autograd.grad((x * w).sum(), logits)[0] for x in (got, want))
    torch.testing.assert_close(g_got, g_want, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(ref.ctc_loss(logits, targets, t_len, u_len, 0), got.mean())


def test_ctc_with_nonzero_blank_and_float32_input():
    logits = torch.randn(2, 5, 4)
    targets = torch.tensor([[0, 1], [2, 2]])
    t_len, u_len = _lengths([5, 4], [2, 2])
    got = ref.ctc_loss(logits, targets, t_len, u_len, blank=3, reduction="sum")
    want = F.ctc_loss(logits.double().log_softmax(-1).transpose(0, 1), targets, t_len, u_len, blank=3,
                      reduction="sum")
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- MI recursion


def _python_mi(px: list, py: list, box: tuple[int, int, int, int], modified: bool) -> float:
    """The recursion on nested lists of floats with math only (no torch)."""
    s0, t0, s1, t1 = box

    def lae(a: float, b: float) -> float:
        if a == -math.inf:
            return b
        return a if b == -math.inf else max(a, b) + math.log1p(math.exp(-abs(a - b)))

    p = {(s0, t0): 0.0}
    for s in range(s0, s1 + 1):
        for t in range(t0, t1 + 1):
            if (s, t) == (s0, t0):
                continue
            sym = -math.inf
            if s > s0 and not modified:
                sym = p[s - 1, t] + px[s - 1][t]
            elif s > s0 and t > t0:
                sym = p[s - 1, t - 1] + px[s - 1][t - 1]
            term = p[s, t - 1] + py[s][t - 1] if t > t0 else -math.inf
            p[s, t] = lae(sym, term)
    return p[s1, t1]


def _boxes(B: int, S: int, T: int, modified: bool) -> torch.Tensor:
    rows = []
    for _ in range(B):
        t0 = int(torch.randint(0, T, ()))
        t1 = int(torch.randint(t0, T + 1, ()))
        s0 = int(torch.randint(0, S + 1, ()))
        s1 = int(torch.randint(s0, (min(S, s0 + t1 - t0) if modified else S) + 1, ()))
        rows.append([s0, t0, s1, t1])
    return torch.tensor(rows)


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_mi_equals_plain_python_dp_on_random_boxes(rnnt_type):
    modified = rnnt_type == "modified"
    B, S, T = 8, 3, 5
    px = torch.randn(B, S, T if modified else T + 1, **f64)
    py = torch.randn(B, S + 1, T, **f64)
    bnd = _boxes(B, S, T, modified)
    got = ref.mutual_information_recursion(px, py, bnd)
    want = [_python_mi(px[b].tolist(), py[b].tolist(), tuple(bnd[b].tolist()), modified) for b in range(B)]
    torch.testing.assert_close(got, torch.tensor(want, **f64), rtol=1e-12, atol=1e-12)
    assert not got.requires_grad


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_mi_occupations_sum_to_one_per_frame_and_vanish_outside_the_box(rnnt_type):
    modified = rnnt_type == "modified"
    B, S, T = 6, 3, 5
    px = torch.randn(B, S, T if modified else T + 1)
    py = torch.randn(B, S + 1, T)
    bnd = _boxes(B, S, T, modified)
    mi, (px_grad, py_grad) = ref.mutual_information_recursion(px, py, bnd, return_grad=True)
    assert mi.dtype == px_grad.dtype == py_grad.dtype == torch.float32
    for b, (s0, t0, s1, t1) in enumerate(bnd.tolist()):
        per_frame = py_grad[b, :, t0:t1].sum(0) + (px_grad[b, :, t0:t1].sum(0) if modified else 0)
        torch.testing.assert_close(per_frame, torch.ones_like(per_frame))
        inside = torch.zeros_like(py_grad[b], dtype=torch.bool)
        inside[s0 : s1 + 1, t0:t1] = True
        assert bool((py_grad[b][~inside] == 0).all())
        assert bool((px_grad[b, :s0] == 0).all()) and bool((px_grad[b, s1:] == 0).all())


def test_mi_gradient_follows_the_callers_graph():
    px = torch.randn(2, 2, 4, **f64, requires_grad=True)
    py = torch.randn(2, 3, 3, **f64, requires_grad=True)
    mi, (gx, gy) = ref.mutual_information_recursion(px * 2, py, return_grad=True)
    w = torch.tensor([0.5, -2.0], **f64)
    (mi * w).sum().backward()
    torch.testing.assert_close(px.grad, 2 * w.reshape(2, 1, 1) * gx)
    torch.testing.assert_close(py.grad, w.reshape(2, 1, 1) * gy)


# ----------------------------------------------------------------------------- simple / smoothed / pruned


def _ragged(B, S, T, t_min=1):
    t_len, u_len = torch.randint(t_min, T + 1, (B,)), torch.randint(0, S + 1, (B,))
    t_len[0], u_len[-1] = T, S
    return t_len, u_len


def _bnd(t_len, u_len):
    zero = torch.zeros_like(t_len)
    return torch.stack([zero, zero, u_len, t_len], dim=1)


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_simple_loss_equals_full_rnnt_loss_of_the_additive_joiner(rnnt_type):
    B, S, T, C = 4, 3, 5, 6
    lm = torch.randn(B, S + 1, C, **f64)
    am = torch.randn(B, T, C, **f64)
    symbols = torch.randint(1, C, (B, S))
    t_len, u_len = _ragged(B, S, T, t_min=S if rnnt_type == "modified" else 1)
    kw = dict(rnnt_type=rnnt_type, delay_penalty=0.2, reduction="none")
    simple = ref.rnnt_loss_simple(lm, am, symbols, 0, _bnd(t_len, u_len), **kw)
    full = ref.rnnt_loss(lm.unsqueeze(1) + am.unsqueeze(2), symbols, t_len, u_len, 0, **kw)
    torch.testing.assert_close(simple, full, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("loss_fn", [ref.rnnt_loss_simple, ref.rnnt_loss_smoothed])
@pytest.mark.parametrize("rnnt_type", TYPES)
def test_simple_and_smoothed_unchanged_by_a_constant_per_frame_of_am(loss_fn, rnnt_type):
    B, S, T, C = 3, 3, 5, 6
    lm, am = torch.randn(B, S + 1, C, **f64), torch.randn(B, T, C, **f64)
    symbols = torch.randint(1, C, (B, S))
    bnd = _bnd(*_ragged(B, S, T, t_min=S))
    kw = dict(boundary=bnd, rnnt_type=rnnt_type, reduction="none")
    base = loss_fn(lm, am, symbols, 0, **kw)
    moved = loss_fn(lm, am + 10 * torch.randn(B, T, 1, **f64), symbols, 0, **kw)
    torch.testing.assert_close(moved, base, rtol=1e-10, atol=1e-10)
    other = loss_fn(lm, am + torch.randn(B, T, C, **f64), symbols, 0, **kw)
    assert not torch.allclose(other, base)


def test_smoothed_with_zero_scales_is_the_simple_loss_and_return_grad_shapes():
    B, S, T, C = 2, 3, 4, 5
    lm, am = torch.randn(B, S + 1, C, **f64), torch.randn(B, T, C, **f64)
    symbols = torch.randint(1, C, (B, S))
    simple, (gx, gy) = ref.rnnt_loss_simple(lm, am, symbols, 0, reduction="sum", return_grad=True)
    assert gx.shape == (B, S, T + 1) and gy.shape == (B, S + 1, T)
    torch.testing.assert_close(ref.rnnt_loss_smoothed(lm, am, symbols, 0, 0.0, 0.0, reduction="sum"), simple)
    torch.testing.assert_close(ref.rnnt_loss_simple(lm, am, symbols, 0), simple / B)


def _assert_windows(ranges, bnd, R, step):
    start = ranges[:, :, 0]
    assert bool((ranges - start.unsqueeze(2) == torch.arange(R)).all())
    assert bool((start[:, 0] == 0).all())
    diff = start[:, 1:] - start[:, :-1]
    assert bool((diff >= 0).all()) and bool((diff <= step).all())
    for b, (_, _, u_b, t_b) in enumerate(bnd.tolist()):
        assert bool((start[b, t_b - 1 :] == max(u_b - R + 1, 0)).all())


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_prune_ranges_are_consecutive_monotone_windows_reaching_the_end(rnnt_type):
    modified = rnnt_type == "modified"
    B, S, T, R = 6, 6, 8, 3
    bnd = _bnd(*_ragged(B, S, T, t_min=S))
    px_grad = torch.rand(B, S, T if modified else T + 1, **f64)
    py_grad = 5 * torch.rand(B, S + 1, T, **f64)
    ranges = ref.get_prune_ranges(px_grad, py_grad, bnd, R)
    assert ranges.shape == (B, T, R) and ranges.dtype == torch.int64
    _assert_windows(ranges, bnd, R, 1 if modified else R - 1)


def test_prune_ranges_follow_a_dominant_path():
    """py occupations 1 on the diagonal s = t // 2 (one symbol every other frame): windows hold it."""
    S, T, R = 3, 6, 2
    py_grad = torch.zeros(1, S + 1, T, **f64)
    for t in range(T):
        py_grad[0, t // 2, t] = 1.0
    ranges = ref.get_prune_ranges(torch.zeros(1, S, T + 1, **f64), py_grad, None, R)
    for t in range(T):
        assert t // 2 in ranges[0, t].tolist()


def test_do_rnnt_pruning_gathers_rows():
    B, S, T, R = 2, 3, 4, 2
    am, lm = torch.randn(B, T, 5), torch.randn(B, S + 1, 7)
    ranges = torch.randint(0, S, (B, T, 1)) + torch.arange(R)
    am_p, lm_p = ref.do_rnnt_pruning(am, lm, ranges)
    assert am_p.shape == (B, T, R, 5) and lm_p.shape == (B, T, R, 7)
    for b, t, r in [(0, 0, 0), (1, 3, 1), (1, 2, 0)]:
        assert torch.equal(am_p[b, t, r], am[b, t]) and torch.equal(lm_p[b, t, r], lm[b, ranges[b, t, r]])


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_pruned_loss_equals_full_loss_when_the_range_covers_all_symbols(rnnt_type):
    """Same linear joiner on both sides: logits = (am_p + lm_p) @ W, pruned on ranges of width S+1."""
    B, S, T, C, H = 3, 3, 5, 6, 4
    t_len, u_len = _ragged(B, S, T, t_min=S if rnnt_type == "modified" else 1)
    bnd = _bnd(t_len, u_len)
    symbols = torch.randint(1, C, (B, S))
    lm, am = torch.randn(B, S + 1, C, **f64), torch.randn(B, T, C, **f64)
    _, (gx, gy) = ref.rnnt_loss_simple(lm, am, symbols, 0, bnd, rnnt_type, return_grad=True)
    ranges = ref.get_prune_ranges(gx, gy, bnd, S + 3)
    assert ranges.shape == (B, T, S + 1)
    enc = torch.randn(B, T, H, **f64, requires_grad=True)
    dec = torch.randn(B, S + 1, H, **f64, requires_grad=True)
    w = torch.randn(H, C, **f64)
    kw = dict(rnnt_type=rnnt_type, delay_penalty=0.1, reduction="none")
    am_p, lm_p = ref.do_rnnt_pruning(enc, dec, ranges)
    pruned = ref.rnnt_loss_pruned((am_p + lm_p) @ w, symbols, ranges, 0, bnd, **kw)
    full = ref.rnnt_loss((enc.unsqueeze(2) + dec.unsqueeze(1)) @ w, symbols, t_len, u_len, 0, **kw)
    torch.testing.assert_close(pruned, full, rtol=1e-10, atol=1e-10)
    g_pruned = torch.autograd.grad(pruned.sum(), [enc, dec])
    g_full = torch.autograd.grad(full.sum(), [enc, dec])
    for got, want in zip(g_pruned, g_full):
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)


def test_pruned_loss_with_narrow_ranges_is_an_upper_bound_of_the_full_loss():
    B, S, T, C = 2, 4, 6, 5
    logits_full = torch.randn(B, T, S + 1, C, **f64)
    symbols = torch.randint(1, C, (B, S))
    starts = torch.tensor([0, 0, 1, 2, 2, 3])  # monotone, steps <= R - 1, ends at S - R + 1
    ranges = (starts.reshape(1, T, 1) + torch.arange(2)).expand(B, T, 2)
    pruned = ref.rnnt_loss_pruned(torch.gather(logits_full, 2, ranges.unsqueeze(3).expand(B, T, 2, C)),
                                  symbols, ranges, 0, reduction="none")
    full = ref.rnnt_loss(logits_full, symbols, torch.full((B,), T), torch.full((B,), S), 0, "none")
    assert bool((pruned >= full - 1e-12).all()) and bool(torch.isfinite(pruned).all())


# ----------------------------------------------------------------------------- dtypes, reductions, errors


def test_outputs_keep_the_input_dtype_and_reductions_agree():
    logits = torch.randn(3, 4, 3, 5, requires_grad=True)
    targets = torch.randint(1, 5, (3, 2))
    t_len, u_len = _lengths([4, 2, 1], [2, 1, 0])
    per = ref.rnnt_loss(logits, targets, t_len, u_len, 0, "none")
    assert per.dtype == torch.float32 and per.shape == (3,)
    torch.testing.assert_close(ref.rnnt_loss(logits, targets, t_len, u_len, 0, "sum"), per.sum())
    torch.testing.assert_close(ref.rnnt_loss(logits, targets, t_len, u_len, 0), per.mean())
    (grad,) = torch.autograd.grad(per.sum(), logits)
    assert grad.dtype == torch.float32
    assert bool((grad[1, 2:] == 0).all()) and bool((grad[2, :, 1:] == 0).all())  # padding gets no gradient
    clamped = ref.rnnt_loss(logits, targets, t_len, u_len, 0, "none", clamp=0.1)
    assert clamped.dtype == torch.float32
    tdt = ref.tdt_loss(torch.randn(3, 4, 3, 7), targets, t_len, u_len, 0, [0, 1], reduction="none")
    assert tdt.dtype == torch.float32 and tdt.shape == (3,)


def test_padding_garbage_never_reaches_the_losses():
    logits = torch.randn(2, 4, 3, 5, **f64)
    targets = torch.tensor([[1, 2], [3, -7]])  # padded target slot holds an invalid id
    t_len, u_len = _lengths([4, 2], [2, 1])
    base = ref.rnnt_loss(logits, targets, t_len, u_len, 0, "none")
    dirty = logits.clone()
    dirty[1, 2:] = float("nan")
    dirty[1, :, 2] = float("inf")
    torch.testing.assert_close(ref.rnnt_loss(dirty, targets, t_len, u_len, 0, "none"), base)


def test_bad_inputs_raise_value_errors_naming_the_problem():
    logits = torch.randn(2, 3, 3, 4)
    targets = torch.randint(1, 4, (2, 2))
    t_len, u_len = _lengths([3, 2], [2, 1])
    cases = [
        (lambda: ref.rnnt_loss(logits, targets, t_len, u_len, 0, "avg"), "reduction"),
        (lambda: ref.rnnt_loss(logits, targets, t_len, u_len, 0, rnnt_type="x"), "rnnt_type"),
        (lambda: ref.rnnt_loss(logits, targets, torch.tensor([4, 2]), u_len, 0), "logit_lengths"),
        (lambda: ref.rnnt_loss(logits, targets, t_len, torch.tensor([3, 1]), 0), "target_lengths"),
        (lambda: ref.rnnt_loss(logits, targets + 3, t_len, u_len, 0), "targets"),
        (lambda: ref.rnnt_loss(logits, targets, t_len, u_len, 4), "blank"),
        (lambda: ref.rnnt_loss(logits[0], targets, t_len, u_len, 0), "logits"),
        (lambda: ref.tdt_loss(logits, targets, t_len, u_len, 0, [0]), "durations"),
        (lambda: ref.tdt_loss(logits, targets, t_len, u_len, 0, [1, 1]), "durations"),
        (lambda: ref.ctc_loss(logits[:, :, 0], targets, t_len, u_len, 0, "x"), "reduction"),
        (lambda: ref.mutual_information_recursion(torch.randn(2, 2, 4), torch.randn(2, 2, 3)), "py"),
        (lambda: ref.mutual_information_recursion(torch.randn(2, 2, 4), torch.randn(2, 3, 3),
                                                  torch.tensor([[0, 0, 3, 3], [0, 0, 1, 1]])), "boundary"),
        (lambda: ref.rnnt_loss_simple(torch.randn(2, 3, 4), torch.randn(2, 5, 3), targets, 0), "agreeing"),
        (lambda: ref.rnnt_loss_simple(torch.randn(2, 3, 4), torch.randn(2, 5, 4), targets, 4), "termination"),
        (lambda: ref.get_prune_ranges(torch.zeros(2, 2, 4), torch.zeros(2, 3, 3), None, 1), "s_range"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()


@pytest.mark.gpu
def test_reference_runs_on_cuda_tensors_and_matches_cpu():
    logits = torch.randn(2, 4, 3, 5, **f64)
    targets = torch.randint(1, 5, (2, 2))
    t_len, u_len = _lengths([4, 2], [2, 1])
    cpu = ref.rnnt_loss(logits, targets, t_len, u_len, 0, "none", delay_penalty=0.1)
    gpu = ref.rnnt_loss(*(x.cuda() for x in (logits, targets, t_len, u_len)), 0, "none", delay_penalty=0.1)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu)
    tdt = ref.tdt_loss(torch.randn(2, 4, 3, 7, **f64).cuda(), targets.cuda(), t_len.cuda(), u_len.cuda(), 0,
                       [0, 1], reduction="none")
    ctc = ref.ctc_loss(logits[:, :, 0].cuda(), targets.cuda(), t_len.cuda(), u_len.cuda(), 0, "none", 0.1)
    px, py = torch.randn(2, 2, 5, **f64), torch.randn(2, 3, 4, **f64)
    mi = ref.mutual_information_recursion(px.cuda(), py.cuda())
    torch.testing.assert_close(mi.cpu(), ref.mutual_information_recursion(px, py))
    assert tdt.device.type == ctc.device.type == "cuda"
