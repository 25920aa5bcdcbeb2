"""Benchmark: forward + backward time and peak memory of transduce's losses against peers, same inputs.

B: batch, T: frames, U: target length, V: vocabulary. Shapes (B, T, U, V): (32, 400, 80, 500),
(16, 250, 50, 5000), (4, 100, 20, 100). Joint logits come from a linear joiner am (B, T, V) +
lm (B, U+1, V), so the full and pruned losses see one model. Losses: full RNN-T, pruned RNN-T
(smoothed simple loss + prune ranges + joiner on (B, T, 5, V) + pruned loss, k2 style), TDT
(durations 0..4, V+5 logits). Ragged lengths: T_b in [3T/4, T], U_b in [3U/4, U], first at the max.

CPU (default): ours vs NVIDIA NeMo in its own venv (RNNTLossNumba for full and pruned rows,
TDTLossPytorch for TDT), each measurement in a fresh subprocess per (side, loss, shape).
CUDA (--device cuda): ours (Triton) vs torchaudio.functional.rnnt_loss in this process.

    .venv/bin/python benchmarks/losses.py                 # full CPU run (~12 min on 2 cores)
    .venv/bin/python benchmarks/losses.py --quick         # small shape only (smoke test)
    .venv/bin/python benchmarks/losses.py --device cuda   # GPU run
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import torch
from _common import fmt, fmt_ratio, print_table, run_worker

__all__ = ["main", "make_inputs"]

SHAPES = [(32, 400, 80, 500), (16, 250, 50, 5000), (4, 100, 20, 100)]
DURATIONS, SIGMA, S_RANGE = [0, 1, 2, 3, 4], 0.05, 5
HERE = os.path.dirname(os.path.abspath(__file__))
# Resident memory a run needs, in float32 (B, T, U+1, V) logits tensors: the input plus the peak
# growth measured at (8, 200, 40, 500) (ours 1.0-1.1, pruned 0.6, NeMo 3.0), with slack; a run that
# would not fit in MemAvailable is skipped with a note instead of pushing the machine into OOM.
NEED = {("ours", "rnnt"): 2.5, ("ours", "tdt"): 2.5, ("ours", "pruned"): 1.0, ("nemo", "rnnt"): 4.5}
LOSS_NAMES = {"rnnt": "RNN-T full", "pruned": f"pruned RNN-T (s_range {S_RANGE})", "tdt": "TDT (d 0..4)"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--quick", action="store_true", help="only the small shape, fewer repeats")
    ap.add_argument("--shape", action="append", default=None, metavar="B,T,U,V", help="override the shapes")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="torch + numba threads, the same for both sides (default: all cores)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed repeats of ours (default 3; cuda 20; quick 2)")
    ap.add_argument("--peer-repeats", type=int, default=None,
                    help="timed repeats of a peer (default 3, quick 0)")
    ap.add_argument("--peer-budget-s", type=float, default=30.0,
                    help="a peer repeats only as often as fits this many seconds at its first call's pace; "
                         "if none fits, its single (memory) run is its timing")
    ap.add_argument("--nemo-rnnt-max-cells", type=int, default=0, help="skip NeMo RNN-T above (0: never)")
    ap.add_argument("--nemo-tdt-max-cells", type=int, default=10_000,
                    help="skip NeMo TDTLossPytorch above this many B*T*(U+1) cells (its Python loop)")
    ap.add_argument("--nemo-python", default=os.environ.get("NEMO_PYTHON", "/work/nemo-venv/bin/python"))
    ap.add_argument("--peak-gbps", type=float, default=3350.0, help="GPU peak memory bandwidth (H100 SXM)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.shapes = [tuple(int(x) for x in s.split(",")) for s in args.shape] if args.shape else (
        SHAPES[-1:] if args.quick else SHAPES)
    if any(len(s) != 4 for s in args.shapes):
        ap.error("--shape takes B,T,U,V")
    if args.repeats is None:
        args.repeats = 2 if args.quick else (20 if args.device == "cuda" else 3)
    args.peer_repeats = args.peer_repeats if args.peer_repeats is not None else (0 if args.quick else 3)
    return args


def make_inputs(shape: tuple[int, int, int, int], seed: int, device: str = "cpu") -> dict:
    """Random am (B, T, V), lm (B, U+1, V), am_tdt/lm_tdt (.., V+5), targets (B, U), ragged lengths (B,)."""
    b, t, u, v = shape
    g = torch.Generator().manual_seed(seed)
    d = len(DURATIONS)
    logit_lengths = torch.randint((3 * t) // 4, t + 1, (b,), generator=g).clamp(min=1)
    target_lengths = torch.randint((3 * u) // 4, u + 1, (b,), generator=g)
    logit_lengths[0], target_lengths[0] = t, u
    data = {
        "am": torch.randn(b, t, v, generator=g),
        "lm": torch.randn(b, u + 1, v, generator=g),
        "am_tdt": torch.randn(b, t, v + d, generator=g),
        "lm_tdt": torch.randn(b, u + 1, v + d, generator=g),
        "targets": torch.randint(1, v, (b, u), generator=g),
        "logit_lengths": logit_lengths,
        "target_lengths": target_lengths,
    }
    data = {k: x.to(device) for k, x in data.items()}
    data.update(durations=DURATIONS, sigma=SIGMA, s_range=S_RANGE)
    return data


def _cells(shape: tuple[int, int, int, int]) -> int:
    b, t, u, _ = shape
    return b * t * (u + 1)


def _available_gb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return float("inf")


def _fits(side: str, loss: str, shape: tuple[int, int, int, int]) -> str | None:
    """None if the run fits in available memory, else a note saying why it is skipped."""
    b, t, u, v = shape
    width = v + (len(DURATIONS) if loss == "tdt" else 0)
    need = NEED.get((side, loss), 3.0) * b * t * (u + 1) * width * 4 / 2**30
    avail = _available_gb()
    return None if need < 0.9 * avail else f"needs ~{need:.1f} GB, {avail:.1f} GB available"


def _run(side: str, loss: str, path: str, shape, args) -> dict:
    why = _fits(side, loss, shape)
    if why:
        return {"error": f"skipped: {why}"}
    if side == "ours":
        python, script, extra = sys.executable, "_ours_losses.py", ["--repeats", str(args.repeats)]
    else:
        python, script = args.nemo_python, "_nemo_losses.py"
        extra = ["--repeats", str(args.peer_repeats), "--budget-s", str(args.peer_budget_s)]
    res = run_worker(python, os.path.join(HERE, script), ["--inputs", path, "--loss", loss, *extra],
                     args.threads)
    done = res.get("error") or (f"{res['median_ms']:.1f} ms, {res['peak_mb']:.0f} MB, {res['samples']} "
                                f"sample(s), worker {res['wall_s']:.0f} s")
    print(f"  {side:4} {loss:6} {shape}: {done}", flush=True)
    return res


def _rel(a: dict, b: dict) -> str:
    if "loss" not in a or "loss" not in b:
        return "-"
    return f"{abs(a['loss'] - b['loss']) / max(abs(b['loss']), 1e-30):.1e}"


def _row(shape, loss: str, peer_name: str, ours: dict, peer: dict | None, check: bool) -> list[str]:
    p = peer or {}
    return [
        "x".join(map(str, shape)), LOSS_NAMES[loss], fmt(ours.get("median_ms")), peer_name,
        fmt(p.get("median_ms")), fmt_ratio(p.get("median_ms"), ours.get("median_ms")),
        fmt(ours.get("peak_mb")), fmt(p.get("peak_mb")), fmt_ratio(p.get("peak_mb"), ours.get("peak_mb")),
        _rel(ours, p) if check else "-",
    ]


def _run_peers(shape, path: str, args, notes: list[str], tdt_ms_per_cell: list[float]) -> dict:
    """NeMo's RNN-T and TDT results on one shape (None where not run, with a note saying why)."""
    cells = _cells(shape)
    nemo: dict[str, dict | None] = {"rnnt": None, "tdt": None}
    if not args.nemo_python:
        return nemo
    if not args.nemo_rnnt_max_cells or cells <= args.nemo_rnnt_max_cells:
        nemo["rnnt"] = _run("nemo", "rnnt", path, shape, args)
    if cells <= args.nemo_tdt_max_cells:
        nemo["tdt"] = _run("nemo", "tdt", path, shape, args)
        if "median_ms" in nemo["tdt"]:
            tdt_ms_per_cell.append(nemo["tdt"]["median_ms"] / cells)
        return nemo
    why = f"{shape}: NeMo TDTLossPytorch not run ({cells} cells > --nemo-tdt-max-cells)"
    if tdt_ms_per_cell:
        est = tdt_ms_per_cell[0] * cells / 60000
        why += (f"; at its ms per lattice cell on the smaller shape it would take ~{est:.0f} min per call "
                "(an estimate, not a measurement)")
    notes.append(why)
    return nemo


