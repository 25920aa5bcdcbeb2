"""JSONL manifests in the format NeMo users know: one JSON object per line.

Required keys: `audio_filepath` (absolute, or relative to the manifest's folder), `duration`
(seconds, > 0) and `text`; optional `offset` (seconds into the file, >= 0). Other keys (speaker,
voice, ...) are kept in `ManifestEntry.extra`. `read_manifest` stops at the first bad row with an
error naming the file and line; `scan_manifest` reports bad rows and skips them, so one broken
row in a large corpus is not fatal.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ManifestEntry", "ManifestError", "read_manifest", "scan_manifest", "write_manifest"]

_KNOWN = ("audio_filepath", "duration", "text", "offset")


class ManifestError(ValueError):
    """A manifest row that cannot be used; the message names the file and the 1-based line."""

    def __init__(self, path: str | Path, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}")
        self.path = str(path)
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class ManifestEntry:
    """One utterance: the segment [offset, offset + duration) seconds of `audio_filepath`."""

    audio_filepath: str  # resolved: absolute, or relative to the working directory as given
    duration: float
    text: str
    offset: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self, base: Path | None = None) -> dict[str, Any]:
        """The manifest row; the path is written relative to `base` when the file lies under it."""
        path = self.audio_filepath
        if base is not None:
            try:
                path = Path(os.path.abspath(path)).relative_to(Path(os.path.abspath(base))).as_posix()
            except ValueError:
                pass
        row: dict[str, Any] = {"audio_filepath": path, "duration": self.duration, "text": self.text}
        if self.offset:
            row["offset"] = self.offset
        row.update(self.extra)
        return row


def _number(row: dict[str, Any], key: str, default: float | None = None) -> float:
    value = row.get(key, default)
    if value is None:
        raise ValueError(f"missing key {key!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key!r} must be a finite number, got {value!r}")
    return float(value)


def _parse_row(line: str, folder: Path, check_audio: bool) -> ManifestEntry:
    """One manifest line -> entry; ValueError says what is wrong with it."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    audio = row.get("audio_filepath")
    if not isinstance(audio, str) or not audio:
        raise ValueError(f"'audio_filepath' must be a non-empty string, got {audio!r}")
    duration, offset = _number(row, "duration"), _number(row, "offset", 0.0)
    if duration <= 0:
        raise ValueError(f"'duration' must be > 0 seconds, got {duration}")
    if offset < 0:
        raise ValueError(f"'offset' must be >= 0 seconds, got {offset}")
    text = row.get("text")
    if not isinstance(text, str):
        raise ValueError(f"'text' must be a string, got {text!r}")
    if not text.strip():
        raise ValueError("'text' is empty")
    path = audio if os.path.isabs(audio) else str(folder / audio)
    if check_audio and not os.path.isfile(path):
        raise ValueError(f"audio file not found: {path}")
    extra = {k: v for k, v in row.items() if k not in _KNOWN}
    return ManifestEntry(path, duration, text, offset, extra)


def _rows(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                yield number, line


def read_manifest(path: str | Path, check_audio: bool = False) -> list[ManifestEntry]:
    """All entries of the manifest at `path`; raises ManifestError (file:line: problem) at the first bad row.

    Relative audio paths resolve against the manifest's folder; blank lines are ignored. With
    `check_audio`, a missing audio file is an error too.
    """
    path = Path(path)
    entries = []
    for number, line in _rows(path):
        try:
            entries.append(_parse_row(line, path.parent, check_audio))
        except ValueError as e:
            raise ManifestError(path, number, str(e)) from None
    return entries


def scan_manifest(
    path: str | Path, check_audio: bool = True
) -> tuple[list[ManifestEntry], list[ManifestError]]:
    """The good entries of the manifest and one ManifestError per bad row (skipped, not fatal).

    Bad rows: unreadable JSON, missing keys, duration <= 0, negative offset, empty text and (with
    `check_audio`) a missing audio file.
    """
    path = Path(path)
    entries, problems = [], []
    for number, line in _rows(path):
        try:
            entries.append(_parse_row(line, path.parent, check_audio))
        except ValueError as e:
            problems.append(ManifestError(path, number, str(e)))
    return entries, problems


def write_manifest(path: str | Path, entries: Iterable[ManifestEntry]) -> None:
    """Write `entries` as JSONL; audio under the manifest's folder is stored with a relative path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for entry in entries:
            f.write(json.dumps(entry.to_json(path.parent), ensure_ascii=False) + "\n")
    os.replace(tmp, path)
