"""A clean model directory from a training run: the newest checkpoint (or the mean of the last K), float32
(or float16, half the bytes, for a model bundled in git; loaders compute in float32 on the CPU).

    export_model("runs/demo1", "asr/assets/models/demo", average_last=5)

The result holds only what `asr.load_model` reads (config.json, model.safetensors, tokenizer/):
no optimizer or trainer state. The source is a run's out_dir (or its checkpoints/ folder), or a
single model directory (then K must be 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transduce.asr.checkpoint import CONFIG_FILE, CheckpointError, load_model, save_model
from transduce.asr.training.averaging import average_checkpoints
from transduce.asr.training.checkpoints import list_checkpoints

__all__ = ["ExportReport", "export_model"]


@dataclass(frozen=True)
class ExportReport:
    """What `export_model` wrote: the directory, its sources, parameter count and size on disk."""

    out: Path
    sources: tuple[Path, ...]
    parameters: int
    bytes: int


def _sources(source: Path, average_last: int) -> list[Path]:
    if average_last < 1:
        raise CheckpointError(f"average_last must be >= 1, got {average_last}")
    found = [p for _, p in list_checkpoints(source)]
    if len(found) >= average_last:
        return found[-average_last:]
    if found:
        raise CheckpointError(f"{source}: asked to average the last {average_last} checkpoints but the run "
                              f"has {len(found)} ({', '.join(p.name for p in found)})")
    if (source / CONFIG_FILE).is_file():
        if average_last > 1:
            raise CheckpointError(f"{source}: a single model directory; averaging the last {average_last} "
                                  "needs a training run's out_dir")
        return [source]
    raise CheckpointError(f"{source}: neither a training run with checkpoints nor a model directory")


STORAGE_DTYPES = (torch.float32, torch.float16)


def export_model(source: str | Path, out: str | Path, average_last: int = 1,
                 dtype: torch.dtype = torch.float32) -> ExportReport:
    """Write the newest checkpoint of `source` (or the mean of its last `average_last`) to `out` in `dtype`
    (float32 or float16; the mean is taken in float32 before rounding)."""
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"dtype must be float32 or float16, got {dtype}")
    paths = _sources(Path(source), average_last)
    model = load_model(paths[-1])
    if len(paths) > 1:
        model.load_state_dict(average_checkpoints(paths))
    model.to(torch.float32).to(dtype)
    directory = save_model(model, out)
    size = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
    return ExportReport(directory, tuple(paths), sum(p.numel() for p in model.parameters()), size)
