"""Pruned RNN-T family (k2 semantics): MI recursion, simple/smoothed/pruned losses, prune ranges.

Oracles: a plain-Python float64 DP written here, kernels.reference (the project's float64 oracle),
the full RNN-T loss on the equivalent joiner, and invariances (per-frame constants, path counts).
B: batch, S: symbols (U), T: frames, C: classes, R: s_range.
"""

from __future__ import annotations

import math

import pytest
import torch
from transduce.kernels import (
    do_rnnt_pruning,
    get_prune_ranges,
    mutual_information_recursion,
    rnnt_loss_pruned,
    rnnt_loss_simple,
    rnnt_loss_smoothed,
)
from transduce.kernels import reference as ref

TYPES = ["regular", "modified"]


def _ragged(B: int, S: int, T: int, *, t_min: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random lengths: T_b in [t_min, T] (one utterance uses all T), U_b in [0, S] (one uses all S)."""
    t_len = torch.randint(t_min, T + 1, (B,))
    u_len = torch.randint(0, S + 1, (B,))
    t_len[0], u_len[-1] = T, S
    return t_len, u_len


def _boundary(t_len: torch.Tensor, u_len: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.zeros_like(t_len), torch.zeros_like(t_len), u_len, t_len], dim=1)


def _loop_mi(px: torch.Tensor, py: torch.Tensor, bnd: list[int], modified: bool) -> torch.Tensor:
    """The recursion for one utterance with Python loops over scalars (differentiable, float64)."""
    s0, t0, s1, t1 = bnd
    neg = px.new_tensor(-math.inf)
    p = {(s0, t0): px.new_zeros(())}
    for s in range(s0, s1 + 1):
        for t in range(t0, t1 + 1):
            if (s, t) == (s0, t0):
                continue
            a = neg
            if s > s0 and not modified:
                a = p[s - 1, t] + px[s - 1, t]
            elif s > s0 and t > t0:
                a = p[s - 1, t - 1] + px[s - 1, t - 1]
            b = p[s, t - 1] + py[s, t - 1] if t > t0 else neg
            p[s, t] = torch.logaddexp(a, b)
    return p[s1, t1]


def _random_lattice(B, S, T, modified, dtype=torch.float64):
    px = torch.randn(B, S, T if modified else T + 1, dtype=dtype).requires_grad_()
    py = torch.randn(B, S + 1, T, dtype=dtype).requires_grad_()
    return px, py


def _random_boundary(B, S, T, modified):
    """Random (s_begin, t_begin, s_end, t_end) boxes; the modified lattice needs s_end-s_begin <= frames."""
    rows = []
    for _ in range(B):
        t0 = int(torch.randint(0, T, ()))
        t1 = int(torch.randint(t0 + 1, T + 1, ()))
        s0 = int(torch.randint(0, S + 1, ()))
        s_max = min(S, s0 + (t1 - t0)) if modified else S
        s1 = int(torch.randint(s0, s_max + 1, ()))
        rows.append([s0, t0, s1, t1])
    return torch.tensor(rows)


# ----------------------------------------------------------------------------- MI recursion


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_mi_cpu_matches_loop_oracle_and_reference_with_random_boundaries(rnnt_type):
    modified = rnnt_type == "modified"
    B, S, T = 5, 4, 6
    px, py = _random_lattice(B, S, T, modified)
    bnd = _random_boundary(B, S, T, modified)
    mi, (px_grad, py_grad) = mutual_information_recursion(px, py, bnd, return_grad=True, backend="cpu")
    want = torch.stack([_loop_mi(px[b], py[b], bnd[b].tolist(), modified) for b in range(B)])
    torch.testing.assert_close(mi, want.detach(), rtol=1e-5, atol=0)
    gx, gy = torch.autograd.grad(want.sum(), [px, py])
    torch.testing.assert_close(px_grad, gx, rtol=0, atol=1e-4)
    torch.testing.assert_close(py_grad, gy, rtol=0, atol=1e-4)
    mi_ref, (rx, ry) = ref.mutual_information_recursion(px, py, bnd, return_grad=True)
    torch.testing.assert_close(mi, mi_ref.detach(), rtol=1e-5, atol=0)
    torch.testing.assert_close(px_grad, rx.to(px_grad.dtype), rtol=0, atol=1e-4)
    torch.testing.assert_close(py_grad, ry.to(py_grad.dtype), rtol=0, atol=1e-4)


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_mi_edge_cases_short_frames_empty_targets_single_frame(rnnt_type):
    modified = rnnt_type == "modified"
    B, S, T = 4, 3, 5
    px, py = _random_lattice(B, S, T, modified, dtype=torch.float32)
    # T_b < T; U_b = 0; T_b = 1 (with one symbol); T_b = 1 and U_b = 0
    bnd = torch.tensor([[0, 0, 3, 4], [0, 0, 0, 5], [0, 0, 1, 1], [0, 0, 0, 1]])
    mi, (px_grad, py_grad) = mutual_information_recursion(px, py, bnd, return_grad=True, backend="cpu")
    assert mi.dtype == torch.float32 and px_grad.shape == px.shape and py_grad.shape == py.shape
    px64, py64 = px.double(), py.double()
    want = torch.stack([_loop_mi(px64[b], py64[b], bnd[b].tolist(), modified) for b in range(B)])
    torch.testing.assert_close(mi.double(), want.detach(), rtol=1e-5, atol=1e-5)
    # U_b = 0: the only path is T_b blanks along s = 0
    torch.testing.assert_close(mi[1], py[1, 0, :5].sum().detach(), rtol=1e-5, atol=1e-5)
    mi_ref = ref.mutual_information_recursion(px.double(), py.double(), bnd)
    torch.testing.assert_close(mi.double(), mi_ref.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_mi_occupations_sum_to_one_per_frame(rnnt_type):
    """Every path crosses each frame of the box exactly once: by a blank (regular) or by one arc
    (modified), so the occupations of those arcs sum to 1 per frame."""
    modified = rnnt_type == "modified"
    B, S, T = 3, 4, 7
    px, py = _random_lattice(B, S, T, modified)
    bnd = _random_boundary(B, S, T, modified)
    _, (px_grad, py_grad) = mutual_information_recursion(px, py, bnd, return_grad=True, backend="cpu")
    for b, (_, t0, _, t1) in enumerate(bnd.tolist()):
        per_frame = py_grad[b, :, t0:t1].sum(0) + (px_grad[b, :, t0:t1].sum(0) if modified else 0)
        torch.testing.assert_close(per_frame, torch.ones_like(per_frame), rtol=0, atol=1e-9)
        outside = torch.cat([py_grad[b, :, :t0], py_grad[b, :, t1:]], dim=1)
        assert bool((outside == 0).all())


def test_mi_backward_scales_by_grad_output_and_matches_return_grad():
    B, S, T = 3, 3, 4
    px, py = _random_lattice(B, S, T, modified=False)
    mi, (px_grad, py_grad) = mutual_information_recursion(px, py, return_grad=True, backend="cpu")
    w = torch.randn(B, dtype=torch.float64)
    (mi * w).sum().backward()
    torch.testing.assert_close(px.grad, w.reshape(B, 1, 1) * px_grad)
    torch.testing.assert_close(py.grad, w.reshape(B, 1, 1) * py_grad)
    assert not px_grad.requires_grad and not py_grad.requires_grad


def test_mi_rejects_bad_shapes_and_boundaries():
    px, py = _random_lattice(2, 3, 4, modified=False)
    with pytest.raises(ValueError, match="py must be"):
        mutual_information_recursion(px, py[:, :3])
    with pytest.raises(ValueError, match="px must be"):
        mutual_information_recursion(px[:, :, :2], py)
    with pytest.raises(ValueError, match="boundary"):
        mutual_information_recursion(px, py, torch.tensor([[0, 0, 4, 4], [0, 0, 1, 1]]))
    with pytest.raises(ValueError, match="boundary"):
        mutual_information_recursion(px, py, torch.tensor([[0, 3, 1, 2], [0, 0, 1, 1]]))
    with pytest.raises(ValueError, match="backend"):
        mutual_information_recursion(px, py, backend="gpu")


# ----------------------------------------------------------------------------- simple / smoothed


def _lm_am(B, S, T, C, dtype=torch.float64):
    lm = torch.randn(B, S + 1, C, dtype=dtype).requires_grad_()
    am = torch.randn(B, T, C, dtype=dtype).requires_grad_()
    return lm, am


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_simple_loss_equals_full_rnnt_loss_of_additive_joiner(rnnt_type):
    B, S, T, C, blank = 4, 4, 6, 7, 2
    lm, am = _lm_am(B, S, T, C)
    t_len, u_len = _ragged(B, S, T, t_min=S if rnnt_type == "modified" else 1)
    symbols = torch.randint(0, C, (B, S))
    loss = rnnt_loss_simple(lm, am, symbols, blank, _boundary(t_len, u_len), rnnt_type, reduction="none")
    logits = lm.unsqueeze(1) + am.unsqueeze(2)  # (B, T, S+1, C)
    full = ref.rnnt_loss(logits, symbols, t_len, u_len, blank, reduction="none", rnnt_type=rnnt_type)
    torch.testing.assert_close(loss, full, rtol=1e-5, atol=1e-6)
    g_simple = torch.autograd.grad(loss.sum(), [lm, am])
    g_full = torch.autograd.grad(full.sum(), [lm, am])
    for got, want in zip(g_simple, g_full):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-4)


@pytest.mark.parametrize("loss_fn", [rnnt_loss_simple, rnnt_loss_smoothed])
def test_simple_and_smoothed_unchanged_by_per_frame_constants_on_am(loss_fn):
    B, S, T, C = 3, 3, 5, 6
    lm, am = _lm_am(B, S, T, C)
    symbols = torch.randint(1, C, (B, S))
    bnd = _boundary(*_ragged(B, S, T))
    shift = 10 * torch.randn(B, T, 1, dtype=torch.float64)
    base = loss_fn(lm, am, symbols, 0, boundary=bnd, reduction="none")
    moved = loss_fn(lm, am + shift, symbols, 0, boundary=bnd, reduction="none")
    torch.testing.assert_close(moved, base, rtol=1e-5, atol=1e-8)
    lm_moved = loss_fn(lm + 10 * torch.randn(B, S + 1, 1, dtype=torch.float64), am, symbols, 0,
                       boundary=bnd, reduction="none")
    torch.testing.assert_close(lm_moved, base, rtol=1e-5, atol=1e-8)


def test_simple_loss_reductions_return_grad_and_backends_agree():
    B, S, T, C = 3, 3, 5, 6
    lm, am = _lm_am(B, S, T, C)
    symbols = torch.randint(1, C, (B, S))
    per_utt, (px_grad, py_grad) = rnnt_loss_simple(lm, am, symbols, 0, reduction="none", return_grad=True)
    assert per_utt.shape == (B,) and px_grad.shape == (B, S, T + 1) and py_grad.shape == (B, S + 1, T)
    torch.testing.assert_close(rnnt_loss_simple(lm, am, symbols, 0), per_utt.sum() / B)
    torch.testing.assert_close(rnnt_loss_simple(lm, am, symbols, 0, reduction="sum"), per_utt.sum())
    via_ref = rnnt_loss_simple(lm, am, symbols, 0, reduction="none", backend="reference")
    torch.testing.assert_close(per_utt, via_ref, rtol=1e-5, atol=0)
    want = ref.rnnt_loss_simple(lm, am, symbols, 0, reduction="none")
    torch.testing.assert_close(per_utt, want, rtol=1e-5, atol=0)


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_simple_and_smoothed_match_reference_with_delay_penalty(rnnt_type):
    B, S, T, C = 3, 3, 6, 6
    lm, am = _lm_am(B, S, T, C)
    symbols = torch.randint(1, C, (B, S))
    bnd = _boundary(*_ragged(B, S, T, t_min=S))
    kw = dict(boundary=bnd, rnnt_type=rnnt_type, delay_penalty=0.3, reduction="none", return_grad=True)
    got, (gx, gy) = rnnt_loss_simple(lm, am, symbols, 0, **kw)
    want, (wx, wy) = ref.rnnt_loss_simple(lm, am, symbols, 0, **kw)
    torch.testing.assert_close(got, want.detach(), rtol=1e-5, atol=0)
    torch.testing.assert_close(gx, wx.to(gx.dtype), rtol=0, atol=1e-4)
    torch.testing.assert_close(gy, wy.to(gy.dtype), rtol=0, atol=1e-4)
    got = rnnt_loss_smoothed(lm, am, symbols, 0, 0.2, 0.1, **kw)[0]
    want = ref.rnnt_loss_smoothed(lm, am, symbols, 0, 0.2, 0.1, **kw)[0]
    torch.testing.assert_close(got, want.detach(), rtol=1e-5, atol=0)


def test_smoothed_with_zero_scales_is_the_simple_loss():
    B, S, T, C = 2, 3, 4, 5
    lm, am = _lm_am(B, S, T, C)
    symbols = torch.randint(1, C, (B, S))
    smoothed = rnnt_loss_smoothed(lm, am, symbols, 0, 0.0, 0.0, reduction="none")
    torch.testing.assert_close(smoothed, rnnt_loss_simple(lm, am, symbols, 0, reduction="none"))
    mixed = rnnt_loss_smoothed(lm, am, symbols, 0, 0.25, 0.25, reduction="none")
    assert not torch.allclose(mixed, smoothed)


def test_losses_reject_bad_arguments():
    lm, am = _lm_am(2, 3, 4, 5)
    symbols = torch.randint(1, 5, (2, 3))
    with pytest.raises(ValueError, match="rnnt_type"):
        rnnt_loss_simple(lm, am, symbols, 0, rnnt_type="constrained")
    with pytest.raises(ValueError, match="reduction"):
        rnnt_loss_simple(lm, am, symbols, 0, reduction="avg")
    with pytest.raises(ValueError, match="termination_symbol"):
        rnnt_loss_simple(lm, am, symbols, 5)
    with pytest.raises(ValueError, match="symbols"):
        rnnt_loss_simple(lm, am, symbols[:, :2], 0)
    with pytest.raises(ValueError, match="symbols"):
        rnnt_loss_simple(lm, am, symbols.float(), 0)
    with pytest.raises(ValueError, match="agree"):
        rnnt_loss_simple(lm, am[..., :4], symbols, 0)
    with pytest.raises(ValueError, match="lm_only_scale"):
        rnnt_loss_smoothed(lm, am, symbols, 0, 0.7, 0.6)
    logits = torch.randn(2, 4, 2, 5)
    with pytest.raises(ValueError, match="ranges"):
        rnnt_loss_pruned(logits, symbols, torch.full((2, 4, 2), 4), 0)
    with pytest.raises(ValueError, match="s_range"):
        get_prune_ranges(torch.zeros(2, 3, 5), torch.zeros(2, 4, 4), None, 1)


# ----------------------------------------------------------------------------- ranges and pruned loss


def _joiner(am_p: torch.Tensor, lm_p: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """A fixed non-linear joiner: tanh(am + lm) @ W, broadcasting over any leading dims."""
    return torch.tanh(am_p + lm_p) @ w


@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("extra", [0, 2])
def test_pruned_loss_equals_full_loss_when_ranges_cover_all_symbols(rnnt_type, extra):
    B, S, T, C, H, blank = 3, 3, 5, 6, 8, 0
    t_len, u_len = _ragged(B, S, T, t_min=S if rnnt_type == "modified" else 1)
    bnd = _boundary(t_len, u_len)
    symbols = torch.randint(1, C, (B, S))
    lm, am = _lm_am(B, S, T, C)
    _, (px_grad, py_grad) = rnnt_loss_simple(lm, am, symbols, blank, bnd, rnnt_type, return_grad=True)
    ranges = get_prune_ranges(px_grad, py_grad, bnd, S + 1 + extra)
    assert ranges.shape == (B, T, S + 1)
    am_p = torch.randn(B, T, H, dtype=torch.float64, requires_grad=True)
    lm_p = torch.randn(B, S + 1, H, dtype=torch.float64, requires_grad=True)
    w = torch.randn(H, C, dtype=torch.float64, requires_grad=True)
    logits = _joiner(*do_rnnt_pruning(am_p, lm_p, ranges), w)  # (B, T, S+1, C)
    kw = dict(rnnt_type=rnnt_type, delay_penalty=0.1, reduction="none")
    pruned = rnnt_loss_pruned(logits, symbols, ranges, blank, bnd, **kw)
    full = ref.rnnt_loss(_joiner(am_p.unsqueeze(2), lm_p.unsqueeze(1), w), symbols, t_len, u_len, blank, **kw)
    torch.testing.assert_close(pruned, full, rtol=1e-5, atol=1e-6)
    g_pruned = torch.autograd.grad(pruned.sum(), [am_p, lm_p, w])
    g_full = torch.autograd.grad(full.sum(), [am_p, lm_p, w])
    for got, want in zip(g_pruned, g_full):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-4)


def _planted(B, S, T, R, modified):
    """Lattices with one dominant alignment (arcs 0 on it, about -8 elsewhere); at most R-1 symbols
    per frame (at most 1 for modified). Returns px, py, boundary and the path's nodes per frame."""
    px = -8 + torch.randn(B, S, T if modified else T + 1, dtype=torch.float64)
    py = -8 + torch.randn(B, S + 1, T, dtype=torch.float64)
    t_len, u_len = _ragged(B, S, T, t_min=S)
    nodes = []
    for b in range(B):
        per_frame = 1 if modified else R - 1
        counts = torch.zeros(int(t_len[b]), dtype=torch.long)
        for _ in range(int(u_len[b])):  # drop each symbol on a random frame that still has room
            free = (counts < per_frame).nonzero().flatten()
            counts[free[torch.randint(len(free), ())]] += 1
        s, frames = 0, []
        for t, c in enumerate(counts.tolist()):
            frames.append(list(range(s, s + c + 1)))
            if modified and c:
                px[b, s, t] = 0.0
            elif modified:
                py[b, s, t] = 0.0
            else:
                px[b, s : s + c, t] = 0.0
                py[b, s + c, t] = 0.0
            s += c
        nodes.append(frames if not modified else [f[:1] for f in frames])
    return px, py, _boundary(t_len, u_len), nodes


def _assert_valid_windows(ranges, bnd, S, s_range, modified):
    """k2's constraints: consecutive windows, start 0 at t = 0, non-decreasing, no symbol skipped,
    ending on [U_b - R + 1, U_b] (clipped at 0) from frame T_b - 1 on."""
    B, T, _ = ranges.shape
    assert ranges.shape == (B, T, s_range) and ranges.dtype == torch.int64
    start = ranges[:, :, 0]
    torch.testing.assert_close(ranges - start.unsqueeze(2), torch.arange(s_range).expand(B, T, s_range))
    step = start[:, 1:] - start[:, :-1]
    assert bool((step >= 0).all()) and bool((step <= (1 if modified else s_range - 1)).all())
    assert bool((start[:, 0] == 0).all()) and bool((ranges <= S).all())
    for b, (_, _, u_b, t_b) in enumerate(bnd.tolist()):
        top = max(u_b - s_range + 1, 0)
        assert bool((start[b] <= top).all()) and bool((start[b, t_b - 1 :] == top).all())


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_prune_ranges_constraints_hold_for_arbitrary_occupations(rnnt_type):
    modified = rnnt_type == "modified"
    B, S, T, s_range = 8, 7, 9, 3
    bnd = _boundary(*_ragged(B, S, T, t_min=S))
    px_grad = 0.1 * torch.rand(B, S, T if modified else T + 1)
    py_grad = 10 * torch.rand(B, S + 1, T)
    py_grad[0, S] = 100.0  # utterance 0 "emits every symbol on frame 0": the windows must still rise from 0
    ranges = get_prune_ranges(px_grad, py_grad, bnd, s_range)
    _assert_valid_windows(ranges, bnd, S, s_range, modified)
    torch.testing.assert_close(ranges, ref.get_prune_ranges(px_grad, py_grad, bnd, s_range))


@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("s_range", [2, 3])
def test_prune_ranges_are_valid_windows_holding_the_best_path(rnnt_type, s_range):
    modified = rnnt_type == "modified"
    B, S, T = 6, 6, 8
    px, py, bnd, nodes = _planted(B, S, T, s_range, modified)
    _, (px_grad, py_grad) = mutual_information_recursion(px, py, bnd, return_grad=True)
    ranges = get_prune_ranges(px_grad, py_grad, bnd, s_range)
    _assert_valid_windows(ranges, bnd, S, s_range, modified)
    for b in range(B):
        for t, visited in enumerate(nodes[b]):
            assert set(visited) <= set(ranges[b, t].tolist()), (b, t, visited, ranges[b, t])
    want = ref.get_prune_ranges(px_grad, py_grad, bnd, s_range)
    torch.testing.assert_close(ranges, want)


def test_training_step_simple_then_pruned_gives_finite_losses_and_gradients():
    B, T, S, C, D, H, s_range = 4, 20, 6, 12, 16, 24, 5
    t_len, u_len = _ragged(B, S, T, t_min=T // 2)
    bnd = _boundary(t_len, u_len)
    symbols = torch.randint(1, C, (B, S))
    enc = torch.randn(B, T, D)
    dec = torch.randn(B, S + 1, D)
    am_proj, lm_proj = torch.nn.Linear(D, C), torch.nn.Linear(D, C)
    enc_proj, dec_proj = torch.nn.Linear(D, H), torch.nn.Linear(D, H)
    out = torch.nn.Linear(H, C)
    simple, (px_grad, py_grad) = rnnt_loss_smoothed(
        lm_proj(dec), am_proj(enc), symbols, 0, boundary=bnd, return_grad=True
    )
    ranges = get_prune_ranges(px_grad, py_grad, bnd, s_range)
    am_pruned, lm_pruned = do_rnnt_pruning(enc_proj(enc), dec_proj(dec), ranges)
    logits = out(torch.tanh(am_pruned + lm_pruned))  # (B, T, s_range, C)
    pruned = rnnt_loss_pruned(logits, symbols, ranges, 0, bnd)
    (0.5 * simple + pruned).backward()
    simple, pruned = float(simple.detach()), float(pruned.detach())
    assert math.isfinite(simple) and math.isfinite(pruned) and pruned > 0
    for module in (am_proj, lm_proj, enc_proj, dec_proj, out):
        grad = module.weight.grad
        assert grad is not None and bool(torch.isfinite(grad).all()) and float(grad.abs().sum()) > 0
