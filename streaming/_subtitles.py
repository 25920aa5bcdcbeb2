"""SubRip (.srt) and WebVTT (.vtt) text from word timings: cues of up to 8 words, split at pauses > 1 s."""

from __future__ import annotations

from collections.abc import Sequence

from transduce.asr.decoding import Word

__all__ = ["subtitles"]

_MAX_WORDS = 8
_MAX_GAP_S = 1.0


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cues(words: Sequence[Word]) -> list[list[Word]]:
    cues: list[list[Word]] = []
    for w in words:
        if not cues or len(cues[-1]) >= _MAX_WORDS or w.start_s - cues[-1][-1].end_s > _MAX_GAP_S:
            cues.append([])
        cues[-1].append(w)
    return cues


def subtitles(words: Sequence[Word], fmt: str) -> str:
    """The subtitle file ("srt" or "vtt") of one recording's words; no words gives a file with no cues."""
    sep = "," if fmt == "srt" else "."
    blocks = [] if fmt == "srt" else ["WEBVTT\n"]
    for i, cue in enumerate(_cues(words), start=1):
        head = f"{i}\n" if fmt == "srt" else ""
        span = f"{_stamp(cue[0].start_s, sep)} --> {_stamp(cue[-1].end_s, sep)}"
        blocks.append(f"{head}{span}\n{' '.join(w.text for w in cue)}\n")
    return "\n".join(blocks)
