"""Benchmark: how many real-time streams `transduce serve` keeps up with, and at what latency.

N clients stream the same speech concurrently over loopback gRPC, each at the pace of the audio
(chunk k is sent at t0 + k * chunk_ms on an absolute clock; starts are staggered across one chunk),
with interim results on. The server is a real `transduce serve` subprocess (its own process and
CPU), the clients are asyncio tasks in this process, one channel each.

Measured per level N (N = 1, 2, 4, ... until a level fails, bounded by --max-streams and --budget-s):
- partial latency: for each interim response, receive time minus the send time of the chunk that
  completed the audio up to its result_end_ms. This is what a user sees: it includes the chunk's
  own duration, the look-ahead and the model step, not just compute;
- final latency: last final received minus last audio chunk sent (the client half-closes then);
- CPU: server process CPU seconds (/proc utime + stime) per wall second, i.e. cores used; client too.
A stream keeps up when its p95 partial latency and its final latency are both under --max-lag-s;
a level passes when every stream keeps up and none failed. Batching on (the scheduler's
max_batch, default 32) and off (max_batch 1, every stream its own model step) are separate servers
on the same audio.

    .venv/bin/python benchmarks/service_load.py                       # demo model, ~5-10 min on 2 cores
    .venv/bin/python benchmarks/service_load.py --quick               # N = 1, 2 only (smoke test)
    .venv/bin/python benchmarks/service_load.py --model PATH --lookahead-ms 120 --max-streams 64
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from transduce.asr.audio import load_audio  # noqa: E402
from transduce.service.client import open_channel  # noqa: E402
from transduce.service.protos import RecognizerStub, asr_pb2  # noqa: E402

__all__ = ["StreamStats", "LevelResult", "main"]

SAMPLE = Path(__file__).resolve().parents[1] / "asr" / "assets" / "sample.wav"
RATE = 16000


@dataclass
class StreamStats:
    """What one client saw: partial latencies (s), final latency (s), its error (None when it ended OK)."""

    partials: list[float] = field(default_factory=list)
    final_latency: float | None = None
    finals: int = 0
    error: str | None = None

    def keeps_up(self, max_lag_s: float) -> bool:
        p95 = _pct(self.partials, 95) if self.partials else 0.0
        return self.error is None and self.final_latency is not None and \
            self.final_latency <= max_lag_s and p95 <= max_lag_s


@dataclass
class LevelResult:
    """One level: N streams, their stats, wall seconds and CPU seconds of server and client."""

    streams: int
    stats: list[StreamStats]
    wall_s: float
    server_cpu_s: float
    client_cpu_s: float

    def passed(self, max_lag_s: float) -> bool:
        return all(s.keeps_up(max_lag_s) for s in self.stats)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _speech(seconds: float) -> bytes:
    """PCM16 of the bundled sample repeated (0.4 s of silence between) to at least `seconds`."""
    one = load_audio(SAMPLE, RATE)
    gap = np.zeros(int(0.4 * RATE), dtype=np.float32)
    parts = [one]
    while sum(len(p) for p in parts) < seconds * RATE:
        parts += [gap, one]
    x = np.concatenate(parts)
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def _config(lookahead_ms: int | None) -> asr_pb2.StreamingRecognizeRequest:
    cfg = asr_pb2.RecognitionConfig(encoding=asr_pb2.LINEAR16, sample_rate_hertz=RATE, audio_channel_count=1)
    sc = asr_pb2.StreamingRecognitionConfig(config=cfg, interim_results=True)
    if lookahead_ms is not None:
        sc.lookahead_ms = lookahead_ms
    return asr_pb2.StreamingRecognizeRequest(streaming_config=sc)


async def _send(call, pcm: bytes, chunk_ms: int, delay_s: float, sent: list[tuple[float, float]],
                config: asr_pb2.StreamingRecognizeRequest) -> None:
    """Write the config, then the audio at its own pace; `sent` gets (audio end ms, send time)."""
    step = RATE * chunk_ms // 1000 * 2
    await asyncio.sleep(delay_s)
    await call.write(config)
    t0 = time.perf_counter()
    for k, i in enumerate(range(0, len(pcm), step)):
        wait = t0 + k * chunk_ms / 1000 - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        await call.write(asr_pb2.StreamingRecognizeRequest(audio_content=pcm[i:i + step]))
        sent.append(((i + len(pcm[i:i + step])) / 2 / RATE * 1000, time.perf_counter()))
    await call.done_writing()


def _sent_at(sent: list[tuple[float, float]], end_ms: float) -> float | None:
    """The send time of the first chunk whose audio reaches `end_ms` (None if not sent yet)."""
    for audio_ms, t in sent:
        if audio_ms >= end_ms:
            return t
    return None


async def _one_stream(target: str, pcm: bytes, chunk_ms: int, delay_s: float,
                      lookahead_ms: int | None) -> StreamStats:
    stats, sent = StreamStats(), []
    async with open_channel(target) as channel:
        call = RecognizerStub(channel).StreamingRecognize()
        writer = asyncio.create_task(_send(call, pcm, chunk_ms, delay_s, sent, _config(lookahead_ms)))
        try:
            async for response in call:
                now = time.perf_counter()
                for r in response.results:
                    if r.is_final:
                        stats.finals += 1
                        if writer.done():  # after the last chunk: the stream's closing final
                            stats.final_latency = now - sent[-1][1]
                        continue
                    t = _sent_at(sent, r.result_end_ms)
                    if t is not None:
                        stats.partials.append(now - t)
            await writer
        except Exception as e:  # noqa: BLE001 - a failed stream fails the level; say why
            detail = e.details() if hasattr(e, "details") else str(e)
            stats.error = f"{type(e).__name__}: {detail}"
            writer.cancel()
    return stats


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _level(target: str, n: int, pcm: bytes, args: argparse.Namespace, server_pid: int) -> LevelResult:
    cpu0, client0, t0 = _cpu_s(server_pid), time.process_time(), time.perf_counter()
    chunk_s = args.chunk_ms / 1000
    tasks = [_one_stream(target, pcm, args.chunk_ms, i * chunk_s / n, args.lookahead_ms) for i in range(n)]
    stats = await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.seconds * 4 + 60)
    wall = time.perf_counter() - t0
    return LevelResult(n, list(stats), wall, _cpu_s(server_pid) - cpu0, time.process_time() - client0)


def _start_server(args: argparse.Namespace, max_batch: int) -> tuple[subprocess.Popen, str]:
    exe = Path(sys.executable).parent / "transduce"
    cmd = [str(exe), "serve", "--model", args.model, "--port", "0", "--max-batch", str(max_batch),
           "--threads", str(args.server_threads), "--log-format", "json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    match = re.search(r" on (\S+):(\d+)$", line.strip())
    if not match:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return proc, f"127.0.0.1:{match.group(2)}"


def _levels(max_streams: int) -> list[int]:
    out, n = [], 1
    while n <= max_streams:
        out.append(n)
        n = n * 2 if n < 8 else n + (8 if n < 32 else 16)
    return out


def _row(mode: str, r: LevelResult, max_lag_s: float) -> list[str]:
    partials = [x for s in r.stats for x in s.partials]
    finals = [s.final_latency for s in r.stats if s.final_latency is not None]
    errors = sum(s.error is not None for s in r.stats)
    kept = sum(s.keeps_up(max_lag_s) for s in r.stats)
    ms = lambda x: f"{1000 * x:.0f}"
    return [mode, str(r.streams), f"{kept}/{r.streams}", str(errors), ms(_pct(partials, 50)),
            ms(_pct(partials, 95)), ms(_pct(partials, 99)), ms(_pct(finals, 50)) if finals else "-",
            ms(max(finals)) if finals else "-", f"{r.server_cpu_s / r.wall_s:.2f}",
            f"{r.client_cpu_s / r.wall_s:.2f}"]


async def _run_mode(args: argparse.Namespace, mode: str, max_batch: int, pcm: bytes,
                    deadline: float) -> tuple[list[list[str]], int]:
    proc, target = _start_server(args, max_batch)
    rows, best = [], 0
    try:
        await _level(target, 1, pcm[: RATE * 2], args, proc.pid)  # warm-up (first steps, allocations)
        for n in _levels(args.max_streams):
            if time.monotonic() > deadline:
                print(f"  ({mode}: time budget spent before N={n})", flush=True)
                break
            result = await _level(target, n, pcm, args, proc.pid)
            rows.append(_row(mode, result, args.max_lag_s))
            print("  " + " ".join(rows[-1]), flush=True)
            errors = [s.error for s in result.stats if s.error]
            if errors:
                print(f"  first error: {errors[0]}", flush=True)
            if not result.passed(args.max_lag_s):
                break
            best = n
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return rows, best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="demo")
    p.add_argument("--seconds", type=float, default=12.0, help="audio per stream (default 12 s)")
    p.add_argument("--chunk-ms", type=int, default=160, help="audio per message (default 160 ms)")
    p.add_argument("--lookahead-ms", type=int, default=120, help="model look-ahead to ask for (default 120)")
    p.add_argument("--max-streams", type=int, default=128)
    p.add_argument("--max-lag-s", type=float, default=1.0, help="keeps up: p95 partial and final under this")
    p.add_argument("--server-threads", type=int, default=1, help="torch threads of the server (default 1)")
    p.add_argument("--modes", default="on,off", help="batching on, off or both (default on,off)")
    p.add_argument("--budget-s", type=float, default=900.0, help="stop starting levels after this")
    p.add_argument("--quick", action="store_true", help="N = 1, 2 and 4 s of audio: a smoke test")
    args = p.parse_args()
    if args.quick:
        args.seconds, args.max_streams = 4.0, 2
    pcm = _speech(args.seconds)
    deadline = time.monotonic() + args.budget_s
    headers = ["batching", "N", "kept up", "errors", "partial p50 ms", "p95", "p99", "final p50 ms",
               "final max", "server cores", "client cores"]
    print(f"model {args.model}, {len(pcm) / 2 / RATE:.1f} s of audio per stream, chunks {args.chunk_ms} ms, "
          f"look-ahead {args.lookahead_ms} ms, keeps up = p95 partial and final latency "
          f"< {args.max_lag_s} s, server torch threads {args.server_threads}, {os.cpu_count()} cores")
    print("  " + " | ".join(headers), flush=True)
    table, best = [], {}
    for mode in args.modes.split(","):
        rows, best[mode] = asyncio.run(_run_mode(args, mode, 32 if mode == "on" else 1, pcm, deadline))
        table += rows
    print("\n| " + " | ".join(headers) + " |\n|" + "---|" * len(headers))
    for row in table:
        print("| " + " | ".join(row) + " |")
    for mode, n in best.items():
        print(f"largest N that kept up in real time, batching {mode}: {n}")
    if "on" in best and "off" in best and best["off"]:
        print(f"ratio batching on / off: {best['on'] / best['off']:.2f}x streams")


if __name__ == "__main__":
    main()
