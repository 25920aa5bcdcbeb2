"""Bucketing batch sampler: batches of similar durations under a padded-frames budget, resumable, DDP-sharded.

Per epoch (seed + epoch drive one RNG, so every rank computes the same plan):
1. sort the utterances by duration (random tie order) and cut them into `num_buckets` buckets
   of equal count;
2. shuffle each bucket and pack it greedily into *global* batches: a global batch of n items
   with longest duration d is dealt round-robin to W = world_size ranks, so each rank's batch
   holds at most ceil(n / W) items and costs ceil(n / W) * d <= budget (padded frames or
   seconds); the unfinished last batch of a bucket carries over into the next bucket;
3. shuffle the order of the global batches; rank r takes its share of each one.
Every rank gets the same number of batches (DDP needs that); with W > 1 up to W - 1 utterances
left at the very end of an epoch wait for a later epoch. Utterances longer than the budget are
never batched (`skipped`).
`state_dict()` holds the epoch and the number of batches already taken, so a restarted run
continues the same epoch with the same remaining batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["BucketingConfig", "BucketingBatchSampler"]


@dataclass(frozen=True)
class BucketingConfig:
    """Per-rank batch budget (set exactly one of max_frames / max_seconds) and bucketing settings."""

    max_frames: int | None = None  # padded frames per batch: items * longest item's frames
    max_seconds: float | None = None  # the same budget in seconds of padded audio
    frame_shift_ms: float = 10.0  # converts max_frames to seconds
    max_batch_size: int | None = None  # cap on items per rank batch
    num_buckets: int = 10
    shuffle: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if (self.max_frames is None) == (self.max_seconds is None):
            raise ValueError("BucketingConfig: set exactly one of max_frames and max_seconds")
        if (self.max_frames is not None and self.max_frames <= 0) or (
                self.max_seconds is not None and self.max_seconds <= 0):
            raise ValueError(f"BucketingConfig: the budget must be positive, got {self}")
        if self.num_buckets < 1 or (self.max_batch_size is not None and self.max_batch_size < 1):
            raise ValueError(f"BucketingConfig: num_buckets and max_batch_size must be >= 1, got {self}")

    @property
    def budget_seconds(self) -> float:
        """The per-rank budget in seconds of padded audio."""
        if self.max_seconds is not None:
            return float(self.max_seconds)
        return self.max_frames * self.frame_shift_ms / 1000.0


def _pack(items: list[int], dur: np.ndarray, budget: float, world: int, cap: int | None,
          ) -> tuple[list[list[int]], list[int]]:
    """Greedy packing of `items` in order into global batches; returns (closed batches, open rest)."""
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0.0
    for i in items:
        d = max(longest, float(dur[i]))
        per_rank = -(-(len(current) + 1) // world)
        if current and (per_rank * d > budget or (cap is not None and per_rank > cap)):
            batches.append(current)
            current, d = [], float(dur[i])
        current.append(i)
        longest = d
    return batches, current


class BucketingBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Yields this rank's batches (lists of dataset indices) of the current epoch, then moves to the next."""

    def __init__(self, durations: Sequence[float], cfg: BucketingConfig, rank: int = 0,
                 world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"BucketingBatchSampler: need 0 <= rank < world_size, got {rank}, {world_size}")
        self.durations = np.asarray(durations, dtype=np.float64)
        if self.durations.ndim != 1 or not np.isfinite(self.durations).all() or (self.durations <= 0).any():
            raise ValueError("BucketingBatchSampler: durations must be a flat list of positive numbers")
        self.cfg, self.rank, self.world_size = cfg, rank, world_size
        self.epoch, self.position = 0, 0
        self.skipped = np.nonzero(self.durations > cfg.budget_seconds)[0].tolist()
        self._plan_epoch, self._plan = -1, []
        key = self.durations.tobytes() + repr((cfg, world_size)).encode()
        self.fingerprint = hashlib.sha256(key).hexdigest()[:16]

    def global_batches(self, epoch: int) -> list[list[list[int]]]:
        """The plan of `epoch`: for each step, every rank's batch ([step][rank] -> indices)."""
        if epoch != self._plan_epoch:
            self._plan, self._plan_epoch = self._make_plan(epoch), epoch
        return self._plan

    def _make_plan(self, epoch: int) -> list[list[list[int]]]:
        cfg, dur, world = self.cfg, self.durations, self.world_size
        rng = np.random.default_rng([cfg.seed, epoch])
        order = rng.permutation(len(dur)) if cfg.shuffle else np.arange(len(dur))
        order = order[np.argsort(dur[order], kind="stable")]
        order = order[dur[order] <= cfg.budget_seconds]
        batches: list[list[int]] = []
        rest: list[int] = []
        for bucket in np.array_split(order, min(cfg.num_buckets, max(len(order), 1))):
            bucket = rng.permutation(bucket) if cfg.shuffle else bucket
            closed, rest = _pack(rest + bucket.tolist(), dur, cfg.budget_seconds, world, cfg.max_batch_size)
            batches += closed
        if len(rest) >= world:
            batches.append(rest)
        if cfg.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        plan = []
        for batch in batches:
            ranked = sorted(batch, key=lambda i: (dur[i], i))
            plan.append([ranked[r::world] for r in range(world)])
        return plan

    def set_epoch(self, epoch: int) -> None:
        """Start `epoch` from its first batch."""
        self.epoch, self.position = int(epoch), 0

    def __len__(self) -> int:
        """Batches of the current epoch for this rank (taken ones included)."""
        return len(self.global_batches(self.epoch))

    def __iter__(self) -> Iterator[list[int]]:
        plan = self.global_batches(self.epoch)
        while self.position < len(plan):
            batch = plan[self.position][self.rank]
            self.position += 1
            yield batch
        self.set_epoch(self.epoch + 1)

    def state_dict(self) -> dict[str, Any]:
        """Epoch, batches taken in it, and a fingerprint of the durations and settings."""
        return {"epoch": self.epoch, "position": self.position, "fingerprint": self.fingerprint}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state` (from `state_dict` of a sampler over the same data and settings)."""
        if state.get("fingerprint") != self.fingerprint:
            raise ValueError("BucketingBatchSampler.load_state_dict: the state belongs to other data or "
                             "settings "
                             f"(fingerprint {state.get('fingerprint')!r}, expected {self.fingerprint!r})")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
