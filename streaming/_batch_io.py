"""Inputs and outputs of `transduce transcribe`: which files to transcribe, what is already done, rows out.

Inputs: audio files, directories (searched recursively for .wav .flac .ogg, sorted) and JSONL
manifests (.jsonl/.json: one object per line with `audio_filepath`, relative to the manifest's folder;
other keys are ignored, so NeMo training and inference manifests both work). A manifest row with a
non-zero `offset` (a segment of a file) is not supported yet: it becomes an error row. Each input is
named by its source (the path as given, or as resolved from a manifest); repeats are dropped.

Outputs, one per format, all append-only so a killed job resumes without loss or duplicates:
- jsonl: one row per input {source, text, words: [{text, start_s, end_s, confidence}], duration_s, error}
  (+ formatted_text with --format);
- txt: one line per input "source<TAB>text" (with --format the written text; an error row has empty
  text; the error goes to stderr);
- srt / vtt: --out is a folder holding one subtitle file per input (named after the audio file's stem,
  plus a hash of its path when two inputs share a stem), each written whole by an atomic rename; a
  failed input gets no file.
A multi-process job (torchrun) shards the inputs by rank; rank r appends its rows to
`--out.rank<r>.part`, and once every rank is done the parts are merged into --out (rows in rank order,
each source once; a kill during the merge is repaired by the next --resume). Subtitle files need no
merge: each rank writes its own files into the folder.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from transduce.streaming.transcripts import Transcript

__all__ = ["AUDIO_SUFFIXES", "InputError", "Ledger", "Work", "collect_inputs", "merge_parts", "open_ledger",
           "prepare_out", "rank_part", "rank_parts"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
_MANIFEST_SUFFIXES = (".jsonl", ".json")


class InputError(ValueError):
    """A command-line input that cannot be used at all (a usage error, exit status 2)."""


@dataclass(frozen=True)
class Work:
    """One input to transcribe: its source name; `error` is set when it is known to be unusable."""

    source: str
    error: str | None = None


def _manifest_work(path: Path) -> list[Work]:
    """The inputs named by a JSONL manifest; a malformed line is an InputError naming file:line."""
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{number}: not valid JSON ({e.msg})") from None
            audio = row.get("audio_filepath") if isinstance(row, dict) else None
            if not isinstance(audio, str) or not audio:
                raise InputError(f"{path}:{number}: needs a non-empty string 'audio_filepath'")
            source = os.fspath(path.parent / audio) if not os.path.isabs(audio) else audio
            offset = row.get("offset", 0) or 0
            if offset:
                out.append(Work(f"{source}@{offset}", f"{source}: manifest segments (offset={offset}) "
                                "are not supported by transcribe yet"))
            else:
                out.append(Work(source))
    return out


def _one_input(spec: str) -> list[Work]:
    path = Path(spec)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        if not found:
            raise InputError(f"{spec}: directory holds no audio files ({' '.join(AUDIO_SUFFIXES)})")
        return [Work(os.fspath(p)) for p in found]
    if path.suffix.lower() in _MANIFEST_SUFFIXES and path.is_file():
        return _manifest_work(path)
    return [Work(spec)]  # a missing or unreadable audio file: the recognizer reports it as an error row


def collect_inputs(specs: Sequence[str]) -> list[Work]:
    """Every input named by the command line, in order, each source once; InputError when none."""
    if not specs:
        raise InputError("no inputs: give audio files, directories or JSONL manifests")
    seen: dict[str, Work] = {}
    for spec in specs:
        for work in _one_input(spec):
            seen.setdefault(work.source, work)
    if not seen:
        raise InputError("the inputs name no audio files")
    return list(seen.values())


def _row(t: Transcript) -> dict:
    words = [{"text": w.text, "start_s": w.start_s, "end_s": w.end_s, "confidence": w.confidence}
             for w in t.words]
    row = {"source": t.source, "text": t.text, "words": words, "duration_s": t.duration_s, "error": t.error}
    if t.formatted_text is not None:
        row["formatted_text"] = t.formatted_text
    return row


def _read_lines(path: Path) -> list[str]:
    """The complete lines of an append-only file; a partial last line (a kill mid-write) is cut off."""
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        with open(path, "r+b") as f:
            f.truncate(keep)
    return [line for line in data[:keep].decode("utf-8").split("\n") if line.strip()]


class Ledger:
    """The --out of one job: what is already done (for --resume) and `write` for each new result."""

    def __init__(self, out: Path, fmt: str, done: dict[str, bool],
                 names: dict[str, str] | None = None) -> None:
        self.out, self.fmt, self.names = out, fmt, names or {}
        self.done = done  # source -> it failed
        self._file: TextIO | None = None
        if fmt in ("jsonl", "txt"):
            self._file = open(out, "a", encoding="utf-8")

    def write(self, t: Transcript) -> None:
        """Record one result durably (flushed; subtitle files renamed into place whole)."""
        if self._file is not None:
            line = json.dumps(_row(t), ensure_ascii=False) if self.fmt == "jsonl" else \
                f"{t.source}\t{t.text if t.formatted_text is None else t.formatted_text}".replace("\n", " ")
            self._file.write(line + "\n")
            self._file.flush()
        elif t.error is None:
            from transduce.streaming._subtitles import subtitles

            target = self.out / self.names[t.source]
            tmp = target.with_name(target.name + ".part")
            tmp.write_text(subtitles(t.words, self.fmt), encoding="utf-8")
            os.replace(tmp, target)
        self.done[t.source] = t.error is not None

    def close(self) -> None:
        """Close the output file."""
        if self._file is not None:
            self._file.close()


def _subtitle_name(source: str, fmt: str, unique: bool = True) -> str:
    stem = Path(source.split("@")[0]).stem
    return f"{stem}.{fmt}" if unique else f"{stem}-{hashlib.sha1(source.encode()).hexdigest()[:8]}.{fmt}"


def subtitle_names(sources: Sequence[str], fmt: str) -> dict[str, str]:
    """The subtitle file name of each source: its stem, plus a path hash where stems collide."""
    stems = Counter(Path(s.split("@")[0]).stem for s in sources)
    return {s: _subtitle_name(s, fmt, stems[Path(s.split("@")[0]).stem] == 1) for s in sources}


def _done_in_file(out: Path, fmt: str) -> dict[str, bool]:
    done = {}
    for number, line in enumerate(_read_lines(out), start=1):
        if fmt == "txt":
            done[line.split("\t", 1)[0]] = False
            continue
        try:
            row = json.loads(line)
            done[row["source"]] = row.get("error") is not None
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InputError(f"{out}:{number}: not a transcribe row; cannot resume from this file") from None
    return done


def _check_out(out: Path, fmt: str, resume: bool, overwrite: bool) -> None:
    folder = fmt in ("srt", "vtt")
    if folder and out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: --output-format {fmt} writes one file per input into a folder, "
                         "not a file")
    if not folder and out.is_dir():
        raise InputError(f"--out {out} is a directory; --output-format {fmt} needs a file")
    exists = out.is_dir() and any(out.iterdir()) if folder else (out.exists() or bool(rank_parts(out)))
    if exists and not (resume or overwrite):
        raise InputError(f"--out {out} exists: add --resume to continue it or --overwrite to replace it")


def rank_part(out: Path, rank: int) -> Path:
    """Where rank `rank` of a multi-process job appends its rows before they are merged into `out`."""
    return out.with_name(f"{out.name}.rank{rank}.part")


def rank_parts(out: Path) -> list[Path]:
    """The rank part files of `out` left on disk, in rank order."""
    found = out.parent.glob(f"{glob.escape(out.name)}.rank*.part") if out.parent.is_dir() else []
    numbered = [(p.name[len(out.name) + 5:-5], p) for p in found]
    return [p for n, p in sorted((int(n), p) for n, p in numbered if n.isdigit())]


def _source_of(line: str, fmt: str) -> str:
    return line.split("\t", 1)[0] if fmt == "txt" else json.loads(line)["source"]


def merge_parts(out: Path, fmt: str) -> None:
    """Append the rows of every rank part to `out` (those not in it already), then delete the parts.

    Safe to repeat after a kill at any point: a row already merged is not appended twice."""
    parts = rank_parts(out)
    if not parts:
        return
    have = set(_done_in_file(out, fmt)) if out.exists() else set()
    with open(out, "a", encoding="utf-8") as f:
        for part in parts:
            for line in _read_lines(part):
                source = _source_of(line, fmt)
                if source not in have:
                    f.write(line + "\n")
                    have.add(source)
        f.flush()
        os.fsync(f.fileno())
    for part in parts:
        part.unlink()


def prepare_out(out: Path, fmt: str, sources: Sequence[str], resume: bool, overwrite: bool) -> None:
    """Before any process writes: check the --out rules (InputError), then replace --out (overwrite) or
    fold the rank parts a killed multi-process job left into it (resume). One process runs this."""
    _check_out(out, fmt, resume, overwrite)
    if fmt in ("srt", "vtt"):
        out.mkdir(parents=True, exist_ok=True)
        if overwrite and not resume:
            for name in subtitle_names(sources, fmt).values():
                (out / name).unlink(missing_ok=True)
        for part in out.glob(f"*.{fmt}.part"):
            part.unlink()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    if overwrite and not resume:
        out.unlink(missing_ok=True)
        for part in rank_parts(out):
            part.unlink()
        return
    if out.exists():
        _read_lines(out)  # cut a half-written last line, once, before any rank reads --out
    merge_parts(out, fmt)


def open_ledger(out: Path, fmt: str, sources: Sequence[str], rank: int = 0, world_size: int = 1) -> Ledger:
    """The output of this process after `prepare_out`: what --out already holds, and where new rows go
    (--out itself for one process; this rank's part file, merged later by `merge_parts`, for many)."""
    if fmt in ("srt", "vtt"):
        names = subtitle_names(sources, fmt)
        return Ledger(out, fmt, {s: False for s, name in names.items() if (out / name).is_file()}, names)
    done = _done_in_file(out, fmt) if out.exists() else {}
    return Ledger(out if world_size == 1 else rank_part(out, rank), fmt, done)
