"""`transduce format [FILES...]`: spoken-form lines in, written text out, one line per line.

    echo "it costs twelve dollars fifty" | transduce format          # It costs $12.50.
    transduce format transcripts.txt --model format --method aggressive > written.txt

Reads the files in order ("-" or none: stdin), formats `--batch-size` lines at a time with a text
model (asr.text.TextRewriter; default the bundled formatting model) and writes each result as soon
as its batch is done, so it works in a pipe (from a terminal, line by line). Empty lines stay empty.
A missing file, a model that is not a text model or a line over --max-chars is one message on
stderr and exit status 2, before any output of that batch.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
from collections.abc import Iterator

from transduce.asr.cli import Command, CommandError

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="text files, one text per line (- or none: stdin)")
    parser.add_argument("--model", default="format", metavar="PATH|NAME",
                        help="a text model directory or bundled name (default: format)")
    parser.add_argument("--method", default="aggressive", choices=("aggressive", "greedy", "beam"),
                        help="decoding (default aggressive: greedy's output, fewer decoder passes)")
    parser.add_argument("--beam-size", type=int, default=4, metavar="N", help="beam width (default 4)")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N",
                        help="lines per batch (default 64)")
    parser.add_argument("--max-chars", type=int, default=4000, metavar="N",
                        help="longest line accepted (default 4000 characters)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")


def _lines(files: list[str]) -> Iterator[tuple[str, int, str]]:
    """(file name, line number, text without its newline) of every line of `files` in order."""
    for name in files or ["-"]:
        try:
            opened = contextlib.nullcontext(sys.stdin) if name == "-" else open(name, encoding="utf-8")
        except OSError as e:
            raise CommandError(f"{name}: {e.strerror}") from None
        with opened as stream:
            for number, line in enumerate(stream, 1):
                yield ("<stdin>" if name == "-" else name), number, line.rstrip("\r\n")


def _run(args: argparse.Namespace) -> int:
    from transduce.asr.checkpoint import CheckpointError
    from transduce.asr.text.rewriter import TextRewriter

    if args.batch_size < 1 or args.beam_size < 1 or args.max_chars < 1:
        raise CommandError("--batch-size, --beam-size and --max-chars must be >= 1")
    try:
        rewriter = TextRewriter.load(args.model, device=args.device, method=args.method,
                                     beam_size=args.beam_size, max_chars=args.max_chars)
    except (CheckpointError, TypeError, ValueError, OSError) as e:
        raise CommandError(f"--model {args.model}: {e}") from None
    interactive = not args.files and sys.stdin.isatty()
    lines = _lines(args.files)
    while batch := list(itertools.islice(lines, 1 if interactive else args.batch_size)):
        for name, number, text in batch:
            if len(text) > args.max_chars:
                raise CommandError(f"{name}:{number}: the line has {len(text)} characters; at most "
                                   f"{args.max_chars} (--max-chars)")
        for written in rewriter([text for _, _, text in batch]):
            print(written, flush=interactive)
    sys.stdout.flush()
    return 0


COMMAND = Command(
    name="format",
    help="Write spoken-form text (what the recognisers emit) as written text with a text model.",
    add_arguments=_add_arguments,
    run=_run,
)
