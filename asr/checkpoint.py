"""Checkpoints: one directory per model, restored exactly.

    <dir>/config.json        {"format": 1, "model": <registered name>, "config": to_dict(cfg)}
    <dir>/model.safetensors  the state dict (parameters and persistent buffers, e.g. BatchNorm
                             running stats and feature-normalisation stats); tied tensors are stored
                             once, their other names listed in the file's metadata ("aliases")
    <dir>/tokenizer/         the tokenizer files (asr.tokenizers), when the model has one

`save_model` writes into a temporary sibling directory and renames it into place, so a crash or
error leaves either the old checkpoint or the new one, never a mix. `load_model` rebuilds the
registered class from config.json (asr.models), loads the weights strictly and refuses any
mismatch with a CheckpointError that names it. A bare name that is not a path (e.g. "demo") is
looked up among the models bundled with the package (asr/assets/models/<name>).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn
from transduce.asr._checkpoint_diff import describe_mismatch
from transduce.asr.config import ConfigError, from_dict, to_dict
from transduce.asr.models import model_entry, model_name, registered_models
from transduce.asr.tokenizers import Tokenizer, TokenizerError, load_tokenizer

__all__ = [
    "FORMAT",
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "TOKENIZER_DIR",
    "CheckpointError",
    "save_model",
    "load_model",
    "resolve_model_dir",
    "bundled_models",
    "bundled_model_path",
]

FORMAT = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"
_BUNDLED_ROOT = Path(__file__).resolve().parent / "assets" / "models"
_ALIASES_KEY = "aliases"


class CheckpointError(ValueError):
    """A checkpoint cannot be written or read as asked; the message names the file and the problem."""


# ------------------------------------------------------------------------------------------- save
def save_model(model: nn.Module, directory: str | Path, tokenizer: Tokenizer | None = None) -> Path:
    """Write `model` (a registered class, see asr.models) and its tokenizer to `directory` atomically.

    `tokenizer` defaults to `model.tokenizer` (set by load_model). An existing checkpoint at
    `directory` is replaced only once the new one is complete; any other non-empty directory is
    refused. Returns the directory.
    """
    directory = Path(os.path.abspath(directory))  # "." and "x/.." get a real name for the temp sibling
    name, cfg = _identify(model)
    if tokenizer is None:
        tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None and not isinstance(tokenizer, Tokenizer):
        raise CheckpointError(f"tokenizer must be an asr.tokenizers.Tokenizer, not {type(tokenizer)}")
    _check_vocab(cfg, tokenizer, "the tokenizer to save")
    config_text = _config_text(name, cfg)
    tensors, aliases = _unshare(model.state_dict())
    _check_target(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        (tmp / CONFIG_FILE).write_text(config_text)
        metadata = {"format": "pt", _ALIASES_KEY: json.dumps(aliases)}
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata=metadata)
        if tokenizer is not None:
            tokenizer.save(tmp / TOKENIZER_DIR)
        _fsync_tree(tmp)
        _move_into_place(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _identify(model: nn.Module) -> tuple[str, Any]:
    """(registered name, settings) of `model`; CheckpointError if it is not a registered class."""
    name = model_name(model)
    if name is None:
        raise CheckpointError(
            f"{type(model).__qualname__} is not a registered model (registered: {registered_models()}); "
            "decorate its class with asr.models.register_model(name)")
    entry = model_entry(name)
    cfg = getattr(model, "cfg", None)
    if not isinstance(cfg, entry.config):
        raise CheckpointError(f"{type(model).__qualname__}.cfg must be a {entry.config.__name__}, "
                              f"got {type(cfg).__name__}")
    return name, cfg


def _config_text(name: str, cfg: Any) -> str:
    try:
        return json.dumps({"format": FORMAT, "model": name, "config": to_dict(cfg)}, indent=2) + "\n"
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"the settings of {name!r} are not JSON-serialisable: {e}") from None


def _unshare(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Dense, contiguous CPU tensors that share no memory, plus {alias: stored name} for tied tensors.

    The same tensor under several names (tied weights) is stored once; other tensors whose memory
    overlaps (views of one buffer) are copied, since safetensors refuses shared storage.
    """
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for key, t in state.items():
        if t.layout != torch.strided or t.device.type == "meta":
            raise CheckpointError(f"{key}: cannot save a {t.layout} tensor on {t.device} (dense only)")
        t = t.detach()
        ident = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride(), t.dtype)
        if t.numel() and ident in seen:
            aliases[key] = seen[ident]
            continue
        seen[ident] = key
        tensors[key] = t
    storage_users: dict[int, int] = {}
    for t in tensors.values():
        ptr = t.untyped_storage().data_ptr()
        storage_users[ptr] = storage_users.get(ptr, 0) + 1
    for key, t in tensors.items():
        shared = storage_users[t.untyped_storage().data_ptr()] > 1 or t.numel() == 0
        t = t.to("cpu").contiguous()
        tensors[key] = t.clone() if shared or t.untyped_storage().nbytes() != t.nbytes else t
    return tensors, aliases


