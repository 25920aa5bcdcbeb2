"""Settings of a training run (`transduce train CONFIG`): one frozen dataclass per part, read from YAML/JSON.

The file is just `TrainConfig` written out (see asr/training/configs/ for examples); unknown keys
and bad values are refused with a ConfigError naming the dotted path. The model section is an
`ASRModelConfig` as a mapping whose vocabulary sizes (top level, predictor, joiner) may be 0 or
left out: they are filled in from the tokenizer once it exists (`model_config`).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from transduce.asr.config import ConfigError, from_dict, to_dict
from transduce.asr.data.augment import AugmentConfig
from transduce.asr.features import SpecAugmentConfig
from transduce.asr.models.asr_model import ASRModelConfig
from transduce.asr.text.models import TextLMConfig, TextSeq2SeqConfig

__all__ = [
    "TokenizerSettings",
    "DataSettings",
    "OptimSettings",
    "CheckpointSettings",
    "ValidationSettings",
    "TrainConfig",
    "load_train_config",
    "apply_overrides",
    "model_config",
    "text_model_config",
    "config_dict",
    "TASKS",
]

# What a run trains: "asr" (speech manifests -> ASRModel), "text_seq2seq" (JSONL {"src", "tgt"} pairs
# -> asr.text.TextSeq2Seq), "text_lm" (lines of text -> asr.text.TextLM); see asr.training.tasks.
TASKS = ("asr", "text_seq2seq", "text_lm")

_PLACEHOLDER_VOCAB = 3  # only to check the model section before the tokenizer exists
_TEXT_PLACEHOLDER_VOCAB = 5  # the same for text models (4 special ids and one piece)


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass(frozen=True)
class TokenizerSettings:
    """Which tokenizer: an existing directory (`path`), or one trained on the training texts."""

    kind: Literal["char", "bpe", "text_bpe"] = "char"  # text_bpe: the text task's (pad, unk, bos, eos)
    vocab_size: int = 0  # bpe / text_bpe only: ids including the special ones
    path: str | None = None  # a tokenizer directory (asr.tokenizers); kind/vocab_size are then ignored

    def __post_init__(self) -> None:
        if self.path is None and self.kind == "bpe":
            _need(self.vocab_size >= 3, f"tokenizer.vocab_size: bpe needs >= 3 ids, got {self.vocab_size}")
        if self.path is None and self.kind == "text_bpe":
            _need(self.vocab_size >= 5,
                  f"tokenizer.vocab_size: text_bpe needs >= 5 ids, got {self.vocab_size}")
        if self.path is None and self.kind == "char":
            _need(self.vocab_size == 0, "tokenizer.vocab_size: a char vocabulary is the alphabet of the "
                                        f"training text; leave it 0, got {self.vocab_size}")


@dataclass(frozen=True)
class DataSettings:
    """Manifests (paths relative to the working directory), batching, augmentation (speed, noise, masks)."""

    train_manifest: str
    dev_manifest: str | None = None
    max_frames: int = 20000  # padded feature frames per batch and rank (task asr)
    max_tokens: int = 4096  # padded tokens per batch and rank (text tasks: rows * longest src or tgt)
    max_batch_size: int | None = None
    num_buckets: int = 10
    num_workers: int = 0
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    spec_augment: SpecAugmentConfig | None = field(default_factory=lambda: SpecAugmentConfig(fill="mean"))
    stats_max_utterances: int = 2000  # feature normalisation statistics from at most this many

    def __post_init__(self) -> None:
        _need(self.max_frames > 0, f"data.max_frames must be > 0, got {self.max_frames}")
        _need(self.max_tokens > 0, f"data.max_tokens must be > 0, got {self.max_tokens}")
        _need(self.max_batch_size is None or self.max_batch_size > 0,
              f"data.max_batch_size must be > 0, got {self.max_batch_size}")
        _need(self.num_buckets >= 1, f"data.num_buckets must be >= 1, got {self.num_buckets}")
        _need(self.num_workers >= 0, f"data.num_workers must be >= 0, got {self.num_workers}")
        _need(self.stats_max_utterances >= 1,
              f"data.stats_max_utterances must be >= 1, got {self.stats_max_utterances}")


@dataclass(frozen=True)
class OptimSettings:
    """AdamW and the learning-rate schedule (see asr.training.schedule for the formulas).

    `lr` is the peak rate for "inverse_sqrt", "cosine" and "constant"; for "noam" it is NeMo's
    NoamAnnealing scale (peak = lr / sqrt(d_model * warmup_steps)), so NeMo configs carry over.
    """

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-9
    weight_decay: float = 1e-3  # applied to weight matrices only (not biases, norms, embeddings' 1-D)
    warmup_steps: int = 1000
    schedule: Literal["noam", "inverse_sqrt", "cosine", "constant"] = "inverse_sqrt"
    min_lr: float = 1e-6

    def __post_init__(self) -> None:
        _need(self.lr > 0, f"optim.lr must be > 0, got {self.lr}")
        _need(all(0 <= b < 1 for b in self.betas), f"optim.betas must be in [0, 1), got {self.betas}")
        _need(self.eps > 0 and self.weight_decay >= 0,
              f"optim.eps must be > 0 and weight_decay >= 0, got {self.eps}, {self.weight_decay}")
        _need(self.warmup_steps >= 0, f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")
        _need(self.schedule != "noam" or self.warmup_steps > 0, "optim.warmup_steps must be > 0 for noam")
        _need(0 <= self.min_lr, f"optim.min_lr must be >= 0, got {self.min_lr}")


@dataclass(frozen=True)
class CheckpointSettings:
    """Where and how often to save; the last `keep_last` checkpoints are kept."""

    out_dir: str = "exp"
    every_n_steps: int = 1000
    keep_last: int = 5
    average_last: int = 0  # > 1: at the end also write out_dir/averaged (mean of the last K checkpoints)

    def __post_init__(self) -> None:
        _need(bool(self.out_dir), "checkpoint.out_dir must be a directory name")
        _need(self.every_n_steps >= 1, f"checkpoint.every_n_steps must be >= 1, got {self.every_n_steps}")
        _need(self.keep_last >= 1, f"checkpoint.keep_last must be >= 1, got {self.keep_last}")
        _need(0 <= self.average_last <= self.keep_last,
              f"checkpoint.average_last must be in [0, keep_last={self.keep_last}], got {self.average_last}")


@dataclass(frozen=True)
class ValidationSettings:
    """Streaming WER/CER on the dev manifest every N steps (0: only at the end) with one look-ahead."""

    every_n_steps: int = 1000
    max_utterances: int = 200
    lookahead: int = 0  # index into the encoder's att_context_size
    batch_size: int = 16  # streams decoded together

    def __post_init__(self) -> None:
        _need(self.every_n_steps >= 0, f"validation.every_n_steps must be >= 0, got {self.every_n_steps}")
        _need(self.max_utterances >= 1, f"validation.max_utterances must be >= 1, got {self.max_utterances}")
        _need(self.lookahead >= 0, f"validation.lookahead must be >= 0, got {self.lookahead}")
        _need(self.batch_size >= 1, f"validation.batch_size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything `transduce train` needs; `model` is the model config of `task` as a mapping (an
    ASRModelConfig for "asr", a TextSeq2SeqConfig for "text_seq2seq", a TextLMConfig for "text_lm";
    vocab sizes may be 0)."""

    model: dict[str, Any]
    data: DataSettings
    task: str = "asr"  # one of TASKS
    tokenizer: TokenizerSettings = field(default_factory=TokenizerSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    max_steps: int = 10000
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    # Hybrid models: for the first N updates only the CTC loss trains (the transducer loss is computed,
    # logged and weighted 0), so the encoder learns the audio before the predictor can learn the
    # text alone; without it a TDT head on text this predictable made the encoder ignore its input.
    ctc_only_steps: int = 0
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast, CUDA or CPU (AVX512-BF16/AMX)
    checkpoint: CheckpointSettings = field(default_factory=CheckpointSettings)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    log_every_n_steps: int = 10
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA when available), "cpu", "cuda", "cuda:N"
    # torch CPU threads; 0: torch's default (under torchrun on the CPU: cores / local processes).
    # On a CPU shared with other jobs, 1 avoids OpenMP threads waiting on each other. Resume with
    # the same value: the thread count changes float results in the last bits.
    num_threads: int = 0
    label_smoothing: float = 0.1  # text tasks: label-smoothed cross entropy on the target tokens
    # Fine-tuning: a checkpoint or export directory, or a bundled model name, whose weights and tokenizer
    # start the run (the tokenizer section is then ignored); its model settings must equal `model`'s.
    init_from: str | None = None

    def __post_init__(self) -> None:
        _need(self.task in TASKS, f"task: unknown task {self.task!r}; expected one of {', '.join(TASKS)}")
        _need(0.0 <= self.label_smoothing < 1.0,
              f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        _need(self.max_steps >= 1, f"max_steps must be >= 1, got {self.max_steps}")
        _need(self.grad_clip >= 0, f"grad_clip must be >= 0, got {self.grad_clip}")
        _need(self.ctc_only_steps >= 0, f"ctc_only_steps must be >= 0, got {self.ctc_only_steps}")
        _need(self.log_every_n_steps >= 1, f"log_every_n_steps must be >= 1, got {self.log_every_n_steps}")
        _need(self.num_threads >= 0, f"num_threads must be >= 0, got {self.num_threads}")
        _need(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
              f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        vocab = self.model.get("vocab_size") if isinstance(self.model, dict) else None
        vocab = vocab if isinstance(vocab, int) and vocab else _PLACEHOLDER_VOCAB
        if self.task != "asr":
            _need(self.ctc_only_steps == 0, f"ctc_only_steps is for speech models, not task {self.task}")
            text_model_config(self, vocab if vocab != _PLACEHOLDER_VOCAB else _TEXT_PLACEHOLDER_VOCAB)
            return
        model = model_config(self, vocab)
        _need(self.ctc_only_steps == 0 or (model.ctc and model.transducer != "none"),
              "ctc_only_steps needs a hybrid model (model.ctc true and a transducer head)")
        n_contexts = len(model.encoder.att_context_size)
        _need(self.validation.lookahead < n_contexts,
              f"validation.lookahead {self.validation.lookahead} is out of range: the encoder has "
              f"{n_contexts} att_context_size entries")


def _model_section(cfg: TrainConfig, vocab_size: int) -> dict[str, Any]:
    """A copy of `cfg.model` with its vocab_size (0 or missing) set to `vocab_size`, checked against it."""
    data = copy.deepcopy(cfg.model)
    if not isinstance(data, dict):
        raise ConfigError(f"model: expected a mapping, got {type(data).__name__}")
    given = data.get("vocab_size", 0)
    if given not in (0, None) and given != vocab_size:
        raise ConfigError(f"model.vocab_size {given} does not match the tokenizer's {vocab_size} ids "
                          "(set it to 0 to take the tokenizer's)")
    data["vocab_size"] = vocab_size
    return data


def _build_config(cls: type, data: dict[str, Any]) -> Any:
    try:
        return from_dict(cls, data, "model")
    except (TypeError, ValueError) as e:  # ConfigError is a ValueError; __post_init__ checks raise either
        raise ConfigError(e if isinstance(e, ConfigError) else f"model: {e}") from None


def model_config(cfg: TrainConfig, vocab_size: int) -> ASRModelConfig:
    """The ASRModelConfig of `cfg.model` with vocabulary sizes that are 0 or missing set to `vocab_size`."""
    data = _model_section(cfg, vocab_size)
    for head in ("predictor", "joiner"):
        if isinstance(data.get(head), dict) and data[head].get("vocab_size", 0) in (0, None):
            data[head]["vocab_size"] = vocab_size
    return _build_config(ASRModelConfig, data)


def text_model_config(cfg: TrainConfig, vocab_size: int) -> TextSeq2SeqConfig | TextLMConfig:
    """The TextSeq2SeqConfig (task text_seq2seq) or TextLMConfig (text_lm) of `cfg.model`, with a
    vocab_size that is 0 or missing set to `vocab_size`."""
    cls = TextLMConfig if cfg.task == "text_lm" else TextSeq2SeqConfig
    return _build_config(cls, _model_section(cfg, vocab_size))


def _yaml_load(text: str) -> Any:
    """yaml.safe_load, except that 1e-3 and 5E+2 are floats (YAML 1.2), not strings (PyYAML's YAML 1.1)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    number = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", number, list("-+0123456789."))
    return yaml.load(text, Loader=Loader)


def _read_mapping(path: Path) -> dict[str, Any]:
    """The YAML (or JSON) mapping in `path`; ConfigError naming the file when it is not one."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the config ({e})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else _yaml_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of `data` with each "dotted.key=value" set (value parsed as YAML, e.g. 3, 1e-3, [1, 2])."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. max_steps=100")
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        node[leaf] = _yaml_load(raw) if raw else None
    return data


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a TrainConfig from a YAML or JSON file, with optional "dotted.key=value" overrides."""
    data = apply_overrides(_read_mapping(Path(path)), overrides or [])
    try:
        return from_dict(TrainConfig, data, "config")
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:  # checks in nested __post_init__ (e.g. AugmentConfig)
        raise ConfigError(f"config: {e}") from None


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """`cfg` as plain data (what `load_train_config` reads back)."""
    return to_dict(cfg)
