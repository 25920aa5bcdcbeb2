"""`transduce transcribe`: offline batch transcription of files, folders and manifests.

    transduce transcribe INPUTS... --model PATH|demo --out FILE [--format jsonl|txt|srt|vtt]
        [--decoding greedy|beam] [--beam-size K] [--batch-size N] [--resume | --overwrite]

Inputs and output formats: see `streaming._batch_io`. Recordings are decoded in batches of similar
duration (`Recognizer.transcribe_iter`); each result is appended to --out and flushed as soon as its
batch is done, so a job killed at any moment and rerun with --resume skips what is already there and
duplicates nothing (a half-written last line is dropped). An unreadable file becomes a row with `error`
and the job goes on. Exit status: 0 all transcribed, 1 some input failed (this run or an error row
already in --out), 2 usage error. A tqdm bar on stderr shows files, audio hours and speed (RTFx: audio
seconds per wall-clock second). Multi-process scale-out (torchrun) is not part of this command yet.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from asr.cli import Command, CommandError

__all__ = ["COMMAND"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUTS",
                        help="audio files, directories (searched for .wav .flac .ogg) or JSONL manifests")
    parser.add_argument("--model", required=True, metavar="PATH|NAME",
                        help="a model directory, or the name of a bundled model (e.g. demo)")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE",
                        help="results file (jsonl/txt) or folder (srt/vtt: one subtitle file per input)")
    parser.add_argument("--format", default="jsonl", choices=("jsonl", "txt", "srt", "vtt"))
    parser.add_argument("--decoding", default="greedy", choices=("greedy", "beam"))
    parser.add_argument("--beam-size", type=int, default=4, metavar="K", help="beam width (default 4)")
    parser.add_argument("--batch-size", type=int, default=8, metavar="N", help="recordings per forward pass")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue --out: skip inputs already in it")
    again.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _load(args: argparse.Namespace):  # noqa: ANN202 - a streaming.Recognizer (imported lazily)
    from asr.checkpoint import CheckpointError
    from streaming.errors import SessionConfigError
    from streaming.recognizer import Recognizer

    if args.batch_size < 1 or args.beam_size < 1:
        raise CommandError("--batch-size and --beam-size must be >= 1")
    try:
        return Recognizer.load(args.model, device=args.device, decoding=args.decoding,
                               beam_size=args.beam_size)
    except (CheckpointError, SessionConfigError, OSError, ValueError) as e:
        raise CommandError(f"--model {args.model}: {e}") from None


def _progress(total: int, disable: bool):  # noqa: ANN202 - a tqdm bar
    from tqdm import tqdm

    return tqdm(total=total, unit="file", file=sys.stderr, disable=disable, dynamic_ncols=True)


def _empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _run(args: argparse.Namespace) -> int:
    from streaming._batch_io import InputError, collect_inputs, open_ledger
    from streaming.transcripts import Transcript

    try:
        work = collect_inputs(args.inputs)
        if args.out.exists() and not (args.resume or args.overwrite or _empty_dir(args.out)):
            raise InputError(f"--out {args.out} exists: add --resume to continue it or --overwrite to "
                             "replace it")
        recognizer = _load(args)  # before --out is touched: a bad model leaves no output behind
        ledger = open_ledger(args.out, args.format, [w.source for w in work], args.resume, args.overwrite)
    except (InputError, OSError) as e:
        raise CommandError(str(e)) from None
    failed = sum(ledger.done.get(w.source, False) for w in work)
    todo = [w for w in work if w.source not in ledger.done]
    audio_s, start = 0.0, time.perf_counter()
    with _progress(len(todo), args.no_progress) as bar:
        for w in (w for w in todo if w.error):
            ledger.write(Transcript("", (), (), 0.0, 0.0, w.source, w.error))
            bar.update(1)
        paths = [w.source for w in todo if not w.error]
        for _, t in recognizer.transcribe_iter(paths, batch_size=args.batch_size):
            ledger.write(t)
            audio_s += t.duration_s
            if t.error:
                print(f"transduce transcribe: {t.error}", file=sys.stderr)
            bar.set_postfix(audio_h=f"{audio_s / 3600:.3f}",
                            RTFx=f"{audio_s / max(time.perf_counter() - start, 1e-9):.1f}", refresh=False)
            bar.update(1)
    ledger.close()
    failed += sum(1 for w in todo if ledger.done.get(w.source))
    print(f"transcribed {len(todo)} inputs ({len(work) - len(todo)} already done), {failed} failed, "
          f"{audio_s / 3600:.3f} h of audio -> {args.out}", file=sys.stderr)
    return 1 if failed else 0


COMMAND = Command(
    name="transcribe",
    help="Transcribe audio files, folders or JSONL manifests in batches into JSONL, text or subtitles.",
    add_arguments=_arguments,
    run=_run,
)
