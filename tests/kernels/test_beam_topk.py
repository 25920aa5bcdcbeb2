"""log_softmax_topk: Triton (interpreter on CPU, CUDA when present) and CPU paths vs float64 torch."""

from __future__ import annotations

import pytest
import torch
from transduce.kernels._dispatch import triton_interpreted, use_backend
from transduce.kernels.beam import log_softmax_topk


def _reference(logits, k):
    """float64 oracle: a plain per-row loop over sorted log-probs (independent of torch.topk)."""
    lp = torch.log_softmax(logits.double(), -1).reshape(-1, logits.shape[-1])
    vals, idx = [], []
    for row in lp:
        order = sorted(range(len(row)), key=lambda i: (-float(row[i]), i))[:k]
        vals.append([float(row[i]) for i in order])
        idx.append(order)
    shape = (*logits.shape[:-1], k)
    return torch.tensor(vals, dtype=torch.float64).view(shape), torch.tensor(idx).view(shape)


def _ours_and_reference(logits, k, backend):
    """(values, indices) of log_softmax_topk on `backend` and of the float64 oracle, both on the CPU."""
    with use_backend(backend):
        values, indices = log_softmax_topk(logits, k)
    ref_v, ref_i = _reference(logits.cpu(), k)
    return values.cpu(), indices.cpu(), ref_v, ref_i


def _mismatch(got) -> str | None:
    """What differs between our (values, indices) and the oracle's, or None when they agree."""
    values, indices, ref_v, ref_i = got
    if values.dtype != torch.float32 or indices.dtype != torch.int64:
        return f"dtypes {values.dtype}, {indices.dtype}"
    if not values.shape == ref_v.shape == indices.shape:
        return f"shapes {tuple(values.shape)}, {tuple(indices.shape)} vs {tuple(ref_v.shape)}"
    err = float((values.double() - ref_v).abs().max()) if values.numel() else 0.0
    if err > 1e-5:
        return f"values off by {err:.2e}"
    if not torch.equal(indices, ref_i):
        return f"indices {indices.tolist()} vs {ref_i.tolist()}"
    return None


needs_triton = pytest.mark.skipif(not (torch.cuda.is_available() or triton_interpreted()),
                                  reason="needs CUDA or TRITON_INTERPRET=1")


@needs_triton
@pytest.mark.parametrize("shape,k", [((5, 7), 1), ((3, 4, 33), 4), ((70, 16), 8), ((2, 513), 3), ((1, 2), 2)])
def test_triton_matches_float64_reference(shape, k):
    torch.manual_seed(sum(shape) + k)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    got = _ours_and_reference(torch.randn(*shape, device=device) * 3, k, "triton")
    assert _mismatch(got) is None, _mismatch(got)


@needs_triton
def test_triton_reads_half_precision_and_strided_rows():
    torch.manual_seed(1)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    wide = torch.randn(6, 40, device=device) * 2
    got = _ours_and_reference(wide[:, :25], 5, "triton")  # row stride 40 > V
    assert _mismatch(got) is None, _mismatch(got)
    half = (torch.randn(4, 30, device=device) * 2).to(torch.bfloat16)
    got = _ours_and_reference(half, 3, "triton")
    assert _mismatch(got) is None, _mismatch(got)


@needs_triton
def test_triton_handles_empty_batches_and_neg_inf_entries():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with use_backend("triton"):
        v, i = log_softmax_topk(torch.zeros(0, 9, device=device), 2)
    assert v.shape == (0, 2) and i.shape == (0, 2)
    x = torch.tensor([[0.0, float("-inf"), 1.0, float("-inf")]], device=device)
    with use_backend("triton"):
        v, i = log_softmax_topk(x, 2)
    assert i.cpu().tolist() == [[2, 0]]
    assert torch.isfinite(v).all()


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_torch_paths_match_reference(backend):
    torch.manual_seed(2)
    logits = torch.randn(3, 5, 11) * 2
    if backend == "cpu":
        got = _ours_and_reference(logits, 4, backend)
        assert _mismatch(got) is None, _mismatch(got)
    else:
        with use_backend(backend):
            v, i = log_softmax_topk(logits, 4)
        ref_v, ref_i = _reference(logits, 4)
        assert v.dtype == torch.float64 and torch.equal(i, ref_i)
        torch.testing.assert_close(v, ref_v)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="k must be"):
        log_softmax_topk(torch.randn(2, 3), 4)
    with pytest.raises(ValueError, match="k must be"):
        log_softmax_topk(torch.randn(2, 3), 0)
    with pytest.raises(ValueError, match="floating point"):
        log_softmax_topk(torch.ones(2, 3, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="V > 0"):
        log_softmax_topk(torch.randn(2, 0), 1)


@pytest.mark.gpu
def test_cuda_auto_dispatch_at_joiner_sizes():
    torch.manual_seed(3)
    logits = torch.randn(16 * 4, 1025, device="cuda") * 4
    values, indices = log_softmax_topk(logits, 4)  # auto -> triton on CUDA
    ref_v, ref_i = _reference(logits.cpu(), 4)
    torch.testing.assert_close(values.cpu().double(), ref_v, rtol=0, atol=1e-5)
    assert torch.equal(indices.cpu(), ref_i)
