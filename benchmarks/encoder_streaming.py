"""Benchmark: cache-aware streaming of a ~12M-parameter FastConformer, transduce vs NVIDIA NeMo, CPU.

B: batch (streams), T: feature frames (10 ms each), F: 80 features, D: model width. Both sides
build the same FastConformer from one NeMo-named config (dw_striding 8x, causal downsampling,
causal conv kernel 9, rel_pos attention, chunked_limited att_context_size [[70, 13], [70, 1]]),
random weights, eval mode, torch.inference_mode, the same random features (a .pt file), each side
in its own subprocess (NeMo in its venv). Printed: parameter counts, chunk sizes, stream vs offline
max |diff| of each side, the time of step 1, 100 and 1000 of one stream (flat = cost independent
of the stream's age) and the throughput (audio seconds per wall second) of B = 1, 8, 32, 64 streams.

    .venv/bin/python benchmarks/encoder_streaming.py            # both look-aheads (~7 min on 2 cores)
    .venv/bin/python benchmarks/encoder_streaming.py --quick    # smoke test
    .venv/bin/python benchmarks/encoder_streaming.py --lookahead 1
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time

import torch
from _common import fmt, fmt_ratio, print_table, run_worker

__all__ = ["CONFIG", "main"]

HERE = os.path.dirname(os.path.abspath(__file__))
# NeMo ConformerEncoder keyword arguments; ours takes the ConformerConfig fields of the same names.
CONFIG = dict(
    feat_in=80, n_layers=16, d_model=176, n_heads=4, ff_expansion_factor=4, conv_kernel_size=9,
    conv_norm_type="batch_norm", conv_context_size="causal", subsampling="dw_striding", subsampling_factor=8,
    subsampling_conv_channels=176, causal_downsampling=True, att_context_size=[[70, 13], [70, 1]],
    att_context_style="chunked_limited", self_attention_model="rel_pos", xscaling=True, untie_biases=True,
    dropout=0.0, dropout_pre_encoder=0.0, dropout_emb=0.0, dropout_att=0.0,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="look-ahead 1 only, 101 steps, batches 1 and 4, few repeats (a smoke test)")
    ap.add_argument("--lookahead", default=None,
                    help="indices into att_context_size to run (default 0,1; quick 1)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads, both sides")
    ap.add_argument("--steps", type=int, default=None, help="steps of the single stream (default 1000)")
    ap.add_argument("--repeats", type=int, default=None, help="re-runs of steps 1/100/1000 (default 10)")
    ap.add_argument("--batches", default=None, help="comma list of batch sizes (default 1,8,32,64)")
    ap.add_argument("--tp-steps", type=int, default=None, help="timed batched steps (default 10)")
    ap.add_argument("--check-chunks", type=int, default=20, help="chunks of the stream == offline check")
    ap.add_argument("--nemo-python", default=os.environ.get("NEMO_PYTHON", "/work/nemo-venv/bin/python"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    q = args.quick
    args.steps = args.steps or (101 if q else 1000)
    args.repeats = args.repeats or (2 if q else 10)
    args.batches = [int(b) for b in (args.batches or ("1,4" if q else "1,8,32,64")).split(",")]
    args.tp_steps = args.tp_steps or (2 if q else 10)
    args.check_chunks = min(args.check_chunks, 6) if q else args.check_chunks
    args.lookaheads = [int(i) for i in (args.lookahead or ("1" if q else "0,1")).split(",")]
    return args


def chunk_frames(lookahead: int) -> tuple[int, int]:
    """Feature frames (first, later) per step of a chunked_limited context: 1 + 8r and 8(r + 1)."""
    right, s = CONFIG["att_context_size"][lookahead][1], CONFIG["subsampling_factor"]
    return 1 + s * right, s * (right + 1)


def make_plan(args: argparse.Namespace, lookahead: int) -> dict:
    """What the workers run: steps, the steps to time, repeats, batches, warm-up (fills the caches)."""
    left, right = CONFIG["att_context_size"][lookahead]
    at = [k for k in (1, 100, 1000) if k <= args.steps]
    return {"seed": args.seed, "lookahead": lookahead, "check_chunks": args.check_chunks, "steps": args.steps,
            "at": at, "repeats": args.repeats, "batches": args.batches, "tp_steps": args.tp_steps,
            "warm": math.ceil(left / (right + 1)) + 2}


def make_inputs(plan: dict) -> dict:
    """Random features: one stream (1, T, F) for the per-step and exactness runs, (B_max, T', F) batched."""
    first, later = chunk_frames(plan["lookahead"])
    g = torch.Generator().manual_seed(plan["seed"])
    n_stream = first + max(plan["steps"], plan["check_chunks"] + 1) * later
    n_batch = first + (plan["warm"] + plan["tp_steps"]) * later
    f = CONFIG["feat_in"]
    return {"config": CONFIG, "plan": plan, "stream": torch.randn(1, n_stream, f, generator=g),
            "batch": torch.randn(max(plan["batches"]), n_batch, f, generator=g)}


def _report(lookahead: int, ours: dict, nemo: dict, plan: dict) -> None:
    ctx = CONFIG["att_context_size"][lookahead]
    print(f"\n## att_context_size {ctx} (look-ahead index {lookahead}), {CONFIG['att_context_style']}")
    for r in (ours, nemo):
        if "error" in r:
            print(f"{r.get('name', '?')}: {r['error']}")
            continue
        e = r["exactness"]
        print(f"{r['name']}: {r['n_params']:,} parameters; chunks of {r['first']} then {r['later']} "
              f"feature frames; streaming vs offline on {e['feature_frames']} frames: max |diff| "
              f"{e['max_abs_diff']:.2e} (max |offline| {e['max_abs_offline']:.2f}), {e['stream_frames']} vs "
              f"{e['offline_frames']} output frames; {plan['steps']} steps of one stream in "
              f"{r['flat']['run_s']:.1f} s")
    rows = []
    for k in plan["at"]:
        o, n = ours.get("flat", {}).get(f"step_{k}_ms"), nemo.get("flat", {}).get(f"step_{k}_ms")
        rows.append([f"step {k}", fmt(o), fmt(n), fmt_ratio(n, o)])
    last = plan["at"][-1]
    for base in plan["at"][:-1]:
        o, n = ours.get("flat", {}), nemo.get("flat", {})
        rows.append([f"ratio step {last} / step {base}",
                     fmt_ratio(o.get(f"step_{last}_ms"), o.get(f"step_{base}_ms")),
                     fmt_ratio(n.get(f"step_{last}_ms"), n.get(f"step_{base}_ms")), ""])
    print(f"\nOne stream, ms per stream_step (median of {plan['repeats']} re-runs from the saved state):")
    print_table(["", "ours ms", "NeMo ms", "NeMo/ours"], rows)
    rows = []
    for i, b in enumerate(plan["batches"]):
        o = ours["throughput"][i] if "throughput" in ours else {}
        n = nemo["throughput"][i] if "throughput" in nemo else {}
        rows.append([str(b), fmt(o.get("audio_s_per_s")), fmt(n.get("audio_s_per_s")),
                     fmt_ratio(o.get("audio_s_per_s"), n.get("audio_s_per_s")), fmt(o.get("step_ms")),
                     fmt(n.get("step_ms"))])
    print(f"\nBatched stream_step, {plan['tp_steps']} timed steps after {plan['warm']} warm-up steps "
          f"(audio seconds per wall second; chunk {chunk_frames(lookahead)[1] * 10} ms):")
    print_table(["streams", "ours audio s/s", "NeMo audio s/s", "ours/NeMo", "ours ms/step", "NeMo ms/step"],
                rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    nemo_python = args.nemo_python if os.path.exists(args.nemo_python) else None
    if nemo_python is None:
        print(f"NOTE: NeMo python {args.nemo_python} not found (set --nemo-python or NEMO_PYTHON); "
              "measuring only ours.")
    print(f"Streaming FastConformer, torch {torch.__version__}, {args.threads} thread(s) for both sides, "
          f"seed {args.seed}; config: {CONFIG}", flush=True)
    start = time.perf_counter()
    for lookahead in args.lookaheads:
        plan = make_plan(args, lookahead)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "inputs.pt")
            torch.save(make_inputs(plan), path)
            ours = run_worker(sys.executable, os.path.join(HERE, "_ours_encoder.py"), ["--inputs", path],
                              args.threads)
            ours.setdefault("name", "transduce ConformerEncoder")
            print(f"  ours done ({ours.get('wall_s', 0):.0f} s)", flush=True)
            nemo = {"name": "NeMo ConformerEncoder", "error": "not run (no NeMo python)"}
            if nemo_python:
                nemo = run_worker(nemo_python, os.path.join(HERE, "_nemo_encoder.py"), ["--inputs", path],
                                  args.threads)
                nemo.setdefault("name", "NeMo ConformerEncoder")
                print(f"  NeMo done ({nemo.get('wall_s', 0):.0f} s)", flush=True)
        _report(lookahead, ours, nemo, plan)
    if "n_params" in ours and "n_params" in nemo and ours["n_params"] != nemo["n_params"]:
        print(f"\nNOTE: parameter counts differ by {nemo['n_params'] - ours['n_params']:,}: NeMo's causal "
              "dw_striding pads the frequency axis causally too (left 2, right 1: 80 -> 41 -> 21 -> 11 "
              "bins), ours symmetrically (80 -> 40 -> 20 -> 10), so NeMo's pre_encode.out has one more "
              "d_model x d_model block of inputs.")
    print("\nFlat cost: the single stream runs all its steps once; the states before steps 1, 100 and 1000 "
          "are saved and each of those steps is re-run from a copy of its state (copy untimed). Step 1 is "
          "the first chunk (fewer frames, empty caches); compare step 1000 with step 100 for growth with "
          "age.")
    print(f"total wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
