"""The `transduce` command line: `transduce COMMAND ...`, `python -m transduce ...` and
`torchrun ... -m transduce.cli COMMAND ...`.

Subcommands are plugins registered under the `transduce.commands` entry-point group (see
pyproject.toml and transduce.asr.cli.Command); only the one named on the command line is imported.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from transduce.asr.cli import Command, CommandError

__all__ = ["build_parser", "main"]


def _load_commands(only: str | None = None) -> list[Command]:
    """The registered commands; with `only` naming one, just that one (its imports alone, a fast start)."""
    eps = list(entry_points(group="transduce.commands"))
    chosen = [ep for ep in eps if ep.name == only]
    commands = [ep.load() for ep in (chosen or eps)]
    return sorted(commands, key=lambda c: c.name)


def build_parser(commands: Sequence[Command]) -> argparse.ArgumentParser:
    """The top-level parser with one subparser per registered command."""
    parser = argparse.ArgumentParser(prog="transduce", description="Streaming speech recognition toolkit.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(p)
        p.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `transduce` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_load_commands(argv[0] if argv and not argv[0].startswith("-") else None))
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except CommandError as e:
        print(f"transduce {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
