"""The float64 reference losses equal brute-force enumeration of every alignment on tiny cases.

Each oracle here lists the alignments explicitly (itertools / a depth-first walk), scores each path
by summing arc log-probs, and takes -logsumexp over paths; autograd through that sum gives an
independent gradient. B: batch, T: frames, U: target length, V: vocabulary, D: durations.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from transduce.kernels import reference as ref

BLANK = 0


def _logsumexp_paths(scores: list[torch.Tensor]) -> torch.Tensor:
    """log sum_paths exp(score); -inf (no path) when the list is empty."""
    if not scores:
        return torch.tensor(float("-inf"), dtype=torch.float64)
    return torch.logsumexp(torch.stack(scores), dim=0)


def _rnnt_paths(t_len: int, u_len: int, modified: bool):
    """Every alignment as a list of (frame, emitted-so-far, is_label) arcs.

    regular: T_b blanks and U_b labels in any order, the last arc a blank (label arcs stay on their frame);
    modified: each frame carries exactly one arc, a blank or one label.
    """
    if modified:
        for label_frames in itertools.combinations(range(t_len), u_len):
            arcs, u = [], 0
            for t in range(t_len):
                arcs.append((t, u, t in label_frames))
                u += t in label_frames
            yield arcs
        return
    n = t_len + u_len - 1
    for label_steps in itertools.combinations(range(n), u_len):
        arcs, t, u = [], 0, 0
        for i in range(n):
            arcs.append((t, u, i in label_steps))
            t, u = (t, u + 1) if i in label_steps else (t + 1, u)
        arcs.append((t, u, False))
        yield arcs


def _rnnt_bruteforce(logits, targets, t_lens, u_lens, modified, delay_penalty=0.0, fastemit_lambda=0.0):
    """Per-utterance losses (B,) by enumeration; label arcs get the delay shift, and FastEmit scales
    their gradient by (1 + lambda) without changing the value."""
    log_probs = logits.double().log_softmax(-1)
    losses = []
    for b, (t_len, u_len) in enumerate(zip(t_lens, u_lens)):
        centre = (t_len - 1) / 2
        scores = []
        for arcs in _rnnt_paths(t_len, u_len, modified):
            total = log_probs.new_zeros(())
            for t, u, is_label in arcs:
                if is_label:
                    lp = log_probs[b, t, u, int(targets[b, u])] + delay_penalty * (centre - t)
                    total = total + (1 + fastemit_lambda) * lp - fastemit_lambda * lp.detach()
                else:
                    total = total + log_probs[b, t, u, BLANK]
            scores.append(total)
        losses.append(-_logsumexp_paths(scores))
    return torch.stack(losses)


def _ragged_case(T=4, U=3, V=4, B=5):
    """Lengths covering T_b = T, T_b < T, U_b = 0, T_b = 1 (with and without labels) and U_b = U."""
    t_lens = [T, T - 1, 1, 2, 1][:B]
    u_lens = [U, 2, 0, 0, 1][:B]
    logits = torch.randn(B, T, U + 1, V, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(1, V, (B, U))
    return logits, targets, t_lens, u_lens


@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
@pytest.mark.parametrize("delay_penalty", [0.0, 0.4])
def test_rnnt_reference_equals_bruteforce_loss_and_gradient(rnnt_type, delay_penalty):
    modified = rnnt_type == "modified"
    logits, targets, t_lens, u_lens = _ragged_case()
    if modified:
        u_lens[-1] = 1  # T_b = 1 with one label: a single path (the label on frame 0)
    kw = dict(rnnt_type=rnnt_type, delay_penalty=delay_penalty)
    got = ref.rnnt_loss(logits, targets, torch.tensor(t_lens), torch.tensor(u_lens), BLANK, "none", **kw)
    want = _rnnt_bruteforce(logits, targets, t_lens, u_lens, modified, delay_penalty)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    w = torch.rand(len(t_lens), dtype=torch.float64)
    (g_got,) = torch.autograd.grad((got * w).sum(), logits)
    (g_want,) = torch.autograd.grad((want * w).sum(), logits)
    torch.testing.assert_close(g_got, g_want, rtol=1e-9, atol=1e-10)


def test_modified_rnnt_without_any_alignment_is_infinite_with_zero_gradient():
    logits = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(1, 5, (2, 3))
    t_lens, u_lens = torch.tensor([2, 3]), torch.tensor([3, 3])  # U_b = 3 > T_b = 2: no path
    got = ref.rnnt_loss(logits, targets, t_lens, u_lens, BLANK, "none", "modified")
    want = _rnnt_bruteforce(logits, targets, [2, 3], [3, 3], modified=True)
    assert got[0] == float("inf") and want[0] == float("inf")
    torch.testing.assert_close(got[1], want[1])
    (grad,) = torch.autograd.grad(got[0], logits)
    assert bool((grad == 0).all())


@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
def test_fastemit_keeps_the_value_and_scales_label_gradients_like_bruteforce(rnnt_type):
    modified = rnnt_type == "modified"
    logits, targets, t_lens, u_lens = _ragged_case()
    if modified:
        u_lens[0] = 3
    lam = 0.5
    args = (logits, targets, torch.tensor(t_lens), torch.tensor(u_lens), BLANK, "sum", rnnt_type)
    got = ref.rnnt_loss(*args, fastemit_lambda=lam)
    torch.testing.assert_close(got, ref.rnnt_loss(*args), rtol=1e-12, atol=0)
    want = _rnnt_bruteforce(logits, targets, t_lens, u_lens, modified, fastemit_lambda=lam).sum()
    (g_got,) = torch.autograd.grad(got, logits)
    (g_want,) = torch.autograd.grad(want, logits)
    torch.testing.assert_close(g_got, g_want, rtol=1e-9, atol=1e-10)
    (g_plain,) = torch.autograd.grad(ref.rnnt_loss(*args), logits)
    assert not torch.allclose(g_got, g_plain)


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_clamp_clips_each_utterance_gradient_of_the_bruteforce_loss(reduction):
    logits, targets, t_lens, u_lens = _ragged_case()
    clamp = 0.02
    got = ref.rnnt_loss(logits, targets, torch.tensor(t_lens), torch.tensor(u_lens), BLANK, reduction,
                        clamp=clamp)
    plain = _rnnt_bruteforce(logits, targets, t_lens, u_lens, modified=False)
    torch.testing.assert_close(got, plain if reduction == "none" else plain.mean())
    w = torch.rand(len(t_lens), dtype=torch.float64) if reduction == "none" else torch.tensor(1.0)
    (g_got,) = torch.autograd.grad((got * w).sum(), logits)
    # each logit belongs to one utterance: grad of sum_b loss_b holds every per-utterance gradient
    (g_utt,) = torch.autograd.grad(plain.sum(), logits)
    scale = w.reshape(-1, 1, 1, 1) if reduction == "none" else 1 / len(t_lens)
    torch.testing.assert_close(g_got, g_utt.clamp(-clamp, clamp) * scale, rtol=1e-9, atol=1e-12)
    assert float(g_utt.abs().max()) > clamp  # the clamp really cut something


def _tdt_paths(t_len: int, u_len: int, durations: list[int]):
    """Every TDT alignment as (frame, emitted-so-far, duration index, is_label) arcs, depth-first:
    labels land before T_b, blanks need d > 0, and the path ends with a blank landing exactly on T_b."""
    stack = [(0, 0, [])]
    while stack:
        t, u, arcs = stack.pop()
        for k, d in enumerate(durations):
            if d > 0 and t + d == t_len and u == u_len:
                yield arcs + [(t, u, k, False)]
            elif d > 0 and t + d < t_len:
                stack.append((t + d, u, arcs + [(t, u, k, False)]))
            if u < u_len and t + d < t_len:
                stack.append((t + d, u + 1, arcs + [(t, u, k, True)]))


def _tdt_bruteforce(logits, targets, t_lens, u_lens, durations, sigma):
    V = logits.shape[-1] - len(durations)
    token_lp = logits.double()[..., :V].log_softmax(-1) - sigma
    dur_lp = logits.double()[..., V:].log_softmax(-1)
    losses = []
    for b, (t_len, u_len) in enumerate(zip(t_lens, u_lens)):
        scores = []
        for arcs in _tdt_paths(t_len, u_len, durations):
            total = token_lp.new_zeros(())
            for t, u, k, is_label in arcs:
                symbol = int(targets[b, u]) if is_label else BLANK
                total = total + token_lp[b, t, u, symbol] + dur_lp[b, t, u, k]
            scores.append(total)
        losses.append(-_logsumexp_paths(scores))
    return torch.stack(losses)


@pytest.mark.parametrize("durations", [[0, 1, 2], [1, 2], [0, 2, 3]])
@pytest.mark.parametrize("sigma", [0.0, 0.05])
def test_tdt_reference_equals_bruteforce_loss_and_gradient(durations, sigma):
    T, U, V = 4, 2, 4
    logits = torch.randn(5, T, U + 1, V + len(durations), dtype=torch.float64, requires_grad=True)
    targets = torch.randint(1, V, (5, U))
    t_lens, u_lens = [4, 3, 1, 2, 4], [2, 1, 0, 0, 1]
    got = ref.tdt_loss(logits, targets, torch.tensor(t_lens), torch.tensor(u_lens), BLANK, durations,
                       sigma, "none")
    want = _tdt_bruteforce(logits, targets, t_lens, u_lens, durations, sigma)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    finite = torch.isfinite(want)
    assert bool(finite[0]) and (durations != [0, 2, 3] or not bool(finite[2]))  # T_b = 1 unreachable
    w = torch.rand(5, dtype=torch.float64)
    (g_got,) = torch.autograd.grad((got[finite] * w[finite]).sum(), logits)
    (g_want,) = torch.autograd.grad((want[finite] * w[finite]).sum(), logits)
    torch.testing.assert_close(g_got, g_want, rtol=1e-9, atol=1e-10)


def _ctc_bruteforce(logits, targets, t_lens, u_lens, delay_penalty):
    """Sum over every frame labelling of length T_b whose collapse (merge repeats, then drop blanks)
    is the target; non-blank frames get the delay shift."""
    log_probs = logits.double().log_softmax(-1)
    V = logits.shape[-1]
    losses = []
    for b, (t_len, u_len) in enumerate(zip(t_lens, u_lens)):
        target = targets[b, :u_len].tolist()
        scores = []
        for frames in itertools.product(range(V), repeat=t_len):
            merged = [s for i, s in enumerate(frames) if i == 0 or s != frames[i - 1]]
            if [s for s in merged if s != BLANK] != target:
                continue
            shift = [delay_penalty * ((t_len - 1) / 2 - t) * (s != BLANK) for t, s in enumerate(frames)]
            scores.append(sum(log_probs[b, t, s] + shift[t] for t, s in enumerate(frames)))
        losses.append(-_logsumexp_paths(scores))
    return torch.stack(losses)


@pytest.mark.parametrize("delay_penalty", [0.0, 0.3])
def test_ctc_reference_equals_bruteforce_with_delay_penalty(delay_penalty):
    T, V = 4, 3
    logits = torch.randn(5, T, V, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([[1, 2], [2, 2], [1, 1], [2, 1], [1, 2]])
    t_lens, u_lens = [4, 3, 2, 1, 4], [2, 2, 2, 1, 0]  # [1, 1] in 2 frames: no path
    lengths = torch.tensor(t_lens), torch.tensor(u_lens)
    got = ref.ctc_loss(logits, targets, *lengths, BLANK, "none", delay_penalty)
    want = _ctc_bruteforce(logits, targets, t_lens, u_lens, delay_penalty)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    assert got[2] == float("inf")
    finite = torch.isfinite(want)
    (g_got,) = torch.autograd.grad(got[finite].sum(), logits, retain_graph=True)
    (g_want,) = torch.autograd.grad(want[finite].sum(), logits)
    torch.testing.assert_close(g_got, g_want, rtol=1e-9, atol=1e-10)
    (g_inf,) = torch.autograd.grad(got[2], logits)
    assert bool((g_inf == 0).all())
