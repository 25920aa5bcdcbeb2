"""`transduce transcribe`: offline batch transcription of files, folders and manifests.

    transduce transcribe INPUTS... --model PATH|demo --out FILE [--output-format jsonl|txt|srt|vtt]
        [--format [--format-model PATH|NAME]] [--decoding greedy|beam] [--beam-size N]
        [--lm PATH|NAME [--lm-weight W]]
        [--lookahead-ms MS] [--batch-size N] [--max-batch-frames N] [--workers N] [--resume | --overwrite]
    torchrun --nproc-per-node N -m transduce.cli transcribe ...     (each rank a shard, one merged --out)

Inputs and output formats: see `streaming._batch_io`. --format adds the written form of each transcript
(`streaming.formatting`; jsonl: "formatted_text", txt: the written text instead of the spoken). --lm
re-ranks each transcript's n-best with a language model (beam decoding; `streaming.lm`).
Recordings are decoded in batches of similar duration (`Recognizer.transcribe_iter`); each result is
appended to --out and flushed as soon as its batch is done, so a job killed at any moment and rerun with
--resume skips what is already there and duplicates nothing (a half-written last line is dropped). An
unreadable file becomes a row with `error` and the job goes on. Exit status: 0 all transcribed, 1 some
input failed (this run or an error row already in --out), 2 usage error. A tqdm bar on stderr shows
files, audio hours and speed (RTFx: audio seconds per wall-clock second). Under torchrun (WORLD_SIZE > 1)
the processes join a gloo group, rank r takes every WORLD_SIZE-th input still to do, writes a part file,
and rank 0 merges the parts into --out when all are done; every rank exits with the job's status.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from transduce.asr.cli import Command, CommandError

__all__ = ["COMMAND"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUTS",
                        help="audio files, directories (searched for .wav .flac .ogg) or JSONL manifests")
    parser.add_argument("--model", required=True, metavar="PATH|NAME",
                        help="a model directory, or the name of a bundled model (e.g. demo)")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE",
                        help="results file (jsonl/txt) or folder (srt/vtt: one subtitle file per input)")
    parser.add_argument("--output-format", default="jsonl", choices=("jsonl", "txt", "srt", "vtt"),
                        help="results file format (default jsonl)")
    parser.add_argument("--format", action="store_true",
                        help="also write each transcript in written form (jsonl and txt)")
    parser.add_argument("--format-model", default="format", metavar="PATH|NAME",
                        help="the text model of --format (default: the bundled formatting model)")
    parser.add_argument("--decoding", default="greedy", choices=("greedy", "beam"))
    parser.add_argument("--beam-size", type=int, default=4, metavar="N", help="beam width (default 4)")
    parser.add_argument("--lm", default=None, metavar="PATH|NAME",
                        help="a language model (TextLM) re-ranking the n-best of beam decoding; "
                             "'bundled': the one in the model's lm folder")
    parser.add_argument("--lm-weight", type=float, default=0.3, metavar="W",
                        help="the language model's weight (default 0.3)")
    parser.add_argument("--lookahead-ms", type=int, default=None, metavar="MS",
                        help="one of the model's look-aheads in ms (default: the model's default)")
    parser.add_argument("--batch-size", type=int, default=8, metavar="N", help="recordings per forward pass")
    parser.add_argument("--max-batch-frames", type=int, default=None, metavar="N",
                        help="at most N padded 10 ms feature frames per forward pass (default: no limit)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="threads reading audio ahead of the model (default 1; 0: none)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue --out: skip inputs already in it")
    again.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _load(args: argparse.Namespace):  # noqa: ANN202 - a streaming.Recognizer (imported lazily)
    from transduce.asr.checkpoint import CheckpointError
    from transduce.streaming.errors import SessionConfigError
    from transduce.streaming.formatting import load_formatter
    from transduce.streaming.recognizer import Recognizer

    if args.batch_size < 1 or args.beam_size < 1:
        raise CommandError("--batch-size and --beam-size must be >= 1")
    if (args.max_batch_frames is not None and args.max_batch_frames < 1) or args.workers < 0:
        raise CommandError("--max-batch-frames must be >= 1 and --workers >= 0")
    if args.format and args.output_format not in ("jsonl", "txt"):
        raise CommandError(f"--format writes jsonl or txt, not {args.output_format} (subtitles keep the "
                           "spoken words and their times)")
    try:
        lm = True if args.lm == "bundled" else args.lm
        recognizer = Recognizer.load(args.model, device=args.device, decoding=args.decoding,
                                     beam_size=args.beam_size, lookahead_ms=args.lookahead_ms, lm=lm,
                                     lm_weight=args.lm_weight)
    except (CheckpointError, SessionConfigError, OSError, ValueError) as e:
        raise CommandError(f"--model {args.model}: {e}") from None
    if args.format:
        try:
            recognizer.formatter = load_formatter(args.format_model, args.device)
        except (CheckpointError, TypeError, ValueError, OSError) as e:
            raise CommandError(f"--format-model {args.format_model}: {e}") from None
    return recognizer


def _progress(total: int, disable: bool):  # noqa: ANN202 - a tqdm bar
    from tqdm import tqdm

    return tqdm(total=total, unit="file", file=sys.stderr, disable=disable, dynamic_ncols=True)


def _join_ranks():  # noqa: ANN202 - an asr.training.distributed.DistInfo
    """This process's rank under torchrun (a gloo group with a long timeout: ranks finish at different
    times), or a single process."""
    import datetime

    import torch
    from transduce.asr.training.distributed import init_distributed

    return init_distributed(torch.device("cpu"), timeout=datetime.timedelta(days=7))


def _prepare(args: argparse.Namespace, rank: Any):  # noqa: ANN202 - (work, recognizer, ledger)
    """Inputs, model and this process's output; rank 0 alone checks and prepares --out."""
    from transduce.asr.training import distributed as D
    from transduce.streaming._batch_io import InputError, collect_inputs, open_ledger, prepare_out

    try:
        work = collect_inputs(args.inputs)
        sources = [w.source for w in work]
        recognizer = _load(args)  # before --out is touched: a bad model leaves no output behind
        if rank.is_main:
            prepare_out(args.out, args.output_format, sources, args.resume, args.overwrite)
        D.barrier(rank)
        ledger = open_ledger(args.out, args.output_format, sources, rank.rank, rank.world_size)
    except (InputError, OSError) as e:
        raise CommandError(str(e)) from None
    return work, recognizer, ledger


