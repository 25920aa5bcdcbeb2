"""Triton loss kernels (RNN-T, TDT, MI recursion) against the CPU path and the float64 reference.

On CPU they run under TRITON_INTERPRET=1 (set by tests/kernels/conftest.py) on small shapes; the
@pytest.mark.gpu tests repeat the comparisons on CUDA at medium shapes. Oracles: kernels._cpu (numba,
tested on its own), kernels.reference when it exists, and gradient invariants of the softmax.
B: batch, T: frames, U: target length, V: vocabulary, D: durations, S: symbols.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import transduce.kernels._cpu as cpu
from transduce.kernels import reference
from transduce.kernels._cpu.mutual_information import mutual_information as cpu_mi
from transduce.kernels._dispatch import triton_interpreted
from transduce.kernels.pruned import mutual_information_recursion, rnnt_loss_simple
from transduce.kernels.rnnt import rnnt_loss
from transduce.kernels.tdt import tdt_loss

if not (torch.cuda.is_available() or triton_interpreted()):
    pytest.skip("needs CUDA or TRITON_INTERPRET=1", allow_module_level=True)
tri = pytest.importorskip("transduce.kernels._triton")

# the interpreter evaluates log(0) = -inf for unreachable nodes with numpy, which warns
pytestmark = pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
RTOL, ATOL = 1e-5, 1e-4
RNNT_OPTIONS = [  # (fastemit_lambda, delay_penalty, clamp)
    (0.0, 0.0, -1.0),
    (0.5, 0.0, -1.0),
    (0.0, 0.3, -1.0),
    (0.2, 0.1, 0.05),
]


def _batch(B, T, U, V, t_lens, u_lens, n_extra=0, device="cpu", dtype=torch.float32):
    """Random logits (B, T, U+1, V+n_extra), non-blank targets (B, U) and the given lengths."""
    logits = torch.randn(B, T, U + 1, V + n_extra, dtype=dtype, device=device) * 2
    targets = torch.randint(1, V, (B, U), device=device)
    return (logits, targets, torch.tensor(t_lens, device=device), torch.tensor(u_lens, device=device))


def _ragged():
    """B=3 with T_b < T, T_b = 1 and U_b = 0 mixed in."""
    return _batch(3, 6, 4, 8, [6, 3, 1], [4, 2, 0])


def _assert_close(loss, grad, loss_ref, grad_ref):
    torch.testing.assert_close(loss.cpu(), loss_ref.cpu().to(loss.dtype), rtol=RTOL, atol=0)
    torch.testing.assert_close(grad.cpu(), grad_ref.cpu().to(grad.dtype), rtol=0, atol=ATOL)


def _reference(name):
    return getattr(reference, name)


# ---------------------------------------------------------------- RNN-T


@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
@pytest.mark.parametrize("options", RNNT_OPTIONS)
def test_rnnt_matches_cpu(rnnt_type, options):
    x, y, t_lens, u_lens = _ragged()
    loss, grad = tri.rnnt_loss_and_grad(x, y, t_lens, u_lens, 0, rnnt_type, *options, True, False)
    loss_ref, grad_ref = cpu.rnnt_loss_and_grad(x, y, t_lens, u_lens, 0, rnnt_type, *options, True, False)
    assert torch.isfinite(loss).all()
    _assert_close(loss, grad, loss_ref, grad_ref)


def test_rnnt_float64_and_other_blank_match_cpu_tightly():
    x, y, t_lens, u_lens = _batch(2, 5, 3, 6, [5, 4], [3, 1], dtype=torch.float64)
    y[y == 3] = 0  # blank = 3: targets must avoid it
    args = (x, y, t_lens, u_lens, 3, "regular", 0.1, 0.2, -1.0, True, False)
    loss, grad = tri.rnnt_loss_and_grad(*args)
    loss_ref, grad_ref = cpu.rnnt_loss_and_grad(*args)
    assert loss.dtype == grad.dtype == torch.float64
    torch.testing.assert_close(loss, loss_ref, rtol=1e-12, atol=0)
    torch.testing.assert_close(grad, grad_ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_v", [7, 9])
def test_logits_passes_loop_over_several_vocabulary_blocks(monkeypatch, n_v):
    """With 4-column blocks V = 7 or 9 takes 2-3 blocks of the online log-sum-exp and the gradient."""
    import transduce.kernels._triton._common as common

    monkeypatch.setattr(common, "_MAX_BLOCK_V", 4)
    x, y, t_lens, u_lens = _batch(2, 4, 3, n_v, [4, 2], [3, 1], n_extra=2)
    args = (x[..., :n_v], y, t_lens, u_lens, 0, "regular", 0.1, 0.1, -1.0, True, False)
    _assert_close(*tri.rnnt_loss_and_grad(*args), *cpu.rnnt_loss_and_grad(*args))
    args = (x, y, t_lens, u_lens, 0, [0, 2], 0.05, True, False)
    _assert_close(*tri.tdt_loss_and_grad(*args), *cpu.tdt_loss_and_grad(*args))


def test_rnnt_half_logits_match_cpu():
    """float16 logits: both paths accumulate in float32 and return float16 losses and gradients."""
    x, y, t_lens, u_lens = _ragged()
    args = (x.half(), y, t_lens, u_lens, 0, "regular", 0.0, 0.0, -1.0, True, False)
    loss, grad = tri.rnnt_loss_and_grad(*args)
    loss_ref, grad_ref = cpu.rnnt_loss_and_grad(*args)
    assert loss.dtype == grad.dtype == torch.float16
    torch.testing.assert_close(loss, loss_ref, rtol=1e-3, atol=0)
    torch.testing.assert_close(grad, grad_ref, rtol=0, atol=1e-3)


@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
def test_empty_targets_and_single_frames(rnnt_type):
    """U = 0 for the whole batch (logits (B, T, 1, V), empty targets) and T_b = 1 utterances."""
    x, y, t_lens, u_lens = _batch(2, 3, 0, 5, [1, 3], [0, 0], n_extra=2)
    args = (x[..., :5], y, t_lens, u_lens, 0, rnnt_type, 0.0, 0.2, -1.0, True, False)
    _assert_close(*tri.rnnt_loss_and_grad(*args), *cpu.rnnt_loss_and_grad(*args))
    args = (x, y, t_lens, u_lens, 0, [0, 1], 0.0, True, False)
    _assert_close(*tri.tdt_loss_and_grad(*args), *cpu.tdt_loss_and_grad(*args))


def test_rnnt_gradient_rows_sum_to_zero_and_padding_is_zero():
    """Without clamp: each valid row's gradient sums to 0 over V (softmax * occ - posteriors)."""
    x, y, t_lens, u_lens = _ragged()
    _, grad = tri.rnnt_loss_and_grad(x, y, t_lens, u_lens, 0, "regular", 0.0, 0.0, -1.0, True, False)
    torch.testing.assert_close(grad.sum(-1), torch.zeros(grad.shape[:-1]), rtol=0, atol=1e-6)
    for b, (t_len, u_len) in enumerate(zip(t_lens.tolist(), u_lens.tolist())):
        assert (grad[b, t_len:] == 0).all() and (grad[b, :, u_len + 1 :] == 0).all()
        assert grad[b, :t_len, : u_len + 1].abs().amax() > 0


