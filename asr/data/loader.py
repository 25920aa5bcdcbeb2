"""A DataLoader over a SpeechDataset and a BucketingBatchSampler that resumes exactly mid-epoch.

Worker processes prefetch batches, so the sampler runs ahead of training; this loader counts the
batches actually handed out and saves that count, so a resumed run continues with the first
batch the crashed run never used. Augmentation is seeded per (seed, epoch, utterance) inside the
dataset, so it does not depend on worker assignment; `seed_worker` also seeds each worker's
global RNGs (random, numpy) from torch's per-worker seed for any other code that uses them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from transduce.asr.data.dataset import Batch, SpeechDataset
from transduce.asr.data.sampler import BucketingBatchSampler

__all__ = ["ResumableLoader", "seed_worker"]


def seed_worker(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: seed `random` and numpy's global RNG from this worker's torch seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


class ResumableLoader:
    """Iterate one epoch per `iter()`; `state_dict()` counts batches consumed, not prefetched."""

    def __init__(self, dataset: SpeechDataset, sampler: BucketingBatchSampler, num_workers: int = 0,
                 pin_memory: bool = False, prefetch_factor: int | None = None) -> None:
        self.dataset, self.sampler = dataset, sampler
        self.num_workers, self.pin_memory, self.prefetch_factor = num_workers, pin_memory, prefetch_factor
        self.epoch, self.consumed = sampler.epoch, sampler.position

    def __len__(self) -> int:
        """Batches in the current epoch."""
        return len(self.sampler)

    def __iter__(self) -> Iterator[Batch]:
        self.sampler.load_state_dict(self.state_dict())  # drop what an interrupted pass prefetched
        self.dataset.set_epoch(self.epoch)  # before the workers copy the dataset
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=self.sampler, collate_fn=self.dataset.collate,
            num_workers=self.num_workers, pin_memory=self.pin_memory, worker_init_fn=seed_worker,
            prefetch_factor=self.prefetch_factor if self.num_workers else None,
            persistent_workers=False,
        )
        for batch in loader:
            self.consumed += 1
            yield batch
        self.epoch, self.consumed = self.epoch + 1, 0
        self.sampler.set_epoch(self.epoch)

    def state_dict(self) -> dict[str, Any]:
        """The sampler's state at the first batch not yet handed out."""
        return {"epoch": self.epoch, "position": self.consumed, "fingerprint": self.sampler.fingerprint}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a `state_dict()` of a loader over the same data and settings."""
        self.sampler.load_state_dict(state)
        self.epoch, self.consumed = self.sampler.epoch, self.sampler.position