def _check_target(directory: Path) -> None:
    """Refuse to replace anything but nothing, an empty directory or an earlier checkpoint."""
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise CheckpointError(f"{directory}: exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not (directory / CONFIG_FILE).is_file():
        raise CheckpointError(f"{directory}: not empty and not a checkpoint (no {CONFIG_FILE}); refusing to "
                              "replace it")


def _fsync_tree(root: Path) -> None:
    """Flush every file under `root` (and the directories) to disk before the rename publishes them."""
    for path in sorted(root.rglob("*"), reverse=True) + [root]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _move_into_place(tmp: Path, directory: Path) -> None:
    """Rename `tmp` to `directory`; an existing one is moved aside first and restored on failure."""
    if not directory.exists():
        os.rename(tmp, directory)
        return
    old = directory.with_name(f".{directory.name}.{uuid.uuid4().hex[:8]}.old")
    os.rename(directory, old)
    try:
        os.rename(tmp, directory)
    except BaseException:
        os.rename(old, directory)
        raise
    shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------------------------------- load
def load_model(path: str | Path, device: str | torch.device = "cpu",
               dtype: torch.dtype | None = None) -> nn.Module:
    """The model saved in `path` (a checkpoint directory, the name of a bundled model, or a NeMo .nemo
    file), in eval mode.

    Weights load strictly; with `dtype` None, floating tensors keep the dtype they were saved in.
    `.tokenizer` is attached when the checkpoint has one. Any mismatch between config.json, the
    weights and the tokenizer raises a CheckpointError naming it. Loading leaves torch's RNG as is.
    """
    if str(path).endswith(".nemo"):  # a NeMo checkpoint, imported on the fly (asr.nemo)
        from transduce.asr.nemo import load_nemo

        return load_nemo(path).to(device=device, dtype=dtype).eval()
    directory = resolve_model_dir(path)
    entry, cfg = _read_config(directory / CONFIG_FILE)
    state = _read_weights(directory / WEIGHTS_FILE)
    tokenizer = _read_tokenizer(directory / TOKENIZER_DIR)
    with torch.random.fork_rng(devices=[]):
        model = _build(entry, cfg, directory / CONFIG_FILE)
    saved = {t.dtype for t in state.values() if t.is_floating_point()}
    if len(saved) == 1:
        model.to(saved.pop())
    with torch.random.fork_rng(devices=[]):
        problems = describe_mismatch(_shapes(state), _shapes(model.state_dict()), cfg,
                                     lambda c: _meta_shapes(entry, c))
    vocab = _vocab_problem(cfg, tokenizer, f"the tokenizer in {directory / TOKENIZER_DIR}")
    if problems or vocab:
        lines = "\n  ".join(problems + ([vocab] if vocab else []))
        raise CheckpointError(f"{directory}: config.json does not match the checkpoint:\n  {lines}")
    model.load_state_dict(state, strict=True)
    model.to(device=device, dtype=dtype)
    if tokenizer is not None:
        model.tokenizer = tokenizer
    return model.eval()


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A checkpoint directory: `path` itself if it exists, else a bundled model of that name."""
    p = Path(path).expanduser()
    if p.exists():
        if not p.is_dir():
            raise CheckpointError(f"{p}: not a checkpoint directory (a directory with {CONFIG_FILE})")
        return p
    bare = isinstance(path, str) and not ({os.sep, "/"} & set(path)) and not path.startswith(".")
    if bare and path in bundled_models():
        return bundled_model_path(path)
    bundled = ", ".join(bundled_models()) or "none yet"
    what = "neither a checkpoint directory nor a bundled model" if bare else "no such checkpoint directory"
    raise CheckpointError(f"{path}: {what} (bundled models: {bundled})")


def _read_config(path: Path) -> tuple[Any, Any]:
    """(registry entry, settings) from config.json; CheckpointError names what is wrong."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file (not a checkpoint directory)")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or not {"format", "model", "config"} <= set(meta):
        raise CheckpointError(f"{path}: expected a JSON object with keys \"format\", \"model\", \"config\"")
    if meta["format"] != FORMAT or isinstance(meta["format"], bool):
        raise CheckpointError(f"{path}: checkpoint format {meta['format']!r} is not supported (this "
                              f"version reads format {FORMAT})")
    entry = model_entry(meta["model"]) if isinstance(meta["model"], str) else None
    if entry is None:
        raise CheckpointError(f"{path}: unknown model {meta['model']!r} (registered: {registered_models()})")
    try:
        cfg = from_dict(entry.config, meta["config"])
    except ConfigError as e:
        raise CheckpointError(f"{path}: bad config for model {entry.name!r}: {e}") from None
    return entry, cfg