def test_rnnt_clamp_bounds_gradient():
    x, y, t_lens, u_lens = _ragged()
    _, grad = tri.rnnt_loss_and_grad(x, y, t_lens, u_lens, 0, "regular", 0.0, 0.0, 0.01, True, False)
    assert grad.abs().amax() <= 0.01 + 1e-7
    assert ((grad.abs() - 0.01).abs() < 1e-7).any()


def test_rnnt_modified_without_path_is_infinite_with_zero_gradient():
    x, y, t_lens, u_lens = _batch(2, 3, 4, 6, [2, 3], [4, 1])  # first: U_b = 4 > T_b = 2
    loss, grad = tri.rnnt_loss_and_grad(x, y, t_lens, u_lens, 0, "modified", 0.0, 0.0, -1.0, True, False)
    loss_ref, grad_ref = cpu.rnnt_loss_and_grad(x, y, t_lens, u_lens, 0, "modified", 0.0, 0.0, -1.0, True,
                                                False)
    assert loss[0] == float("inf") and (grad[0] == 0).all()
    _assert_close(loss, grad, loss_ref, grad_ref)


def test_rnnt_grad_in_logits_writes_into_the_logits():
    x, y, t_lens, u_lens = _ragged()
    loss_ref, grad_ref = tri.rnnt_loss_and_grad(x, y, t_lens, u_lens, 0, "regular", 0.3, 0.0, -1.0, True,
                                                False)
    view = x.clone().transpose(1, 2).contiguous().transpose(1, 2)  # non-contiguous (B, T, U+1, V)
    loss, grad = tri.rnnt_loss_and_grad(view, y, t_lens, u_lens, 0, "regular", 0.3, 0.0, -1.0, True, True)
    assert grad.data_ptr() == view.data_ptr() and grad.stride() == view.stride()
    torch.testing.assert_close(loss, loss_ref, rtol=0, atol=0)
    torch.testing.assert_close(view, grad_ref, rtol=0, atol=1e-6)