def _result_notes(shape, ours: dict, nemo: dict) -> list[str]:
    """Notes on failed or skipped runs and on peers timed by a single call."""
    notes = [f"{shape}: {side} {k}: {res['error']}" for side, results in (("ours", ours), ("NeMo", nemo))
             for k, res in results.items() if res and "error" in res]
    for k, v in nemo.items():
        if v and v.get("samples") == 1:
            o = ours[k]
            scale = (f"; for scale, ours' first full-size call took {o['first_call_ms']:.0f} ms against its "
                     f"median {o['median_ms']:.0f} ms") if "first_call_ms" in o else ""
            notes.append(f"{shape}: NeMo {k}: 1 timing sample, its memory run (the first full-size call, "
                         f"{v['median_ms'] / 1000:.1f} s; --peer-repeats 0 or no repeat fits "
                         f"--peer-budget-s){scale}")
    return notes


def _shape_rows(shape, args, notes: list[str], tdt_ms_per_cell: list[float]) -> list[list[str]]:
    """Run ours and the peers on one shape (inputs in a temporary .pt file); the table rows."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inputs.pt")
        torch.save(make_inputs(shape, args.seed), path)
        ours = {loss: _run("ours", loss, path, shape, args) for loss in ("rnnt", "pruned", "tdt")}
        nemo = _run_peers(shape, path, args, notes, tdt_ms_per_cell)
    notes += _result_notes(shape, ours, nemo)
    return [
        _row(shape, "rnnt", "NeMo RNNTLossNumba", ours["rnnt"], nemo["rnnt"], True),
        _row(shape, "pruned", "NeMo RNNTLossNumba (full)", ours["pruned"], nemo["rnnt"], False),
        _row(shape, "tdt", "NeMo TDTLossPytorch", ours["tdt"], nemo["tdt"], True),
    ]


HEADERS = ["shape BxTxUxV", "loss", "ours ms", "peer", "peer ms", "time peer/ours", "ours MB", "peer MB",
           "mem peer/ours", "loss rel diff"]


def run_cpu(args: argparse.Namespace) -> None:
    """Measure every shape and loss on CPU, print the table and notes."""
    if args.nemo_python and not os.path.exists(args.nemo_python):
        print(f"NOTE: NeMo python {args.nemo_python} not found (set --nemo-python or NEMO_PYTHON); "
              "measuring only ours.")
        args.nemo_python = None
    print(f"CPU losses, torch {torch.__version__}, {args.threads} thread(s) for both sides, "
          f"ours {args.repeats} timed repeat(s), peers up to {args.peer_repeats} within "
          f"{args.peer_budget_s:.0f} s each; seed {args.seed}", flush=True)
    start, rows, notes, tdt_cost = time.perf_counter(), [], [], []
    for shape in sorted(args.shapes, key=_cells):
        rows += _shape_rows(shape, args, notes, tdt_cost)
    print()
    print_table(HEADERS, rows)
    print("\nTime: median wall ms of forward + backward (after a warm-up on a tiny slice and the memory "
          "run). Memory: peak resident-memory growth during one forward + backward in a fresh process "
          "(VmHWM after resetting it, minus VmRSS before; inputs and the logits already resident are not "
          "counted, the gradient is). Ratios are peer / ours (above 1: ours is faster / smaller). "
          "'loss rel diff' compares the summed loss values of the two sides. Full and TDT rows time the "
          "loss on leaf logits; the pruned row times the whole pruned step from am/lm (smoothed loss, "
          "ranges, joiner on (B, T, 5, V), pruned loss, backward to am and lm), against NeMo's full "
          "loss on the full logits.")
    print("Peers, from their source (NeMo 3.0): on CPU, RNNTLossNumba takes torch's log_softmax and then "
          "runs warp-transducer's alpha/beta/gradient loops in plain Python over torch scalars, one "
          "utterance after another (no numba JIT on the CPU path); TDTLossPytorch builds an autograd graph "
          "of scalar ops per lattice cell and loops over the padded B x T x (U+1) grid.")
    for n in notes:
        print("NOTE:", n)
    print(f"total wall time {time.perf_counter() - start:.0f} s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            print("--device cuda: no CUDA device is available to torch here (CPU-only build or no GPU); "
                  "run the CPU benchmark instead, or run on a machine with an NVIDIA GPU.", file=sys.stderr)
            return 2
        from _cuda_losses import run_cuda

        run_cuda(args, make_inputs)
        return 0
    run_cpu(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