def _build(entry: Any, cfg: Any, path: Path) -> nn.Module:
    try:
        return entry.cls(cfg)
    except (ValueError, AssertionError, TypeError) as e:
        raise CheckpointError(f"{path}: cannot build {entry.name!r} from this config: {e}") from None


def _shapes(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def _meta_shapes(entry: Any, cfg: Any) -> dict[str, tuple[int, ...]]:
    """State-dict shapes of the model `cfg` builds, without allocating it (meta device)."""
    with torch.device("meta"):
        return _shapes(entry.cls(cfg).state_dict())


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The full state dict in `path`, tied names restored (several keys, one tensor)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
            meta = f.metadata() or {}
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    try:
        aliases = json.loads(meta.get(_ALIASES_KEY, "{}"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: corrupt alias metadata ({e})") from None
    for alias, key in aliases.items():
        if key not in state:
            raise CheckpointError(f"{path}: alias {alias!r} names {key!r}, which the file does not hold")
        state[alias] = state[key]
    return state


def _read_tokenizer(directory: Path) -> Tokenizer | None:
    if not directory.exists():
        return None
    try:
        return load_tokenizer(directory)
    except TokenizerError as e:
        raise CheckpointError(f"{directory}: {e}") from None


def _vocab_problem(cfg: Any, tokenizer: Tokenizer | None, what: str) -> str | None:
    """A line naming the clash when `cfg.vocab_size` and the tokenizer disagree, else None."""
    vocab = getattr(cfg, "vocab_size", None)
    if tokenizer is None or vocab is None or vocab == tokenizer.vocab_size:
        return None
    return f"vocab_size: config {vocab} vs {what} {tokenizer.vocab_size} ids"


def _check_vocab(cfg: Any, tokenizer: Tokenizer | None, what: str) -> None:
    problem = _vocab_problem(cfg, tokenizer, what)
    if problem:
        raise CheckpointError(f"cannot save: {problem}")


# ---------------------------------------------------------------------------------------- bundled
def bundled_models() -> list[str]:
    """Names of the checkpoints shipped with the package (directories under asr/assets/models)."""
    if not _BUNDLED_ROOT.is_dir():
        return []
    return sorted(p.name for p in _BUNDLED_ROOT.iterdir() if (p / CONFIG_FILE).is_file())


def bundled_model_path(name: str) -> Path:
    """The directory of the bundled model `name`; CheckpointError listing the names that exist."""
    if name not in bundled_models():
        raise CheckpointError(f"no bundled model named {name!r} (bundled models: "
                              f"{', '.join(bundled_models()) or 'none yet'})")
    return _BUNDLED_ROOT / name