def test_rnnt_public_api_with_autograd_matches_cpu():
    x, y, t_lens, u_lens = _ragged()
    grads = []
    for backend in ("triton", "cpu"):
        logits = x.clone().requires_grad_()
        loss = rnnt_loss(logits, y, t_lens, u_lens, 0, reduction="mean", fastemit_lambda=0.1,
                         backend=backend)
        loss.backward()
        grads.append((loss.detach(), logits.grad))
    _assert_close(*grads[0], *grads[1])
    no_grad, none = tri.rnnt_loss_and_grad(x, y, t_lens, u_lens, 0, "regular", 0.0, 0.0, -1.0, False, False)
    assert none is None and torch.allclose(no_grad.mean(), rnnt_loss(x, y, t_lens, u_lens, 0, backend="cpu"))


@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
def test_rnnt_matches_reference(rnnt_type):
    ref_loss = _reference("rnnt_loss")
    x, y, t_lens, u_lens = _batch(3, 5, 3, 6, [5, 4, 3], [3, 0, 2])
    loss, grad = tri.rnnt_loss_and_grad(x, y, t_lens, u_lens, 0, rnnt_type, 0.2, 0.1, -1.0, True, False)
    x64 = x.double().requires_grad_()
    loss_ref = ref_loss(x64, y, t_lens, u_lens, 0, "none", rnnt_type, 0.2, 0.1, -1.0)
    loss_ref.sum().backward()
    _assert_close(loss, grad, loss_ref.detach(), x64.grad)


# ---------------------------------------------------------------- TDT


TDT_CASES = [([0, 1, 2], 0.0), ([1, 2, 4], 0.05), ([0, 1, 2, 3, 4], 0.02)]


@pytest.mark.parametrize(("durations", "sigma"), TDT_CASES)
def test_tdt_matches_cpu(durations, sigma):
    x, y, t_lens, u_lens = _batch(3, 6, 4, 8, [6, 4, 1], [4, 2, 0], n_extra=len(durations))
    loss, grad = tri.tdt_loss_and_grad(x, y, t_lens, u_lens, 0, durations, sigma, True, False)
    loss_ref, grad_ref = cpu.tdt_loss_and_grad(x, y, t_lens, u_lens, 0, durations, sigma, True, False)
    assert torch.isfinite(loss).all()
    _assert_close(loss, grad, loss_ref, grad_ref)
    n_v = x.shape[-1] - len(durations)  # token and duration parts each sum to 0 (no sigma in the grad)
    torch.testing.assert_close(grad[..., :n_v].sum(-1), torch.zeros(grad.shape[:-1]), rtol=0, atol=1e-6)
    torch.testing.assert_close(grad[..., n_v:].sum(-1), torch.zeros(grad.shape[:-1]), rtol=0, atol=1e-6)


