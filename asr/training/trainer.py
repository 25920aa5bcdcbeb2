"""The training loop of `transduce train`: exact resume, periodic checkpoints and streaming validation, DDP.

A run lives in `checkpoint.out_dir`:
    tokenizer/            the tokenizer (trained on the training texts, or copied), made on the first start
    train_config.json     the settings of the first start (later starts warn about changes)
    metrics.jsonl         one record per log interval and per validation
    checkpoints/step_*/   loadable models + trainer state (asr.training.checkpoints)
    averaged/             the mean of the last K checkpoints (checkpoint.average_last > 1)
Starting `transduce train CONFIG` again with the same out_dir continues from the newest complete
checkpoint, with the optimizer, the data position and every RNG as they were, so the later losses
and the final weights equal those of an uninterrupted run (CPU, same settings).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from transduce.asr.checkpoint import TOKENIZER_DIR, load_model
from transduce.asr.config import ConfigError
from transduce.asr.tokenizers import Tokenizer, load_tokenizer
from transduce.asr.training import distributed as D
from transduce.asr.training.averaging import last_checkpoints, write_average
from transduce.asr.training.build import build_optimizer, train_tokenizer
from transduce.asr.training.checkpoints import (
    clean_staging,
    latest_checkpoint,
    load_trainer_state,
    save_checkpoint,
)
from transduce.asr.training.config import TrainConfig, config_dict
from transduce.asr.training.loader import TrainLoader
from transduce.asr.training.metrics_log import IntervalMeter, MetricsLog, format_train_line
from transduce.asr.training.rng import capture_rng, derive_seed, restore_rng, seed_everything
from transduce.asr.training.schedule import learning_rate, set_learning_rate
from transduce.asr.training.tasks import make_task
from transduce.asr.training.validation import ValidationResult, Validator

__all__ = ["TrainResult", "Trainer", "train"]

_STATE_FORMAT = 1


@dataclass(frozen=True)
class TrainResult:
    """Where a run ended: its last step, its newest checkpoint and its last validation (rank 0)."""

    step: int
    out_dir: Path
    checkpoint: Path | None
    validation: ValidationResult | Any | None  # a text task's TextValidationResult


def train(cfg: TrainConfig, echo: Callable[[str], None] = print,
          validator: Validator | None = None) -> TrainResult:
    """Train (or continue training) as `cfg` says; see the module docstring. `validator` decodes the
    dev set of a speech run (transduce train passes transduce.streaming.evaluation.validate); without
    one a speech run does not validate. Text tasks decode their dev set themselves (greedy)."""
    trainer = Trainer(cfg, echo, validator)
    try:
        return trainer.fit()
    finally:
        trainer.close()


def _pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: CUDA is not available on this machine")
        if name == "cuda":
            name = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(torch.device(name))
    return torch.device(name)


@contextlib.contextmanager
def _rng_kept() -> Iterator[None]:
    """Run the block without moving any global RNG (validation must not change training)."""
    saved = capture_rng()
    try:
        yield
    finally:
        restore_rng(saved)


class Trainer:
    """One training run; `fit` runs it from scratch or from the newest checkpoint in out_dir."""

    def __init__(self, cfg: TrainConfig, echo: Callable[[str], None] = print,
                 validator: Validator | None = None) -> None:
        self.cfg, self.task = cfg, make_task(cfg)
        self.validator = self.task.validator(validator)
        self.device = _pick_device(cfg.device)
        self.dist = D.init_distributed(self.device)
        if cfg.num_threads > 0:
            torch.set_num_threads(cfg.num_threads)
        elif self.dist.enabled and self.device.type == "cpu":
            local_world = int(os.environ.get("LOCAL_WORLD_SIZE", self.dist.world_size))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
        self.out_dir = Path(cfg.checkpoint.out_dir)
        self.log = MetricsLog(self.out_dir / "metrics.jsonl", self.dist.is_main, echo)
        self.bf16 = cfg.precision == "bf16"
        self.last_validation: ValidationResult | Any | None = None
        self.last_checkpoint: Path | None = None

    def close(self) -> None:
        """Leave the process group."""
        D.shutdown(self.dist)

    # ------------------------------------------------------------------------------------ set-up
    def _prepare_dir(self) -> Path | None:
        """Create out_dir, drop half-written checkpoints; the checkpoint to resume from (rank 0's view)."""
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            clean_staging(self.out_dir)
        D.barrier(self.dist)
        resume = D.broadcast_object(latest_checkpoint(self.out_dir), self.dist)
        if self.dist.is_main:
            self._note_config(resume is not None)
        return resume

    def _note_config(self, resuming: bool) -> None:
        """Write train_config.json on the first start; on later starts say which settings changed."""
        path, now = self.out_dir / "train_config.json", config_dict(self.cfg)
        if not resuming or not path.is_file():
            path.write_text(json.dumps(now, indent=2) + "\n")
            return
        before = json.loads(path.read_text())
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed:
            self.log.print(f"note: settings changed since the first start of this run: {', '.join(changed)}")

    def _tokenizer(self, texts: list[str], resume: Path | None, start: torch.nn.Module | None) -> Tokenizer:
        if resume is not None:
            return load_tokenizer(resume / TOKENIZER_DIR)
        directory = self.out_dir / "tokenizer"
        if self.dist.is_main:
            if start is not None:
                start.tokenizer.save(directory)
            else:
                train_tokenizer(self.cfg.tokenizer, texts, directory)
        D.barrier(self.dist)
        return load_tokenizer(directory)

    def _setup(self) -> int:
        """Build data, model and optimizer; load the newest checkpoint or fit the feature statistics.

        Returns the step to continue from; every RNG is left as the uninterrupted run had it.
        """
        cfg, info = self.cfg, self.dist
        resume = self._prepare_dir()
        task = self.task
        entries = task.read_data(cfg.data.train_manifest, self.log.print)
        start = load_model(cfg.init_from) if resume is None and cfg.init_from else None
        tokenizer = self._tokenizer(task.texts(entries), resume, start)
        seed_everything(derive_seed(cfg.seed, 0))  # the same initial weights on every rank
        self.model = task.build_model(tokenizer).to(self.device)
        if start is not None:
            self._load_weights(start, f"init_from {cfg.init_from}")
        self.train_set = task.make_dataset(entries, tokenizer, self.model, train=True)
        sampler = task.make_sampler(self.train_set, info.rank, info.world_size)
        self.loader = TrainLoader(self.train_set, sampler, cfg.data.num_workers, cfg.seed,
                                  pin_memory=self.device.type == "cuda")
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.dev_entries = None
        if info.is_main and cfg.data.dev_manifest:
            if self.validator is None:
                self.log.print("no validator given: the dev set is not decoded (transduce train passes one)")
            else:
                self.dev_entries = task.read_data(cfg.data.dev_manifest, self.log.print)
        step, rng = (self._resume(resume) if resume is not None else (0, None))
        if resume is None and start is None and info.is_main:
            task.initialize(self.model, self.train_set)
        self.ddp = self.model
        if info.enabled:  # broadcasts rank 0's weights and buffers (feature statistics included)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.model, device_ids=ids)
        if rng is not None:
            restore_rng(rng)
        else:
            seed_everything(derive_seed(cfg.seed, 1, info.rank))
        return step

    def _load_weights(self, loaded: torch.nn.Module, source: str, hint: str = "") -> None:
        """Copy `loaded`'s weights (any float dtype) into the model built from the config, whose settings
        they must match."""
        if loaded.cfg != self.model.cfg:
            raise ConfigError(f"the model settings differ from those of {source}{hint}")
        self.model.load_state_dict(loaded.state_dict())

    def _resume(self, path: Path) -> tuple[int, dict[str, Any] | None]:
        """Load weights, optimizer and data position from checkpoint `path`; (step, this rank's RNG state)."""
        self._load_weights(load_model(path), f"checkpoint {path}", "; continue with the same model section "
                           "or choose a new checkpoint.out_dir")
        state = load_trainer_state(path)
        self.optimizer.load_state_dict(state["optimizer"])
        try:
            self.loader.load_state_dict(state["loader"])
        except ValueError:
            raise ConfigError(f"the training data, batching settings or number of processes differ from "
                              f"those of checkpoint {path}; choose a new checkpoint.out_dir") from None
        rngs = state["rng"]
        if self.dist.rank >= len(rngs):
            self.log.print(f"note: {path} has no RNG state for rank {self.dist.rank}; seeding it afresh")
        self.log.print(f"resuming from {path} at step {state['step']}")
        return int(state["step"]), rngs[self.dist.rank] if self.dist.rank < len(rngs) else None

    # ------------------------------------------------------------------------------------- steps
    def _step(self, batch: Any, step: int) -> tuple[dict[str, float], bool]:
        """One update on `batch`; (scalars to log, whether it was skipped for a non-finite gradient)."""
        cfg = self.cfg
        batch = batch.to(self.device, non_blocking=True)
        lr = learning_rate(cfg.optim, step, cfg.max_steps, self.task.width(self.model))
        set_learning_rate(self.optimizer, lr)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            total, parts = self.task.loss(self.ddp, batch, step)
        total.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip or float("inf"))
        finite = bool(torch.isfinite(norm))
        if finite:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        values = {"loss": total.item(), "grad_norm": norm.item()}
        values.update((name, value.item()) for name, value in parts.items())
        return values, not finite

    def _report(self, step: int, lr: float, meter: IntervalMeter) -> None:
        """Log the interval's mean scalars over all ranks and the frames (tokens) per second of the job."""
        means = meter.means()
        keys = sorted(means)
        values = [means[k] for k in keys] + [meter.frames, meter.skipped]
        total = D.mean_across(values, self.dist, self.device)
        world = self.dist.world_size
        record = {"step": step, "epoch": self.loader.epoch, "lr": lr, **dict(zip(keys, total[:-2])),
                  f"{self.task.unit}_per_s": total[-2] * world / meter.seconds(),
                  "skipped": round(total[-1] * world)}
        self.log.print(format_train_line(record, self.cfg.max_steps))
        self.log.write(record)
        meter.reset()

    def _checkpoint(self, step: int) -> None:
        """Save the checkpoint of `step` on rank 0 (with every rank's RNG state)."""
        rngs = D.gather_objects(capture_rng(), self.dist)
        if self.dist.is_main:
            state = {"format": _STATE_FORMAT, "step": step, "world_size": self.dist.world_size,
                     "loader": self.loader.state_dict(), "optimizer": self.optimizer.state_dict(),
                     "rng": rngs}
            self.last_checkpoint = save_checkpoint(self.out_dir, step, self.model, self.model.tokenizer,
                                                   state, self.cfg.checkpoint.keep_last)
            self.log.print(f"saved {self.last_checkpoint}")
        D.barrier(self.dist)

    def _validate(self, step: int) -> None:
        """Decode the dev set on rank 0 (speech: streaming WER/CER; text: greedy); the others wait."""
        v = self.cfg.validation
        if self.dev_entries is not None:
            with _rng_kept():
                result = self.validator(self.model, self.dev_entries, v.max_utterances, v.lookahead,
                                        v.batch_size)
            line, record = self.task.describe(result, step, self.model, v)
            self.log.print(line)
            self.log.write(record)
            self.last_validation = result
        D.barrier(self.dist)

    # --------------------------------------------------------------------------------------- run
    def _announce(self, step: int) -> None:
        n = sum(p.numel() for p in self.model.parameters())
        note = " (bf16 autocast)" if self.bf16 else ""
        rows = f"{len(self.train_set)} training {self.task.rows}"
        self.log.print(f"training {n:,} parameters ({4 * n / 2**20:.1f} MiB fp32) on {self.device}, "
                       f"{self.dist.world_size} process(es), {rows}, "
                       f"from step {step} to {self.cfg.max_steps}{note}")
        if self.task.unusable:
            self.log.print(f"note: {self.task.unusable}")
        skipped = len(self.loader.sampler.skipped)
        if skipped:
            self.log.print(f"note: {skipped} training {self.task.rows} are longer than {self.task.budget} "
                           "and are never used")

    def fit(self) -> TrainResult:
        """Run the remaining steps, checkpointing, logging and validating on the way."""
        cfg = self.cfg
        step = self._setup()
        if step >= cfg.max_steps:
            self.log.print(f"{self.out_dir}: already trained to step {step} (max_steps {cfg.max_steps})")
            return TrainResult(step, self.out_dir, latest_checkpoint(self.out_dir), None)
        self.log.drop_after(step)
        self._announce(step)
        meter, batches = IntervalMeter(), iter(self.loader)
        try:
            while step < cfg.max_steps:
                batch = next(batches)
                step += 1
                values, skipped = self._step(batch, step)
                meter.add(values, self.task.batch_units(batch), skipped)
                last = step == cfg.max_steps
                if step % cfg.log_every_n_steps == 0 or last:
                    self._report(step, self.optimizer.param_groups[0]["lr"], meter)
                if step % cfg.checkpoint.every_n_steps == 0 or last:
                    self._checkpoint(step)
                every = cfg.validation.every_n_steps
                if (every and step % every == 0) or last:
                    self._validate(step)
        finally:
            batches.close()
        self._average()
        return TrainResult(step, self.out_dir, self.last_checkpoint, self.last_validation)

    def _average(self) -> None:
        k = self.cfg.checkpoint.average_last
        if k > 1 and self.dist.is_main:
            paths = last_checkpoints(self.out_dir, k)
            out = write_average(self.out_dir / "averaged", paths)
            self.log.print(f"wrote {out}: the average of {', '.join(p.name for p in paths)}")
        D.barrier(self.dist)
