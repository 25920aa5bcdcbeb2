"""Reading a `.nemo` file: a tar (plain or gzip) of `model_config.yaml`, `model_weights.ckpt` and the
tokenizer's files, read with the standard library, PyYAML and torch (no NeMo, omegaconf or hydra).

Members are read into memory, never extracted, so a path inside the archive cannot write anywhere.
The weights are loaded with `torch.load(weights_only=True)`: tensors only, no pickled code runs.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from transduce.asr.checkpoint import CheckpointError

__all__ = ["NemoArchive", "NemoImportError", "read_nemo"]

CONFIG_FILE = "model_config.yaml"
WEIGHTS_FILE = "model_weights.ckpt"


class NemoImportError(CheckpointError):
    """A .nemo file this importer cannot read or does not support; the message names why in one line."""


@dataclass(frozen=True)
class NemoArchive:
    """The parts of a .nemo file: its config (plain dicts/lists), weights and the other files by name."""

    path: Path
    config: dict[str, Any]
    weights: dict[str, torch.Tensor]
    files: dict[str, bytes]  # every other regular member, by its base name

    def file(self, ref: str, what: str) -> bytes:
        """The bytes of a file the config names: "nemo:NAME", a member name or a path ending in one."""
        name = Path(str(ref).removeprefix("nemo:")).name
        if name not in self.files:
            raise NemoImportError(f"{self.path}: {what} {ref!r} is not in the archive "
                                  f"(members: {sorted(self.files)[:8]})")
        return self.files[name]


def _members(path: Path) -> dict[str, bytes]:
    try:
        with tarfile.open(path, "r:*") as tar:
            out = {}
            for member in tar.getmembers():
                if member.isfile():
                    data = tar.extractfile(member)
                    out[Path(member.name).name] = data.read() if data is not None else b""
            return out
    except (tarfile.TarError, EOFError, OSError) as e:
        raise NemoImportError(f"{path}: not a readable .nemo archive ({e})") from None


def read_nemo(path: str | Path) -> NemoArchive:
    """Read `path` (a .nemo file); NemoImportError when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise NemoImportError(f"{path}: no such file")
    members = _members(path)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if name not in members:
            raise NemoImportError(f"{path}: no {name} in the archive (is it a NeMo model?)")
    try:
        config = yaml.safe_load(members.pop(CONFIG_FILE).decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise NemoImportError(f"{path}: {CONFIG_FILE} is not valid YAML ({e})") from None
    if not isinstance(config, dict):
        raise NemoImportError(f"{path}: {CONFIG_FILE} is not a mapping")
    try:
        weights = torch.load(io.BytesIO(members.pop(WEIGHTS_FILE)), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is "not readable"
        raise NemoImportError(f"{path}: {WEIGHTS_FILE} cannot be read as tensors ({type(e).__name__}: {e})") \
            from None
    if isinstance(weights, dict) and "state_dict" in weights:
        weights = weights["state_dict"]
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise NemoImportError(f"{path}: {WEIGHTS_FILE} is not a state dict of tensors")
    return NemoArchive(path, config, weights, members)
