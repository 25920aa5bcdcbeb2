"""What the trainer needs from a task (`TrainConfig.task`): its data, tokenizer, model, batches and loss.

The loop (asr.training.trainer) is the same for every task: exact resume, DDP, checkpoints,
averaging and export do not look inside a batch. A task says
    read_data(path, log)            the usable rows of a train/dev file
    texts(rows)                     what the tokenizer is trained on
    build_model(tokenizer)          a fresh model, tokenizer attached
    make_dataset / make_sampler     a dataset (with collate, set_epoch) and its resumable batch sampler
                                    (`unusable` then says which rows the model cannot learn, if any)
    initialize(model, dataset)      first start only, rank 0 (speech: feature statistics)
    loss(model, batch, step)        (the loss to minimise, scalars to log)
    batch_units(batch)              the size of a batch for metering (`unit`: frames or tokens)
    width(model)                    d_model of the lr schedule (noam)
    validator(given) / describe     the dev decoding and how its result is logged
"Asr" trains an ASRModel on speech manifests; "text_seq2seq" (asr.training.text_task) a TextSeq2Seq
on JSONL pairs; "text_lm" (asr.training.lm_task) a TextLM on lines of text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from torch import Tensor, nn
from transduce.asr.config import ConfigError
from transduce.asr.tokenizers import Tokenizer
from transduce.asr.training.build import (
    build_model,
    ctc_reachable,
    feature_stats,
    make_dataset,
    make_sampler,
    read_entries,
)
from transduce.asr.training.config import TrainConfig, ValidationSettings
from transduce.asr.training.validation import Validator

__all__ = ["Task", "SpeechTask", "make_task"]


class Task(Protocol):
    """The task-specific parts of a training run (see the module docstring)."""

    unit: str  # what batch_units counts: "frames" or "tokens"
    rows: str  # what a training row is called in messages: "utterances", "pairs"
    budget: str  # the batch budget setting, for messages: "data.max_frames (400 frames)"
    unusable: str  # after make_dataset(train=True): a note on rows left out as unlearnable, or ""

    def read_data(self, path: str, log: Callable[[str], None]) -> list[Any]: ...
    def texts(self, rows: Sequence[Any]) -> list[str]: ...
    def build_model(self, tokenizer: Tokenizer) -> nn.Module: ...
    def make_dataset(self, rows: Sequence[Any], tokenizer: Tokenizer, model: nn.Module,
                     train: bool) -> Any: ...
    def make_sampler(self, dataset: Any, rank: int, world_size: int) -> Any: ...
    def initialize(self, model: nn.Module, dataset: Any) -> None: ...
    def loss(self, model: nn.Module, batch: Any, step: int) -> tuple[Tensor, dict[str, Tensor]]: ...
    def batch_units(self, batch: Any) -> int: ...
    def width(self, model: nn.Module) -> int: ...
    def validator(self, given: Validator | None) -> Validator | None: ...
    def describe(self, result: Any, step: int, model: nn.Module,
                 v: ValidationSettings) -> tuple[str, dict[str, Any]]: ...


class SpeechTask:
    """ASRModel on speech manifests: CTC / transducer losses, feature frames, streaming WER/CER."""

    unit, rows = "frames", "utterances"

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.budget = f"data.max_frames ({cfg.data.max_frames} frames)"
        self.unusable = ""

    def read_data(self, path: str, log: Callable[[str], None]) -> list[Any]:
        return read_entries(path, log)

    def texts(self, rows: Sequence[Any]) -> list[str]:
        return [e.text for e in rows]

    def build_model(self, tokenizer: Tokenizer) -> nn.Module:
        return build_model(self.cfg, tokenizer)

    def make_dataset(self, rows: Sequence[Any], tokenizer: Tokenizer, model: nn.Module, train: bool) -> Any:
        """The dataset of `rows`; for training with a CTC head, without the utterances too fast for
        the encoder's frame rate at the largest speed perturbation (`ctc_reachable`)."""
        self.unusable = ""
        if train and model.cfg.ctc:
            augment = self.cfg.data.augment
            fastest = max(augment.speed_factors) if augment is not None else 1.0
            reachable = ctc_reachable(rows, tokenizer, model, fastest)
            dropped = len(rows) - sum(reachable)
            if dropped:
                rows = [r for r, ok in zip(rows, reachable) if ok]
                self.unusable = (f"{dropped} training utterances have more tokens than encoder frames "
                                 f"(sped up {fastest:g}x): no CTC alignment exists, so they are left out")
        return make_dataset(rows, tokenizer, model, self.cfg.data, self.cfg.seed, train=train)

    def make_sampler(self, dataset: Any, rank: int, world_size: int) -> Any:
        return make_sampler(dataset, self.cfg.data, self.cfg.seed, rank, world_size)

    def initialize(self, model: nn.Module, dataset: Any) -> None:
        """Fit the feature normalisation statistics on the (un-augmented) training features."""
        data = self.cfg.data
        stats = feature_stats(dataset, data.stats_max_utterances, self.cfg.seed, data.num_workers)
        model.normalizer.mean.copy_(stats.mean)
        model.normalizer.std.copy_(stats.std)

    def loss(self, model: nn.Module, batch: Any, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        losses = model(batch.features, batch.feature_lengths, batch.targets, batch.target_lengths)
        total = losses.total
        if step <= self.cfg.ctc_only_steps:  # 0 * transducer keeps every parameter in the graph (DDP)
            total = losses.ctc + 0.0 * losses.transducer
        parts = {name: getattr(losses, name) for name in ("ctc", "transducer", "simple")
                 if getattr(losses, name) is not None}
        return total, parts

    def batch_units(self, batch: Any) -> int:
        return int(batch.feature_lengths.sum())

    def width(self, model: nn.Module) -> int:
        return model.cfg.encoder.d_model

    def validator(self, given: Validator | None) -> Validator | None:
        return given  # streaming decoding lives above asr: transduce train passes it

    def describe(self, result: Any, step: int, model: nn.Module,
                 v: ValidationSettings) -> tuple[str, dict[str, Any]]:
        context = model.cfg.encoder.att_context_size[v.lookahead]
        line = (f"validation step {step}: WER {100 * result.wer:.2f}% CER {100 * result.cer:.2f}% "
                f"over {result.utterances} utterances (streaming, att_context {list(context)})")
        record = {"step": step, "kind": "validation", "wer": result.wer, "cer": result.cer,
                  "utterances": result.utterances, "lookahead": v.lookahead}
        return line, record


def make_task(cfg: TrainConfig) -> Task:
    """The Task of `cfg.task`."""
    if cfg.task == "asr":
        return SpeechTask(cfg)
    if cfg.task == "text_seq2seq":
        from transduce.asr.training.text_task import TextSeq2SeqTask

        return TextSeq2SeqTask(cfg)
    if cfg.task == "text_lm":
        from transduce.asr.training.lm_task import TextLMTask

        return TextLMTask(cfg)
    raise ConfigError(f"task: unknown task {cfg.task!r}")
