"""Worker-side driver of encoder_streaming.py, shared by ours and the NeMo peer (stdlib + torch only).

B: batch (streams), T: feature frames, F: features (80), D: model width, Q: output frames of a step.
An adapter wraps one implementation: chunk sizes, init(B), step(feats, pos, n, k, state, final)
where feats (B, T, F) is the whole input, the step's new frames are feats[:, pos:pos + n] and k is
the 0-based step index (a peer may reach back for its own pre-encode cache), offline(feats) and clone(state).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any, Protocol

import torch
from _common import apply_threads, write_result

__all__ = ["Adapter", "driver_main"]


class Adapter(Protocol):
    """One encoder implementation behind the driver's calls."""

    name: str
    first: int  # feature frames of a stream's first step
    later: int  # feature frames of every later step
    n_params: int

    def init(self, batch: int) -> Any: ...

    def step(self, feats: torch.Tensor, pos: int, n: int, k: int, state: Any,
             final: bool) -> tuple[torch.Tensor, torch.Tensor, Any]: ...

    def offline(self, feats: torch.Tensor) -> torch.Tensor: ...

    def clone(self, state: Any) -> Any: ...


def _stream_all(ad: Adapter, feats: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Stream feats[:, :n_frames] (B = 1) chunk by chunk (the last one partial); outputs (1, T', D)."""
    state, pos, k, outs = ad.init(1), 0, 0, []
    while pos < n_frames:
        n = min(ad.first if k == 0 else ad.later, n_frames - pos)
        y, lens, state = ad.step(feats, pos, n, k, state, pos + n >= n_frames)
        outs.append(y[:, : int(lens[0])])
        pos, k = pos + n, k + 1
    return torch.cat(outs, dim=1)


def exactness(ad: Adapter, feats: torch.Tensor, chunks: int) -> dict:
    """Max |stream - offline| over the common frames of one stream of `chunks` chunks + a partial one."""
    n_frames = ad.first + (chunks - 1) * ad.later + ad.later // 2 + 3
    x = feats[:1, :n_frames]
    streamed, offline = _stream_all(ad, x, n_frames), ad.offline(x)
    n = min(streamed.shape[1], offline.shape[1])
    diff = (streamed[:, :n] - offline[:, :n]).abs()
    return {"feature_frames": n_frames, "stream_frames": streamed.shape[1],
            "offline_frames": offline.shape[1], "max_abs_diff": float(diff.max()),
            "max_abs_offline": float(offline[:, :n].abs().max())}


def _pos(ad: Adapter, k: int) -> int:
    return 0 if k == 0 else ad.first + (k - 1) * ad.later


def flat_cost(ad: Adapter, feats: torch.Tensor, steps: int, at: list[int], repeats: int) -> dict:
    """Median ms of step k (1-based, for k in `at`) of one stream, re-run `repeats` times from its state."""
    state, saved = ad.init(1), {}
    start = time.perf_counter()
    for k in range(steps):
        if k + 1 in at:
            saved[k] = ad.clone(state)
        n = ad.first if k == 0 else ad.later
        _, _, state = ad.step(feats, _pos(ad, k), n, k, state, False)
    run_s = time.perf_counter() - start
    result = {"run_steps": steps, "run_s": run_s}
    for k, st in saved.items():
        n = ad.first if k == 0 else ad.later
        times = []
        for _ in range(repeats):
            s = ad.clone(st)
            t0 = time.perf_counter()
            ad.step(feats, _pos(ad, k), n, k, s, False)
            times.append(time.perf_counter() - t0)
        result[f"step_{k + 1}_ms"] = statistics.median(times) * 1000
    return result


def throughput(ad: Adapter, feats: torch.Tensor, batch: int, warm: int, steps: int) -> dict:
    """Audio seconds per wall second of `steps` batched steps after `warm` untimed ones (10 ms frames)."""
    x, state = feats[:batch], ad.init(batch)
    for k in range(warm):
        _, _, state = ad.step(x, _pos(ad, k), ad.first if k == 0 else ad.later, k, state, False)
    start = time.perf_counter()
    for k in range(warm, warm + steps):
        _, _, state = ad.step(x, _pos(ad, k), ad.later, k, state, False)
    wall = time.perf_counter() - start
    audio = batch * steps * ad.later * 0.01
    return {"batch": batch, "steps": steps, "step_ms": wall / steps * 1000, "audio_s_per_s": audio / wall}


def driver_main(make_adapter) -> None:  # noqa: ANN001 - make_adapter(config: dict, lookahead: int) -> Adapter
    """Parse the worker arguments, run exactness, flat cost and throughput, write the JSON result."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    threads = apply_threads(args.threads)
    data = torch.load(args.inputs, weights_only=True)
    p = data["plan"]
    torch.manual_seed(p["seed"])
    ad = make_adapter(data["config"], p["lookahead"])
    res: dict[str, Any] = {"name": ad.name, "n_params": ad.n_params, "first": ad.first, "later": ad.later,
                           "threads": threads, "torch": torch.__version__}
    with torch.inference_mode():
        res["exactness"] = exactness(ad, data["stream"], p["check_chunks"])
        state = ad.init(1)
        for k in range(3):  # warm-up on a throwaway stream
            n = ad.first if k == 0 else ad.later
            _, _, state = ad.step(data["stream"], _pos(ad, k), n, k, state, False)
        res["flat"] = flat_cost(ad, data["stream"], p["steps"], p["at"], p["repeats"])
        res["throughput"] = [throughput(ad, data["batch"], b, p["warm"], p["tp_steps"]) for b in p["batches"]]
    write_result(args.out, res)