def test_tdt_without_path_and_in_place():
    """T_b = 1 with U_b = 2 and only duration 1 cannot end on T_b: inf loss, zero gradient."""
    durations = [1, 2]
    x, y, t_lens, u_lens = _batch(2, 4, 2, 5, [1, 4], [2, 2], n_extra=2)
    loss_ref, grad_ref = cpu.tdt_loss_and_grad(x, y, t_lens, u_lens, 0, durations, 0.0, True, False)
    inplace = x.clone()
    loss, grad = tri.tdt_loss_and_grad(inplace, y, t_lens, u_lens, 0, durations, 0.0, True, True)
    assert grad.data_ptr() == inplace.data_ptr()
    assert loss[0] == float("inf") and (grad[0] == 0).all() and torch.isfinite(loss[1])
    _assert_close(loss, grad, loss_ref, grad_ref)


def test_tdt_public_api_with_autograd_matches_cpu():
    durations = [0, 1, 2]
    x, y, t_lens, u_lens = _batch(2, 5, 3, 6, [5, 3], [3, 1], n_extra=3)
    out = []
    for backend in ("triton", "cpu"):
        logits = x.clone().requires_grad_()
        loss = tdt_loss(logits, y, t_lens, u_lens, 0, durations, sigma=0.05, reduction="sum", backend=backend)
        loss.backward()
        out.append((loss.detach(), logits.grad))
    _assert_close(*out[0], *out[1])


def test_tdt_matches_reference():
    ref_loss = _reference("tdt_loss")
    durations = [0, 1, 3]
    x, y, t_lens, u_lens = _batch(3, 5, 3, 6, [5, 4, 2], [3, 0, 1], n_extra=3)
    loss, grad = tri.tdt_loss_and_grad(x, y, t_lens, u_lens, 0, durations, 0.05, True, False)
    x64 = x.double().requires_grad_()
    loss_ref = ref_loss(x64, y, t_lens, u_lens, 0, durations, 0.05, "none")
    loss_ref.sum().backward()
    _assert_close(loss, grad, loss_ref.detach(), x64.grad)


# ---------------------------------------------------------------- MI recursion