def _transcribe(args: argparse.Namespace, todo: list, recognizer: Any, ledger: Any, show: bool) -> float:
    """Transcribe `todo` into `ledger` (error rows for inputs known bad); the seconds of audio done."""
    from transduce.streaming.transcripts import Transcript

    audio_s, start = 0.0, time.perf_counter()
    with _progress(len(todo), not show) as bar:
        for w in (w for w in todo if w.error):
            ledger.write(Transcript("", (), (), 0.0, 0.0, w.source, w.error))
            bar.update(1)
        paths = [w.source for w in todo if not w.error]
        for _, t in recognizer.transcribe_iter(paths, batch_size=args.batch_size,
                                               max_batch_frames=args.max_batch_frames, workers=args.workers):
            ledger.write(t)
            audio_s += t.duration_s
            if t.error:
                print(f"transduce transcribe: {t.error}", file=sys.stderr)
            bar.set_postfix(audio_h=f"{audio_s / 3600:.3f}",
                            RTFx=f"{audio_s / max(time.perf_counter() - start, 1e-9):.1f}", refresh=False)
            bar.update(1)
    ledger.close()
    return audio_s


def _run(args: argparse.Namespace) -> int:
    from transduce.asr.training import distributed as D
    from transduce.streaming._batch_io import merge_parts

    rank = _join_ranks()
    try:
        work, recognizer, ledger = _prepare(args, rank)
        failed_before = sum(ledger.done.get(w.source, False) for w in work)
        todo = [w for w in work if w.source not in ledger.done][rank.rank::rank.world_size]
        audio_s = _transcribe(args, todo, recognizer, ledger, show=rank.is_main and not args.no_progress)
        failed_here = sum(1 for w in todo if ledger.done.get(w.source))
        counts = D.gather_objects((len(todo), failed_here, audio_s), rank)
        D.barrier(rank)  # every part is complete
        if rank.is_main and rank.world_size > 1 and args.output_format in ("jsonl", "txt"):
            merge_parts(args.out, args.output_format)
    finally:
        D.shutdown(rank)
    done, failed, audio_s = (sum(c[i] for c in counts) for i in range(3))
    failed += failed_before
    if rank.is_main:
        print(f"transcribed {done} inputs ({len(work) - done} already done), {failed} failed, "
              f"{audio_s / 3600:.3f} h of audio -> {args.out}"
              + (f" ({rank.world_size} processes)" if rank.world_size > 1 else ""), file=sys.stderr)
    return 1 if failed else 0


COMMAND = Command(
    name="transcribe",
    help="Transcribe audio files, folders or JSONL manifests in batches into JSONL, text or subtitles.",
    add_arguments=_arguments,
    run=_run,
)
