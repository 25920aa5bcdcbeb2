"""The plugin interface of the `transduce` command line (the entry point is transduce.cli).

Subcommands are plugins registered under the `transduce.commands` entry-point group (see
pyproject.toml), so every layer adds its own commands without a lower layer importing an upper one.
Each plugin is a `Command`: a name, a help line, `add_arguments`, `run`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Command", "CommandError"]


class CommandError(Exception):
    """A user-facing failure: printed as one line on stderr, exit status 2."""


@dataclass(frozen=True)
class Command:
    """One `transduce` subcommand."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
