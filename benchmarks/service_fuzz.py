"""Benchmark: a random request fuzz against a live `transduce serve`, with its memory measured from outside.

The server is a real `transduce serve --model demo` subprocess; this process runs N random calls
(tests/service/fuzz_cases.py: bad and good configs at every bound, encodings against the bytes, junk
and huge messages, config in the wrong place, early half-close, cancellation, deadlines), C at a time,
over loopback, while one healthy client streams the bundled sample at real-time pace beside them.

Then (--slow-readers N, default 20) N clients stream at 1.9x real time with interim results on and
never read a response for --slow-seconds (30), then cancel: the server's memory while they run and 5 s
after they cancelled.

Printed: outcomes by kind and status, the slowest refusal, the longest status message; the server's
resident memory (VmRSS from /proc) at start (after its warm-up), its peak during the fuzz (sampled
every 20 ms) and 5 s after the last call, open file descriptors before and after; the healthy
stream's transcript against the offline transcript of the same audio. Exit status 1 when a call ended
with a status outside the allowed set, a message of 1 kB or more, the server died, the healthy stream
differed, the peak passed --max-rss-mb or the memory did not come back within 10% of the start.

    .venv/bin/python benchmarks/service_fuzz.py                        # 300 cases, 16 at a time
    .venv/bin/python benchmarks/service_fuzz.py --cases 1000 --concurrency 32 --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "service"))

from fuzz_cases import Outcome, make_case, run_case  # noqa: E402
from transduce.asr.audio import sample_path  # noqa: E402
from transduce.service.protos import asr_pb2  # noqa: E402
from transduce.streaming import Recognizer  # noqa: E402

MESSAGE_LIMIT = 1000


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _start_server(model: str, max_stream_s: float,
                  as_limit_gb: float | None = None) -> tuple[subprocess.Popen, str]:
    exe = Path(sys.executable).parent / "transduce"
    cmd = [str(exe), "serve", "--model", model, "--port", "0", "--max-stream-s", str(max_stream_s),
           "--log-format", "json"]
    limit = None if as_limit_gb is None else int(as_limit_gb * 2**30)
    cap = None if limit is None else (lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=cap)
    line = proc.stdout.readline()
    match = re.search(r" on (\S+):(\d+)$", line.strip())
    if not match:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return proc, f"127.0.0.1:{match.group(2)}"


async def _healthy(address: str, pcm: bytes, chunk_ms: int = 100) -> str:
    """Stream `pcm` at real-time pace on its own channel; the finals' text."""
    channel = grpc.aio.insecure_channel(address)
    call = channel.stream_stream("/transduce.asr.v1.Recognizer/StreamingRecognize",
                                 request_serializer=asr_pb2.StreamingRecognizeRequest.SerializeToString,
                                 response_deserializer=asr_pb2.StreamingRecognizeResponse.FromString)()
    cfg = asr_pb2.RecognitionConfig(encoding=asr_pb2.LINEAR16, sample_rate_hertz=16000)
    await call.write(asr_pb2.StreamingRecognizeRequest(
        streaming_config=asr_pb2.StreamingRecognitionConfig(config=cfg, interim_results=True)))
    step = 32 * chunk_ms

    async def write() -> None:
        for i in range(0, len(pcm), step):
            await call.write(asr_pb2.StreamingRecognizeRequest(audio_content=pcm[i:i + step]))
            await asyncio.sleep(chunk_ms / 1000)
        await call.done_writing()

    writer = asyncio.ensure_future(write())
    finals = [r.alternatives[0].transcript async for resp in call for r in resp.results if r.is_final]
    await writer
    await channel.close()
    return " ".join(finals)


async def _fuzz(args: argparse.Namespace, address: str, pid: int,
                pcm: bytes) -> tuple[list[Outcome], float, str]:
    rng = random.Random(args.seed)
    cases = [make_case(rng, pcm) for _ in range(args.cases)]
    channel = grpc.aio.insecure_channel(address)
    gate = asyncio.Semaphore(args.concurrency)
    peak = [_rss_mb(pid)]

    async def one(kind: str, what: object) -> Outcome:
        async with gate:
            return await run_case(channel, kind, what)

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], _rss_mb(pid))
            await asyncio.sleep(0.02)

    sampler = asyncio.ensure_future(sample())
    healthy = asyncio.ensure_future(_healthy(address, pcm))
    outcomes = await asyncio.gather(*(one(k, w) for k, w in cases))
    text = await healthy
    sampler.cancel()
    await channel.close()
    return outcomes, peak[0], text


async def _slow_readers(address: str, pid: int, pcm: bytes, streams: int, seconds: float) -> float:
    """`streams` clients send 200 ms of audio every 105 ms, interim results on, and never read; after
    `seconds` they cancel. The peak server RSS while they ran."""
    channel = grpc.aio.insecure_channel(address)
    call_of = channel.stream_stream("/transduce.asr.v1.Recognizer/StreamingRecognize",
                                    request_serializer=asr_pb2.StreamingRecognizeRequest.SerializeToString,
                                    response_deserializer=asr_pb2.StreamingRecognizeResponse.FromString)
    cfg = asr_pb2.RecognitionConfig(encoding=asr_pb2.LINEAR16, sample_rate_hertz=16000,
                                    enable_word_time_offsets=True, enable_word_confidence=True)
    first = asr_pb2.StreamingRecognizeRequest(
        streaming_config=asr_pb2.StreamingRecognitionConfig(config=cfg, interim_results=True))
    end = time.monotonic() + seconds
    looped = pcm * 20

    async def client() -> None:
        call = call_of()
        await call.write(first)
        pos = 0
        while time.monotonic() < end:
            try:
                await asyncio.wait_for(call.write(asr_pb2.StreamingRecognizeRequest(
                    audio_content=looped[pos:pos + 6400])), end - time.monotonic() + 0.1)
            except (asyncio.TimeoutError, grpc.aio.AioRpcError):
                break
            pos = (pos + 6400) % (len(looped) - 6400)
            await asyncio.sleep(0.105)
        call.cancel()

    peak = _rss_mb(pid)
    tasks = [asyncio.ensure_future(client()) for _ in range(streams)]
    while not all(t.done() for t in tasks):
        peak = max(peak, _rss_mb(pid))
        await asyncio.sleep(0.05)
    await channel.close()
    return peak


