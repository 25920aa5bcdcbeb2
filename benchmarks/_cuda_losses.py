"""GPU half of losses.py: ours (Triton) vs torchaudio.functional.rnnt_loss, in this process.

B: batch, T: frames, U: target length, V: vocabulary. Time: CUDA events around forward + backward
(median of repeats after a warm-up that compiles the kernels). Memory: torch.cuda.max_memory_allocated
during one forward + backward minus memory_allocated before it (inputs and logits not counted, the
gradient is). Bandwidth floor: logits read twice + gradient written once, 3 * numel * itemsize bytes,
at --peak-gbps; the figure is floor time / measured time (1.0 = at the floor).
"""

from __future__ import annotations

import argparse
import gc
import statistics
from collections.abc import Callable

import torch
from _common import fmt, fmt_ratio, print_table
from _ours_losses import build_pruned, build_rnnt, build_tdt

__all__ = ["run_cuda"]


def _torchaudio_builder() -> tuple[Callable | None, str]:
    try:
        from torchaudio.functional import rnnt_loss
    except Exception as exc:  # noqa: BLE001 - any import failure means "no peer"
        return None, f"torchaudio.functional.rnnt_loss unavailable ({type(exc).__name__}: {exc})"

    def build(d: dict):
        logits = (d["am"][:, :, None, :] + d["lm"][:, None, :, :]).requires_grad_()
        args = (d["targets"].int(), d["logit_lengths"].int(), d["target_lengths"].int())

        def call() -> float:
            loss = rnnt_loss(logits, *args, blank=0, reduction="sum")
            loss.backward()
            return float(loss.detach())

        return call, lambda: setattr(logits, "grad", None)

    return build, ""


def _measure(build: Callable, data: dict, repeats: int) -> dict:
    """Warm-up, one memory run, then `repeats` CUDA-event timed runs of forward + backward."""
    call, reset = build(data)
    call()
    reset()
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    value = call()
    torch.cuda.synchronize()
    peak_mb = (torch.cuda.max_memory_allocated() - base) / 2**20
    times = []
    for _ in range(repeats):
        reset()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        call()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    reset()
    return {"median_ms": statistics.median(times), "peak_mb": peak_mb, "loss": value}


def _floor(numel: int, itemsize: int, ms: float | None, gbps: float) -> str:
    if not ms:
        return "-"
    return f"{100 * 3 * numel * itemsize / (gbps * 1e9) * 1000 / ms:.3g}%"


def _shape_rows(shape, data: dict, args: argparse.Namespace, ta_build: Callable | None) -> list[list[str]]:
    b, t, u, v = shape
    numel, numel_tdt = b * t * (u + 1) * v, b * t * (u + 1) * (v + len(data["durations"]))
    ours = {name: _measure(fn, data, args.repeats) for name, fn in
            (("rnnt", build_rnnt), ("pruned", build_pruned), ("tdt", build_tdt))}
    peer = _measure(ta_build, data, args.repeats) if ta_build else {}
    rel = f"{abs(ours['rnnt']['loss'] - peer['loss']) / abs(peer['loss']):.1e}" if peer else "-"
    name = "x".join(map(str, shape))
    o, p, gb = ours["rnnt"], peer, args.peak_gbps
    return [
        [name, "RNN-T full", fmt(o["median_ms"]), fmt(p.get("median_ms")), fmt_ratio(p.get("median_ms"),
         o["median_ms"]), fmt(o["peak_mb"]), fmt(p.get("peak_mb")), fmt_ratio(p.get("peak_mb"), o["peak_mb"]),
         rel, _floor(numel, 4, o["median_ms"], gb), _floor(numel, 4, p.get("median_ms"), gb)],
        [name, "pruned RNN-T (s_range 5)", fmt(ours["pruned"]["median_ms"]), "-", "-",
         fmt(ours["pruned"]["peak_mb"]), "-", "-", "-", "-", "-"],
        [name, "TDT (d 0..4)", fmt(ours["tdt"]["median_ms"]), "-", "-", fmt(ours["tdt"]["peak_mb"]), "-", "-",
         "-", _floor(numel_tdt, 4, ours["tdt"]["median_ms"], gb), "-"],
    ]


def run_cuda(args: argparse.Namespace, make_inputs: Callable[..., dict]) -> None:
    """Measure every shape on the current CUDA device and print the table."""
    ta_build, why = _torchaudio_builder()
    print(f"CUDA losses on {torch.cuda.get_device_name()}, torch {torch.__version__}, {args.repeats} timed "
          f"repeat(s), bandwidth floor at {args.peak_gbps:.0f} GB/s; peer: torchaudio.functional.rnnt_loss")
    rows = []
    for shape in args.shapes:
        rows += _shape_rows(shape, make_inputs(shape, args.seed, "cuda"), args, ta_build)
        torch.cuda.empty_cache()
    print()
    print_table(["shape BxTxUxV", "loss", "ours ms", "torchaudio ms", "time ta/ours", "ours MB",
                 "torchaudio MB", "mem ta/ours", "loss rel diff", "ours BW floor", "torchaudio BW floor"],
                rows)
    print("\nTime: median CUDA-event ms of forward + backward after a warm-up. Memory: peak allocated by "
          "torch during one forward + backward minus allocated before (logits not counted, gradient "
          "counted). "
          "BW floor: (logits read twice + gradient written once) / peak bandwidth, over the measured time. "
          "The pruned row is the whole pruned step from am/lm (no torchaudio equivalent).")
    if why:
        print("NOTE:", why)