def _mi_inputs(B, S, T, modified, device="cpu"):
    px = torch.randn(B, S, T if modified else T + 1, device=device)
    py = torch.randn(B, S + 1, T, device=device)
    s0 = torch.randint(0, S // 2 + 1, (B,))
    t0 = torch.randint(0, T // 2 + 1, (B,))
    s1 = s0 + (torch.rand(B) * (S - s0 + 1)).long().clamp(max=S - s0)
    t1 = t0 + (torch.rand(B) * (T - t0 + 1)).long().clamp(max=T - t0)
    if modified:  # keep s_end - s_begin <= t_end - t_begin so a path exists
        s1 = torch.minimum(s1, s0 + (t1 - t0))
    return px, py, torch.stack([s0, t0, s1, t1], 1).to(device)


@pytest.mark.parametrize("modified", [False, True])
def test_mi_matches_cpu_with_random_boundaries(modified):
    px, py, boundary = _mi_inputs(3, 4, 6, modified)
    boundary[0] = torch.tensor([0, 0, 4, 6])
    for bnd in (boundary, None):
        mi, px_grad, py_grad = tri.mutual_information(px, py, bnd)
        mi_ref, px_ref, py_ref = cpu_mi(px, py, bnd)
        torch.testing.assert_close(mi, mi_ref, rtol=RTOL, atol=1e-6)
        torch.testing.assert_close(px_grad, px_ref, rtol=0, atol=ATOL)
        torch.testing.assert_close(py_grad, py_ref, rtol=0, atol=ATOL)


@pytest.mark.parametrize("modified", [False, True])
def test_mi_matches_reference(modified):
    ref_mi = _reference("mutual_information_recursion")
    px, py, boundary = _mi_inputs(3, 3, 5, modified)
    mi, px_grad, py_grad = tri.mutual_information(px, py, boundary)
    mi_ref, (px_ref, py_ref) = ref_mi(px.double(), py.double(), boundary, return_grad=True)
    torch.testing.assert_close(mi, mi_ref.float(), rtol=RTOL, atol=1e-6)
    torch.testing.assert_close((px_grad, py_grad), (px_ref.float(), py_ref.float()), rtol=0, atol=ATOL)


def test_mi_without_path_and_float64():
    """Modified lattice with more symbols than frames: -inf and zero occupations; float64 stays tight."""
    px, py = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 4, 4, dtype=torch.float64)
    boundary = torch.tensor([[0, 0, 3, 2], [1, 0, 3, 4]])
    mi, px_grad, py_grad = tri.mutual_information(px, py, boundary)
    mi_ref, px_ref, py_ref = cpu_mi(px, py, boundary)
    assert mi[0] == float("-inf") and (px_grad[0] == 0).all() and (py_grad[0] == 0).all()
    assert mi.dtype == px_grad.dtype == torch.float64
    torch.testing.assert_close(mi, mi_ref, rtol=1e-12, atol=0)
    torch.testing.assert_close((px_grad, py_grad), (px_ref, py_ref), rtol=0, atol=1e-12)


def test_mi_public_api_autograd_matches_cpu():
    px, py, boundary = _mi_inputs(2, 3, 5, False)
    grads = []
    for backend in ("triton", "cpu"):
        a, b = px.clone().requires_grad_(), py.clone().requires_grad_()
        mi = mutual_information_recursion(a, b, boundary, backend=backend)
        (mi * torch.tensor([1.0, -2.0])).sum().backward()
        grads.append((a.grad, b.grad))
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=ATOL)


@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
def test_simple_loss_on_triton_matches_cpu(rnnt_type):
    """The pruned family's simple loss (delay penalty, ragged boundary) with the Triton MI inside."""
    B, S, T, C = 2, 3, 5, 6
    lm, am = torch.randn(B, S + 1, C), torch.randn(B, T, C)
    symbols = torch.randint(1, C, (B, S))
    boundary = torch.tensor([[0, 0, 3, 5], [0, 0, 2, 4]])
    out = []
    for backend in ("triton", "cpu"):
        a, b = lm.clone().requires_grad_(), am.clone().requires_grad_()
        loss = rnnt_loss_simple(a, b, symbols, 0, boundary, rnnt_type, delay_penalty=0.1, backend=backend)
        loss.backward()
        out.append((loss.detach(), a.grad, b.grad))
    torch.testing.assert_close(out[0][0], out[1][0], rtol=RTOL, atol=0)
    torch.testing.assert_close(out[0][1:], out[1][1:], rtol=0, atol=ATOL)


# ---------------------------------------------------------------- the real compiler, without a GPU

_COMPILE_SCRIPT = """
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from transduce.kernels._triton import _rnnt_kernels as R, _tdt_kernels as D, mi as M

INT_PTRS = {"tgt_ptr", "t_lens", "u_lens", "durs", "bnd_ptr"}
FLOATS = {"delay", "sigma", "label_scale", "clamp"}
BLOCKS = {"BLOCK_R": 8, "BLOCK_V": 512, "BLOCK_D": 8, "BLOCK_U": 128, "BLOCK_S": 128, "BLOCK_T": 64}

def arg_type(name):
    if name in INT_PTRS:
        return "*i32"
    if name.endswith("_ptr"):
        return "*fp32"
    return "fp32" if name in FLOATS else "i32"

for fn in (R.rnnt_gather_kernel, R.rnnt_dp_kernel, R.rnnt_grad_kernel, D.tdt_gather_kernel, D.tdt_dp_kernel,
           D.tdt_grad_kernel, M._mi_dp_kernel, M._mi_grad_kernel):
    for modified in ((False, True) if "MODIFIED" in fn.arg_names else (None,)):
        consts = {k: v for k, v in BLOCKS.items() if k in fn.arg_names}
        if modified is not None:
            consts["MODIFIED"] = modified
        sig = {a: "constexpr" if a in consts else arg_type(a) for a in fn.arg_names}
        triton.compile(ASTSource(fn, sig, consts), target=GPUTarget("cuda", 90, 32))
print("compiled")
"""


