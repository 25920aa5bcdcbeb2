"""Stability of partial results: how much of a partial transcript has stopped changing.

    stability_t = |LCP(text_t, text_{t-1}, ..., text_{t-N})| / |text_t|

LCP is the longest common prefix (in characters) of the current partial text and the N partial
texts before it in the same utterance (texts before the utterance started count as ""). So it is
the fraction of the current text that has already been shown, unchanged, for N updates: 0 for
text that is all new, 1 for text that has not moved for N updates. An empty text has stability
1 (there is nothing to revise). Greedy decoding only appends, so its stability grows with the
length of the settled prefix; beam search can also rewrite the tail, which lowers it.
"""

from __future__ import annotations

import os
from collections import deque

__all__ = ["StabilityTracker"]


class StabilityTracker:
    """Keeps the last N partial texts of an utterance; `update(text)` returns the text's stability."""

    def __init__(self, updates: int = 3) -> None:
        if updates < 1:
            raise ValueError(f"updates must be >= 1, got {updates}")
        self.updates = updates
        self.reset()

    def reset(self) -> None:
        """Start a new utterance (no earlier texts)."""
        self._history: deque[str] = deque([""] * self.updates, maxlen=self.updates)

    def update(self, text: str) -> float:
        """Stability in [0, 1] of `text` against the previous N texts; then remember it."""
        stable = len(os.path.commonprefix([text, *self._history]))
        self._history.append(text)
        return 1.0 if not text else stable / len(text)
