"""Checkpoint averaging: the element-wise mean of the weights of several checkpoints of one model.

Floating-point tensors are averaged (summed in float64, cast back to their dtype); integer and
boolean tensors (e.g. BatchNorm's num_batches_tracked) are taken from the last checkpoint, as
NeMo and icefall do. Averaging the last few checkpoints of a run usually lowers the WER a little.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transduce.asr.checkpoint import CheckpointError, load_model, save_model
from transduce.asr.training.checkpoints import list_checkpoints

__all__ = ["average_state_dicts", "average_checkpoints", "last_checkpoints", "write_average"]


def average_state_dicts(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The mean of floating tensors over `states`, other tensors from the last; keys and shapes must agree."""
    if not states:
        raise ValueError("average_state_dicts: no state dicts to average")
    last = states[-1]
    sums = {k: v.detach().to("cpu", torch.float64).clone() for k, v in last.items() if v.is_floating_point()}
    for i, state in enumerate(states[:-1]):
        if state.keys() != last.keys():
            diff = sorted(set(state) ^ set(last))
            raise ValueError(f"average_state_dicts: state {i} and the last differ in keys {diff[:5]}")
        for key, value in state.items():
            if value.shape != last[key].shape:
                raise ValueError(f"average_state_dicts: {key} has shape {tuple(value.shape)} in state {i} "
                                 f"but {tuple(last[key].shape)} in the last")
            if key in sums:
                sums[key] += value.detach().to("cpu", torch.float64)
    n = len(states)
    return {k: (sums[k] / n).to(v.dtype) if k in sums else v.detach().cpu().clone() for k, v in last.items()}


def average_checkpoints(paths: Sequence[str | Path]) -> dict[str, torch.Tensor]:
    """The averaged state dict of the model checkpoints at `paths` (asr.save_model directories)."""
    if not paths:
        raise ValueError("average_checkpoints: no checkpoints given")
    return average_state_dicts([load_model(p).state_dict() for p in paths])


def last_checkpoints(directory: str | Path, k: int) -> list[Path]:
    """The newest `k` complete training checkpoints in `directory` (an out_dir or its checkpoints/)."""
    found = [p for _, p in list_checkpoints(directory)]
    if k < 1 or not found:
        raise CheckpointError(f"{directory}: no training checkpoints to average (asked for the last {k})")
    return found[-k:]


def write_average(out: str | Path, paths: Sequence[str | Path]) -> Path:
    """Save the average of the checkpoints at `paths` to `out` (config and tokenizer of the last one)."""
    model = load_model(paths[-1])
    model.load_state_dict(average_checkpoints(paths))
    return save_model(model, out)