def _report(outcomes: list[Outcome]) -> list[str]:
    """Print the outcome table; the problems found."""
    table = collections.Counter((o.kind, o.code.name) for o in outcomes)
    print("outcomes (kind, status: count):")
    for (kind, code), n in sorted(table.items()):
        print(f"  {kind:7s} {code:20s} {n}")
    refusals = [o for o in outcomes if o.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                                                   grpc.StatusCode.OUT_OF_RANGE)]
    slowest = max(refusals, key=lambda o: o.seconds, default=None)
    longest = max(outcomes, key=lambda o: len(o.details.encode()))
    if slowest is not None:
        print(f"slowest refusal: {slowest.seconds:.3f} s ({slowest.kind} {slowest.code.name}: "
              f"{slowest.details[:100]!r})")
    print(f"longest status message: {len(longest.details.encode())} bytes ({longest.details[:100]!r})")
    races = sum(o.client_race for o in outcomes)
    print(f"client-side INTERNAL after an oversized streaming message (grpc#36066, see fuzz_cases): {races}")
    problems = [f"{o.kind} ended {o.code.name}: {o.details[:200]!r}" for o in outcomes if not o.allowed]
    problems += [f"{o.kind} {o.code.name}: message of {len(o.details.encode())} bytes" for o in outcomes
                 if len(o.details.encode()) >= MESSAGE_LIMIT]
    problems += [f"{o.kind} RESOURCE_EXHAUSTED by metadata: {o.details[:200]!r}" for o in outcomes
                 if "metadata" in o.details]
    return problems


def _slow_report(args: argparse.Namespace, base: float, idle: float, peak: float, end: float) -> list[str]:
    """Print the slow readers' memory; the problem when it did not come back."""
    per_stream = (peak - idle) / args.slow_readers
    print(f"{args.slow_readers} non-reading streams at 1.9x real time for {args.slow_seconds:g} s: server "
          f"RSS peak {peak:.0f} MB ({per_stream:.1f} MB per stream over the idle server), 5 s after they "
          f"cancelled {end:.0f} MB ({end / base:.2f}x start)")
    if end <= 1.1 * base:
        return []
    return [f"after the slow readers RSS {end:.0f} MB, not within 10% of {base:.0f} MB"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo")
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-stream-s", type=float, default=60.0)
    parser.add_argument("--max-rss-mb", type=float, default=1536.0)
    parser.add_argument("--as-limit-gb", type=float, default=None,
                        help="cap the server's address space (so a runaway server fails, not the machine)")
    parser.add_argument("--slow-readers", type=int, default=20)
    parser.add_argument("--slow-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)

    samples, rate = sf.read(str(sample_path()), dtype="int16")
    assert rate == 16000
    pcm = samples.astype("<i2").tobytes()
    offline = Recognizer.load(args.model).transcribe([samples.astype(np.float32) / 32768])[0].text
    proc, address = _start_server(args.model, args.max_stream_s, args.as_limit_gb)
    try:
        time.sleep(2.0)
        base_rss, base_fds = _rss_mb(proc.pid), _fds(proc.pid)
        start = time.monotonic()
        outcomes, peak, healthy = asyncio.run(_fuzz(args, address, proc.pid, pcm))
        wall = time.monotonic() - start
        time.sleep(5.0)
        alive = proc.poll() is None
        end_rss, end_fds = (_rss_mb(proc.pid), _fds(proc.pid)) if alive else (float("nan"), -1)
        slow_peak = slow_end = float("nan")
        if alive and args.slow_readers:
            slow = _slow_readers(address, proc.pid, pcm, args.slow_readers, args.slow_seconds)
            slow_peak = asyncio.run(slow)
            time.sleep(5.0)
            slow_end = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    print(f"{args.cases} cases, {args.concurrency} at a time, seed {args.seed}, model {args.model}: "
          f"{wall:.1f} s")
    problems = _report(outcomes)
    print(f"server RSS: start {base_rss:.0f} MB, peak {peak:.0f} MB, 5 s after {end_rss:.0f} MB "
          f"({end_rss / base_rss:.2f}x start); open fds {base_fds} -> {end_fds}")
    print(f"healthy stream: {'== offline' if healthy == offline else 'DIFFERS'} ({healthy!r})")
    if args.slow_readers:
        problems += _slow_report(args, base_rss, end_rss, slow_peak, slow_end)
    problems += [] if alive else ["the server died"]
    problems += [] if healthy == offline else [f"healthy stream {healthy!r} != offline {offline!r}"]
    problems += [] if peak <= args.max_rss_mb else [f"peak RSS {peak:.0f} MB > {args.max_rss_mb:.0f} MB"]
    if not end_rss <= 1.1 * base_rss:
        problems.append(f"RSS {end_rss:.0f} MB not within 10% of {base_rss:.0f} MB")
    problems += [] if end_fds <= base_fds + 2 else [f"open fds {base_fds} -> {end_fds}"]
    for p in problems[:20]:
        print("PROBLEM:", p)
    print("PASS" if not problems else f"FAIL ({len(problems)} problems)")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
