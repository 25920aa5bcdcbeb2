"""CTC loss (kernels.ctc_loss, the torch-native CPU path) against the float64 reference, torch's CTC and
single-alignment closed forms, with and without the delay penalty.

B: batch, T: frames, S: target length, V: vocabulary. Oracles: kernels.reference.ctc_loss (a plain
forward recursion, checked against torch in test_reference.py), torch.nn.functional.ctc_loss for the
plain loss, and utterances with exactly one alignment whose loss is a sum of known log-probs.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from transduce.kernels import reference as ref
from transduce.kernels.ctc import ctc_loss

RTOL, ATOL = 1e-5, 1e-4


def _batch(t_lens, s_lens, T=8, S=4, V=5, dtype=torch.float32, int_dtype=torch.int64):
    """Random logits (B, T, V), non-blank targets (B, S) drawn from few classes (repeats are common)."""
    logits = (torch.randn(len(t_lens), T, V, dtype=torch.float64) * 2).to(dtype)
    targets = torch.randint(1, 3, (len(t_lens), S), dtype=int_dtype)
    return logits, targets, torch.tensor(t_lens, dtype=int_dtype), torch.tensor(s_lens, dtype=int_dtype)


def _random_lengths(T=8, S=4):
    """B=6 random lengths that always mix T_b = T, T_b < T, T_b = 1, S_b = 0 and S_b = S."""
    def draw(lo, hi):
        return int(torch.randint(lo, hi + 1, ()))

    return [T, draw(2, T - 1), 1, draw(1, T), T, draw(S, T)], [S, draw(0, S), 0, 0, draw(0, S), S]


def _loss_and_grad(fn, logits, *args, weights=None, **kw):
    """(loss, d (weights . loss) / d logits) for fn(logits, *args, **kw)."""
    x = logits.clone().requires_grad_(True)
    loss = fn(x, *args, **kw)
    w = torch.ones_like(loss) if weights is None else weights.to(loss.dtype)
    (loss * w).sum().backward()
    return loss.detach(), x.grad


def _cpu_and_ref(logits, *args, weights=None, **kw):
    got = _loss_and_grad(ctc_loss, logits, *args, weights=weights, backend="cpu", **kw)
    want = _loss_and_grad(ref.ctc_loss, logits, *args, weights=weights, **kw)
    return got, want


def _assert_close(got, want, rtol=RTOL, atol=ATOL):
    torch.testing.assert_close(got[0], want[0], rtol=rtol, atol=0)
    torch.testing.assert_close(got[1], want[1], rtol=0, atol=atol)


@pytest.mark.parametrize(("dtype", "int_dtype"), [(torch.float32, torch.int64), (torch.float64, torch.int32)])
@pytest.mark.parametrize("delay_penalty", [0.0, 0.3, -0.2])
def test_cpu_matches_reference_on_random_ragged_batches(delay_penalty, dtype, int_dtype):
    x, y, t_lens, s_lens = _batch(*_random_lengths(), dtype=dtype, int_dtype=int_dtype)
    weights = torch.rand(len(t_lens)) + 0.5
    got, want = _cpu_and_ref(x, y, t_lens, s_lens, 0, "none", delay_penalty, weights=weights)
    assert torch.isfinite(got[0]).any()
    _assert_close(got, want)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("delay_penalty", [0.0, 0.25])
def test_reductions_match_reference_and_the_unreduced_losses(reduction, delay_penalty):
    x, y, t_lens, s_lens = _batch([8, 5, 1, 7], [4, 2, 0, 3])
    got, want = _cpu_and_ref(x, y, t_lens, s_lens, 0, reduction, delay_penalty)
    _assert_close(got, want)
    none, grad_none = _loss_and_grad(ctc_loss, x, y, t_lens, s_lens, 0, "none", delay_penalty, backend="cpu")
    scale = 1.0 / 4 if reduction == "mean" else 1.0  # mean over the batch, not over target lengths
    torch.testing.assert_close(got[0], none.sum() * scale)
    torch.testing.assert_close(got[1], grad_none * scale)


def test_plain_loss_equals_torch_ctc_on_log_softmax():
    x, y, t_lens, s_lens = _batch([8, 5, 1, 7, 8], [4, 2, 0, 3, 1], dtype=torch.float64)
    y[y == 2] = 3  # other blank: 2 never appears in the targets
    blank = 2

    def torch_ctc(logits, *args, reduction):
        log_probs = logits.log_softmax(-1).transpose(0, 1)
        return F.ctc_loss(log_probs, *args, blank=blank, reduction=reduction)

    for ours, theirs in (("none", "none"), ("sum", "sum")):
        got = _loss_and_grad(ctc_loss, x, y, t_lens, s_lens, blank, ours, backend="cpu")
        want = _loss_and_grad(torch_ctc, x, y, t_lens, s_lens, reduction=theirs)
        _assert_close(got, want, rtol=1e-10, atol=1e-10)


def _single_path_loss(logits, path, delay_penalty, blank=0):
    """-log P of the one alignment `path` (one class per frame), label frames shifted by the penalty."""
    log_probs = logits.double().log_softmax(-1)
    t_len = len(path)
    total = sum(float(log_probs[t, c]) for t, c in enumerate(path))
    total += sum(delay_penalty * ((t_len - 1) / 2 - t) for t, c in enumerate(path) if c != blank)
    return -total


@pytest.mark.parametrize("delay_penalty", [0.0, 0.4])
def test_repeated_labels_with_just_enough_frames_have_one_alignment(delay_penalty):
    # T_b = S_b + repeats: a repeat needs a blank between its two copies, nothing else fits
    x = torch.randn(3, 6, 5) * 2
    y = torch.tensor([[1, 1, 2, 2], [3, 3, 0, 0], [4, 2, 1, 0]])
    t_lens, s_lens = torch.tensor([6, 3, 3]), torch.tensor([4, 2, 3])
    paths = [[1, 0, 1, 2, 0, 2], [3, 0, 3], [4, 2, 1]]
    got = ctc_loss(x, y, t_lens, s_lens, 0, "none", delay_penalty, backend="cpu")
    want = [_single_path_loss(x[b], paths[b], delay_penalty) for b in range(3)]
    torch.testing.assert_close(got.double(), torch.tensor(want, dtype=torch.float64), rtol=RTOL, atol=0)
    if delay_penalty:  # every frame carries a label in the third utterance: the penalty sums to zero
        torch.testing.assert_close(got[2], ctc_loss(x, y, t_lens, s_lens, 0, "none", backend="cpu")[2])


def test_target_free_utterances_emit_blank_on_every_frame():
    x, y, t_lens, s_lens = _batch([8, 3, 1], [0, 0, 0], S=0)
    assert y.shape == (3, 0)
    got = ctc_loss(x, y, t_lens, s_lens, 0, "none", 0.5, backend="cpu")  # no labels: no penalty
    want = torch.stack([-x[b, : t_lens[b]].log_softmax(-1)[:, 0].sum() for b in range(3)])
    torch.testing.assert_close(got, want, rtol=RTOL, atol=1e-6)


@pytest.mark.parametrize("delay_penalty", [0.0, 0.3])
def test_too_short_utterances_get_infinite_loss_and_zero_gradient(delay_penalty):
    x, _, _, _ = _batch([8, 3, 2, 5], [4, 3, 2, 2])
    y = torch.tensor([[1, 2, 1, 2], [1, 2, 3, 0], [2, 2, 0, 0], [1, 1, 0, 0]])
    t_lens, s_lens = torch.tensor([8, 2, 2, 3]), torch.tensor([4, 3, 2, 2])
    dead = torch.tensor([False, True, True, False])  # 2 frames < 3 labels; "2 2" needs 3 frames
    weights = torch.rand(4) + 0.5
    (loss, grad), want = _cpu_and_ref(x, y, t_lens, s_lens, 0, "none", delay_penalty, weights=weights)
    assert torch.equal(torch.isinf(loss), dead) and bool((loss[dead] > 0).all())
    assert grad[dead].abs().sum() == 0 and bool((grad[~dead].flatten(1).abs().sum(1) > 0).all())
    _assert_close((loss, grad), want)
    mean, grad_mean = _loss_and_grad(ctc_loss, x, y, t_lens, s_lens, 0, "mean", delay_penalty, backend="cpu")
    assert math.isinf(mean) and torch.isfinite(grad_mean).all()


def test_gradient_rows_sum_to_zero_and_padding_frames_get_none():
    x, y, t_lens, s_lens = _batch([8, 5, 1, 7], [4, 2, 0, 3])
    _, grad = _loss_and_grad(ctc_loss, x, y, t_lens, s_lens, 0, "none", 0.3, backend="cpu")
    torch.testing.assert_close(grad.sum(-1), torch.zeros(grad.shape[:-1]), rtol=0, atol=1e-6)
    for b, t in enumerate(t_lens.tolist()):
        assert grad[b, t:].abs().sum() == 0 and grad[b, :t].abs().sum() > 0


def test_padding_values_never_reach_the_loss():
    x, y, t_lens, s_lens = _batch([8, 5, 1, 7], [4, 2, 0, 3])
    noisy, y_noisy = x.clone(), y.clone()
    noisy[1, 5:] = 1e4
    noisy[2, 1:] = float("nan")
    y_noisy[1, 2:] = 0  # blank beyond S_b is allowed
    got = ctc_loss(noisy, y_noisy, t_lens, s_lens, 0, "none", 0.2, backend="cpu")
    torch.testing.assert_close(got, ctc_loss(x, y, t_lens, s_lens, 0, "none", 0.2, backend="cpu"))


def test_reference_backend_routes_to_the_oracle():
    x, y, t_lens, s_lens = _batch([8, 5], [4, 2], dtype=torch.float64)
    got = ctc_loss(x, y, t_lens, s_lens, 0, "none", 0.3, backend="reference")
    torch.testing.assert_close(got, ref.ctc_loss(x, y, t_lens, s_lens, 0, "none", 0.3), rtol=0, atol=0)


BAD_INPUTS = [  # (change to the valid call's arguments, message fragment)
    (lambda a: a.update(logits=a["logits"][0]), "logits must have 3 dims"),
    (lambda a: a.update(logits=a["logits"].unsqueeze(2)), "logits must have 3 dims"),
    (lambda a: a.update(logits=a["logits"].long()), "floating-point"),
    (lambda a: a.update(targets=a["targets"][0]), "targets must be a 2-dim tensor"),
    (lambda a: a.update(targets=a["targets"][:3]), "targets must have shape"),
    (lambda a: a.update(targets=a["targets"].float()), "targets must be an int32 or int64"),
    (lambda a: a.update(logit_lengths=torch.tensor([8, 9, 1, 7])), "logit_lengths must lie in"),
    (lambda a: a.update(logit_lengths=torch.tensor([8, 0, 1, 7])), "logit_lengths must lie in"),
    (lambda a: a.update(logit_lengths=torch.tensor([8, 5, 1])), "logit_lengths must have shape"),
    (lambda a: a.update(target_lengths=torch.tensor([5, 2, 0, 3])), "target_lengths must lie in"),
    (lambda a: a.update(target_lengths=torch.tensor([4, -1, 0, 3])), "target_lengths must lie in"),
    (lambda a: a.update(target_lengths=torch.tensor([4.0, 2, 0, 3])), "target_lengths must be an int32"),
    (lambda a: a.update(blank=5), "blank must be an int in"),
    (lambda a: a.update(blank=-1), "blank must be an int in"),
    (lambda a: a["targets"].__setitem__((0, 1), 0), "must not contain the blank"),
    (lambda a: a["targets"].__setitem__((1, 0), 5), "targets must lie in"),
    (lambda a: a.update(reduction="batchmean"), "reduction must be one of"),
]


@pytest.mark.parametrize(("change", "message"), BAD_INPUTS)
def test_bad_inputs_raise_value_errors_naming_the_problem(change, message):
    x, y, t_lens, s_lens = _batch([8, 5, 1, 7], [4, 2, 0, 3])
    args = dict(logits=x, targets=y, logit_lengths=t_lens, target_lengths=s_lens, blank=0)
    change(args)
    with pytest.raises(ValueError, match=message):
        ctc_loss(**args, backend="cpu")
