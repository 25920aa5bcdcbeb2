"""The `transduce` command line.

Subcommands are plugins registered under the `transduce.commands` entry-point group (see
pyproject.toml), so the layers above `asr` (the gRPC service) add their own commands without
`asr` importing them. Each plugin is a `Command`: a name, a help line, `add_arguments`, `run`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points

__all__ = ["Command", "CommandError", "main"]


class CommandError(Exception):
    """A user-facing failure: printed as one line on stderr, exit status 2."""


@dataclass(frozen=True)
class Command:
    """One `transduce` subcommand."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


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
