"""`transduce export RUN_DIR_OR_CKPT OUT_DIR [--average-last K] [--half]`: a clean model directory.

    transduce export runs/demo1 asr/assets/models/demo --average-last 5
    transduce export runs/format_seq2seq asr/assets/models/format --average-last 5 --half

OUT_DIR gets config.json, model.safetensors and tokenizer/ (what asr.load_model reads), from the
newest checkpoint of the run or the mean of its last K; see asr.training.export.
"""

from __future__ import annotations

import argparse

from transduce.asr.cli import Command, CommandError

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="RUN_DIR_OR_CKPT", help="a training out_dir or one model directory")
    parser.add_argument("out", metavar="OUT_DIR", help="directory to write the model to")
    parser.add_argument("--average-last", type=int, default=1, metavar="K",
                        help="average the newest K checkpoints of the run (default 1: the newest)")
    parser.add_argument("--half", action="store_true",
                        help="store the weights in float16 (half the bytes; loaders compute in float32)")


def _run(args: argparse.Namespace) -> int:
    import torch
    from transduce.asr.checkpoint import CheckpointError
    from transduce.asr.training.export import export_model

    try:
        dtype = torch.float16 if args.half else torch.float32
        report = export_model(args.source, args.out, args.average_last, dtype)
    except (CheckpointError, ValueError) as e:
        raise CommandError(str(e)) from None
    n = len(report.sources)
    what = "the newest checkpoint" if n == 1 else f"the mean of {n} checkpoints"
    print(f"wrote {report.out}: {what} ({', '.join(p.name for p in report.sources)}), "
          f"{report.parameters:,} parameters, {report.bytes / 2**20:.1f} MiB on disk "
          f"({'float16' if args.half else 'float32'})")
    return 0


COMMAND = Command(
    name="export",
    help="Write a clean model directory (float32; float16 with --half) from a run (optionally averaged).",
    add_arguments=_add_arguments,
    run=_run,
)
