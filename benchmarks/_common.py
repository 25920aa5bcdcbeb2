"""Shared benchmark helpers: timing, peak memory, thread settings, worker subprocesses, tables.

Imports only the standard library and torch (never transduce), so the peer workers that run in
NeMo's venv use the very same timing and memory code as ours.

Memory figure ("peak RSS growth"): the Linux high-water mark of resident memory (VmHWM) is reset
through /proc/self/clear_refs right before the measured call; the figure is VmHWM after the call
minus VmRSS before it: every page the call touched at its peak (tensors, autograd graph,
workspaces, allocator slack), on top of what was already resident (inputs, weights, code).
Where the reset is not allowed, ru_maxrss minus the RSS before the call is used (an upper bound
only if the process never peaked higher before); the method is reported with every figure.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

import torch

__all__ = [
    "apply_threads",
    "fmt",
    "fmt_ratio",
    "loss_worker_main",
    "median_ms",
    "measure_peak_rss",
    "print_table",
    "run_worker",
    "thread_env",
    "time_calls",
    "write_result",
]

_MB = 1024.0 * 1024.0


# ----------------------------------------------------------------------------------- threads
def thread_env(threads: int) -> dict[str, str]:
    """Environment for a worker that uses `threads` threads in torch/OpenMP/MKL and numba."""
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[key] = str(threads)
    return env


def apply_threads(threads: int) -> int:
    """Set torch's intra-op threads (and numba's, if numba is importable) in this process."""
    torch.set_num_threads(threads)
    try:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass
    return torch.get_num_threads()


# ------------------------------------------------------------------------------------ timing
def time_calls(
    fn: Callable[[], object], repeats: int, warmup: int = 1, before: Callable[[], object] | None = None
) -> list[float]:
    """Wall seconds of `repeats` calls of fn after `warmup` unmeasured ones; `before` runs untimed."""
    times = []
    for i in range(warmup + repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        if i >= warmup:
            times.append(elapsed)
    return times


# ------------------------------------------------------------------------------------ memory
def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure_peak_rss(fn: Callable[[], object]) -> tuple[float, str]:
    """Run fn once; return (peak resident-memory growth over the RSS before the call in MB, method)."""
    import gc

    gc.collect()
    reset = _reset_hwm()
    base_kb = _status_kb("VmRSS")
    if base_kb is None:
        raise RuntimeError("peak memory needs /proc/self/status (Linux)")
    fn()
    if reset:
        peak_kb, method = _status_kb("VmHWM"), "VmHWM after clear_refs reset - VmRSS before"
    else:
        peak_kb, method = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss - VmRSS before"
    return max(0, peak_kb - base_kb) * 1024 / _MB, method


# ------------------------------------------------------------------------------- subprocesses
def write_result(path: str, result: dict) -> None:
    """Worker side: write the result dict as JSON (stdout stays free for the worker's own logs)."""
    with open(path, "w") as f:
        json.dump(result, f)


def run_worker(
    python: str, script: str, args: Sequence[str], threads: int, timeout: float | None = None
) -> dict:
    """Run `python script args --out FILE` with `threads` threads; return its JSON or {'error': ...}."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [python, script, *args, "--threads", str(threads), "--out", out]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=thread_env(threads), capture_output=True, text=True, timeout=timeout)
        with open(out) as f:
            text = f.read()
        if proc.returncode != 0 or not text:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
        result = json.loads(text)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    finally:
        os.unlink(out)
    result["wall_s"] = time.perf_counter() - start
    return result


# ----------------------------------------------------------------------------------- printing
def fmt_ratio(num: float | None, den: float | None) -> str:
    """num / den as '12.3x', or '-' when either side is missing or zero."""
    if not num or not den:
        return "-"
    return f"{num / den:.3g}x"


def fmt(x: float | None, digits: int = 4) -> str:
    """A figure with `digits` significant digits, '-' for None."""
    return "-" if x is None else f"{x:.{digits}g}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: object = None) -> None:
    """Print a plain-text table (markdown pipe syntax, so it pastes into RESULTS.md)."""
    out = out or sys.stdout
    widths = [max([len(str(h))] + [len(str(r[i])) for r in rows]) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    print(line(headers), file=out)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|", file=out)
    for r in rows:
        print(line(r), file=out)


def median_ms(times: Sequence[float]) -> float:
    """Median of wall seconds, in milliseconds."""
    return statistics.median(times) * 1000.0


# ------------------------------------------------------------------------------ loss workers
LossCall = Callable[[], float]


def _tiny(data: dict) -> dict:
    """A 2-utterance, 8-frame, 3-label slice of the inputs (same dtypes) to warm up compiled code."""
    t, u = min(8, data["am"].shape[1]), min(3, data["targets"].shape[1])
    out = dict(data)
    for key in ("am", "am_tdt"):
        out[key] = data[key][:2, :t].contiguous()
    for key in ("lm", "lm_tdt"):
        out[key] = data[key][:2, : u + 1].contiguous()
    out["targets"] = data["targets"][:2, :u].contiguous()
    out["logit_lengths"] = data["logit_lengths"][:2].clamp(max=t)
    out["logit_lengths"][0] = t
    out["target_lengths"] = data["target_lengths"][:2].clamp(max=u)
    out["target_lengths"][0] = u
    return out


def loss_worker_main(builders: dict[str, Callable[[dict], tuple[LossCall, Callable[[], None]]]]) -> None:
    """Worker protocol shared by ours and the peer: tiny warm-up, one memory run, timed repeats.

    builders[loss](inputs) -> (call, reset): call runs forward + backward once and returns the loss
    value; reset clears gradients (untimed). The memory run is the first full-size call; when no
    repeat fits --budget-s (or --repeats is 0) its wall time is the only timing sample.
    """
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--loss", required=True, choices=sorted(builders))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--budget-s", type=float, default=float("inf"),
                    help="fewer repeats so that they take about this long at the memory run's pace")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    threads = apply_threads(args.threads)
    data = torch.load(args.inputs, weights_only=True)
    call, reset = builders[args.loss](_tiny(data))
    call()
    call, reset = builders[args.loss](data)
    value: list[float] = []
    start = time.perf_counter()
    mem_mb, method = measure_peak_rss(lambda: value.append(call()))
    first = time.perf_counter() - start
    repeats = args.repeats if first * args.repeats <= args.budget_s else int(args.budget_s // first)
    times = time_calls(call, repeats, warmup=0, before=reset) if repeats > 0 else [first]
    write_result(args.out, {
        "median_ms": median_ms(times), "times_ms": [t * 1000 for t in times], "first_call_ms": first * 1000,
        "peak_mb": mem_mb, "mem_method": method, "loss": value[0], "threads": threads,
        "samples": len(times), "torch": torch.__version__,
    })