@pytest.mark.slow
def test_kernels_compile_for_sm90_without_a_gpu():
    """The interpreter accepts more than the compiler: lower every kernel to sm_90 cubin (ptxas)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    out = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT], env=env, capture_output=True, text=True,
                         timeout=300)
    if out.returncode and "ptxas" in out.stderr and "not found" in out.stderr.lower():
        pytest.skip("Triton's ptxas is not available")
    assert out.returncode == 0 and "compiled" in out.stdout, out.stderr[-3000:]


# ---------------------------------------------------------------- CUDA (medium shapes)


def _to_cpu(*xs):
    return [x.cpu() for x in xs]


@pytest.mark.gpu
@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
def test_rnnt_cuda_matches_cpu(rnnt_type):
    t_lens, u_lens = [60, 41, 1, 60], [20, 0, 5, 13]
    x, y, tl_, ul = _batch(4, 60, 20, 300, t_lens, u_lens, device="cuda")
    loss, grad = tri.rnnt_loss_and_grad(x, y, tl_, ul, 0, rnnt_type, 0.1, 0.05, -1.0, True, False)
    loss_ref, grad_ref = cpu.rnnt_loss_and_grad(*_to_cpu(x, y, tl_, ul), 0, rnnt_type, 0.1, 0.05, -1.0, True,
                                                False)
    _assert_close(loss, grad, loss_ref, grad_ref)


@pytest.mark.gpu
def test_tdt_cuda_matches_cpu():
    durations = [0, 1, 2, 3, 4]
    x, y, tl_, ul = _batch(4, 60, 20, 300, [60, 33, 1, 59], [20, 7, 0, 20], n_extra=5, device="cuda")
    loss, grad = tri.tdt_loss_and_grad(x, y, tl_, ul, 0, durations, 0.05, True, False)
    loss_ref, grad_ref = cpu.tdt_loss_and_grad(*_to_cpu(x, y, tl_, ul), 0, durations, 0.05, True, False)
    _assert_close(loss, grad, loss_ref, grad_ref)


@pytest.mark.gpu
@pytest.mark.parametrize("modified", [False, True])
def test_mi_cuda_matches_cpu(modified):
    px, py, boundary = _mi_inputs(4, 30, 80, modified, device="cuda")
    out = tri.mutual_information(px, py, boundary)
    ref = cpu_mi(*_to_cpu(px, py, boundary))
    torch.testing.assert_close(out[0].cpu(), ref[0], rtol=RTOL, atol=1e-5)
    torch.testing.assert_close(tuple(o.cpu() for o in out[1:]), ref[1:], rtol=0, atol=ATOL)


@pytest.mark.gpu
def test_rnnt_cuda_auto_dispatch_bf16_in_place_matches_cpu():
    """Default dispatch on CUDA is Triton; bfloat16 logits with the gradient written in place."""
    x, y, tl_, ul = _batch(3, 40, 12, 500, [40, 17, 3], [12, 12, 0], device="cuda")
    logits = x.to(torch.bfloat16).requires_grad_()
    loss = rnnt_loss(logits, y, tl_, ul, 0, reduction="sum", grad_in_logits=True)
    loss.backward()
    ref = x.to(torch.bfloat16).float().cpu().requires_grad_()
    loss_ref = rnnt_loss(ref, *_to_cpu(y, tl_, ul), 0, reduction="sum", backend="cpu")
    loss_ref.backward()
    torch.testing.assert_close(loss.float().cpu(), loss_ref, rtol=1e-2, atol=0)
    torch.testing.assert_close(logits.grad.float().cpu(), ref.grad, rtol=0, atol=1e-2)

