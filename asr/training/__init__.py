"""Training: `TrainConfig` (YAML/JSON), the loop with exact resume and streaming validation, DDP, averaging.

    from transduce.asr.training import load_train_config, train
    result = train(load_train_config("asr/training/configs/demo_fastconformer_tdt.yaml"))

Example configs live in asr/training/configs/ (package data, `example_config(name)`).
"""

from pathlib import Path

from transduce.asr.training.averaging import (
    average_checkpoints,
    average_state_dicts,
    last_checkpoints,
    write_average,
)
from transduce.asr.training.config import TrainConfig, load_train_config, model_config
from transduce.asr.training.trainer import Trainer, TrainResult, train
from transduce.asr.training.validation import ValidationResult, Validator

__all__ = [
    "TrainConfig",
    "load_train_config",
    "model_config",
    "Trainer",
    "TrainResult",
    "train",
    "ValidationResult",
    "Validator",
    "average_checkpoints",
    "average_state_dicts",
    "last_checkpoints",
    "write_average",
    "example_config",
]


def example_config(name: str) -> Path:
    """The path of a bundled example config, e.g. "demo_fastconformer_tdt" (or with ".yaml")."""
    root = Path(__file__).resolve().parent / "configs"
    path = root / (name if name.endswith((".yaml", ".json")) else f"{name}.yaml")
    if not path.is_file():
        known = sorted(p.stem for p in root.glob("*.yaml"))
        raise FileNotFoundError(f"no example config {name!r} (bundled: {', '.join(known)})")
    return path
