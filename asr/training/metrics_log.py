"""Training logs: one line on stdout per log interval and one JSON object per line in out_dir/metrics.jsonl.

Records carry the step; a resumed run first drops the records of steps after its checkpoint, so
the file reads as if the run had never been interrupted. Only rank 0 writes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["MetricsLog", "IntervalMeter", "format_train_line"]


class MetricsLog:
    """Appends JSON records to `path` and prints lines through `echo`; silent when not `enabled`."""

    def __init__(self, path: Path, enabled: bool = True, echo: Callable[[str], None] = print) -> None:
        self.path, self.enabled, self._echo = Path(path), enabled, echo

    def print(self, line: str) -> None:
        """A human-readable line (rank 0 only)."""
        if self.enabled:
            self._echo(line)

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (rank 0 only); non-finite floats are written as strings ("inf", "nan")."""
        if not self.enabled:
            return
        clean = {k: str(v) if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")

    def drop_after(self, step: int) -> None:
        """Keep only records of steps <= `step` (called when resuming from the checkpoint of `step`)."""
        if not self.enabled or not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if int(json.loads(line).get("step", 0)) <= step:
                    kept.append(line)
            except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
                continue  # a line cut short by a crash
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        tmp.replace(self.path)


class IntervalMeter:
    """Sums of the losses and frames since the last report, and the time they took."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.steps, self.frames, self.skipped = 0, 0, 0
        self.started = time.perf_counter()

    def add(self, values: dict[str, float], frames: int, skipped: bool) -> None:
        """Add one step's scalars (losses, grad norm) and the feature frames it processed."""
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.steps, self.frames, self.skipped = self.steps + 1, self.frames + frames, self.skipped + skipped

    def means(self) -> dict[str, float]:
        """Mean of each scalar over the interval."""
        return {k: v / max(self.steps, 1) for k, v in self.sums.items()}

    def seconds(self) -> float:
        return max(time.perf_counter() - self.started, 1e-9)


def format_train_line(record: dict[str, Any], max_steps: int) -> str:
    """`step 120/1000 epoch 2 lr 4.1e-04 loss 1.234 (ctc 1.5 transducer 1.1) grad 0.83 12345 frames/s`."""
    parts = [f"step {record['step']}/{max_steps}", f"epoch {record['epoch']}", f"lr {record['lr']:.2e}",
             f"loss {record['loss']:.4f}"]
    heads = [f"{k} {record[k]:.4f}" for k in ("ctc", "transducer", "simple") if k in record]
    if heads:
        parts.append("(" + " ".join(heads) + ")")
    parts += [f"grad {record['grad_norm']:.3f}", _speed(record)]
    if record.get("skipped"):
        parts.append(f"skipped {record['skipped']} non-finite steps")
    return " ".join(parts)


def _speed(record: dict[str, Any]) -> str:
    """`12345 frames/s` (speech) or `6789 tokens/s` (text tasks)."""
    unit = "tokens" if "tokens_per_s" in record else "frames"
    return f"{record[f'{unit}_per_s']:.0f} {unit}/s"
