"""`transduce average OUT CKPT...` or `transduce average OUT --last K DIR`: average model checkpoints.

Floating-point weights are averaged, integer buffers come from the last checkpoint; OUT is a
regular model directory (asr.load_model) with the config and tokenizer of the last checkpoint.
"""

from __future__ import annotations

import argparse

from transduce.asr.cli import Command, CommandError

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="directory to write the averaged model to")
    parser.add_argument("checkpoints", nargs="+", metavar="CKPT",
                        help="model directories to average, oldest first (with --last: one training out_dir)")
    parser.add_argument("--last", type=int, metavar="K",
                        help="average the newest K training checkpoints of the out_dir given as CKPT")


def _run(args: argparse.Namespace) -> int:
    from transduce.asr.checkpoint import CheckpointError
    from transduce.asr.training.averaging import last_checkpoints, write_average

    try:
        if args.last is not None:
            if len(args.checkpoints) != 1 or args.last < 1:
                raise CommandError("--last K takes K >= 1 and exactly one training out_dir")
            paths = last_checkpoints(args.checkpoints[0], args.last)
        else:
            paths = args.checkpoints
        out = write_average(args.out, paths)
    except (CheckpointError, ValueError) as e:
        raise CommandError(str(e)) from None
    print(f"wrote {out}: the average of {len(paths)} checkpoints ({', '.join(str(p) for p in paths)})")
    return 0


COMMAND = Command(
    name="average",
    help="Average the weights of several checkpoints of one model (e.g. the last K of a run).",
    add_arguments=_add_arguments,
    run=_run,
)
