"""Benchmark: offline batch transcription speed (RTFx) of a model, batched vs one file at a time.

RTFx = seconds of audio transcribed per wall-clock second (higher is faster). The same files go
through `Recognizer.transcribe` (the layer `transduce transcribe` runs) with batch_size 1 (one file
at a time, the baseline) and then in duration-sorted batches; every setting must give the same
transcripts (checked, printed). Audio reading is included in the time: it is part of the job.

Files: the test split of a synthetic corpus (`transduce data synth`, default data/synth/test.jsonl),
the first --files of them; without one, copies of the bundled sample.

    .venv/bin/python benchmarks/batch.py                          # demo model, 200 files, 2 threads
    .venv/bin/python benchmarks/batch.py --threads 1 --files 100 --batch-sizes 1,8,32
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import print_table  # noqa: E402
from transduce.streaming import Recognizer  # noqa: E402

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]


def _files(manifest: Path, count: int) -> list[str]:
    if manifest.is_file():
        rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
        return [str(manifest.parent / r["audio_filepath"]) for r in rows[:count]]
    return [str(ROOT / "asr" / "assets" / "sample.wav")] * count


def _run(r: Recognizer, files: list[str], batch_size: int, max_frames: int | None,
         workers: int) -> tuple[float, list[str], float]:
    start = time.perf_counter()
    out = r.transcribe(files, batch_size=batch_size, max_batch_frames=max_frames, workers=workers)
    wall = time.perf_counter() - start
    return wall, [t.text for t in out], sum(t.duration_s for t in out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="demo")
    p.add_argument("--manifest", type=Path, default=ROOT / "data" / "synth" / "test.jsonl")
    p.add_argument("--files", type=int, default=200)
    p.add_argument("--batch-sizes", default="1,4,16,32")
    p.add_argument("--max-batch-frames", type=int, default=None)
    p.add_argument("--workers", type=int, default=1, help="reader threads (default 1)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--decoding", default="greedy", choices=("greedy", "beam"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    r = Recognizer.load(args.model, decoding=args.decoding)
    files = _files(args.manifest, args.files)
    _run(r, files[:4], 4, None, 0)  # warm-up
    rows, baseline, reference = [], None, None
    for bs in (int(x) for x in args.batch_sizes.split(",")):
        wall, texts, audio_s = _run(r, files, bs, args.max_batch_frames, args.workers)
        reference = reference or texts
        baseline = baseline or wall
        same = "yes" if texts == reference else f"NO ({sum(a != b for a, b in zip(texts, reference))} differ)"
        rows.append([str(bs), f"{wall:.2f}", f"{audio_s / wall:.1f}", f"{baseline / wall:.2f}x", same])
    print(f"model {args.model}, {len(files)} files, {audio_s / 3600:.3f} h of audio, "
          f"{args.decoding} decoding, torch threads {args.threads}, reader threads {args.workers}, "
          f"max batch frames {args.max_batch_frames}, {os.cpu_count()} cores")
    print_table(["batch size", "wall s", "RTFx", "speed-up vs batch 1", "same transcripts"], rows)


if __name__ == "__main__":
    main()
