"""An endless, resumable stream of training batches that never touches torch's global RNG.

Like asr.data.ResumableLoader (epoch + batches handed out, not prefetched), plus what exact resume
needs from the trainer's side: each DataLoader gets its own generator seeded by (seed, epoch,
position). A DataLoader without one draws its workers' base seed from torch's *global* generator
whenever an iterator starts, so a run resumed mid-epoch would shift every later dropout mask.
Augmentation is seeded per (seed, epoch, utterance) in the dataset, so the batches do not depend
on the number of workers either.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from transduce.asr.data.dataset import Batch, SpeechDataset
from transduce.asr.data.loader import seed_worker
from transduce.asr.data.sampler import BucketingBatchSampler
from transduce.asr.training.rng import derive_seed

__all__ = ["TrainLoader"]


class TrainLoader:
    """Batches of `dataset` in the order of `sampler`, epoch after epoch; `state_dict` resumes exactly."""

    def __init__(self, dataset: SpeechDataset, sampler: BucketingBatchSampler, num_workers: int = 0,
                 seed: int = 0, pin_memory: bool = False) -> None:
        self.dataset, self.sampler = dataset, sampler
        self.num_workers, self.seed, self.pin_memory = num_workers, seed, pin_memory
        self.epoch, self.consumed = sampler.epoch, sampler.position

    def __iter__(self) -> Iterator[Batch]:
        """Batches from the saved position on, forever (epochs follow one another)."""
        while True:
            self.sampler.load_state_dict(self.state_dict())
            if len(self.sampler) == 0:
                raise ValueError("the training data make no batch: every utterance is longer than "
                                 "data.max_frames, or there are fewer utterances than ranks")
            self.dataset.set_epoch(self.epoch)  # before the workers copy the dataset
            generator = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch, self.consumed))
            loader = torch.utils.data.DataLoader(
                self.dataset, batch_sampler=self.sampler, collate_fn=self.dataset.collate,
                num_workers=self.num_workers, pin_memory=self.pin_memory, worker_init_fn=seed_worker,
                generator=generator, persistent_workers=False)
            for batch in loader:
                self.consumed += 1
                yield batch
            self.epoch, self.consumed = self.epoch + 1, 0

    def state_dict(self) -> dict[str, Any]:
        """Epoch, batches handed out in it, and the sampler's fingerprint of the data and settings."""
        return {"epoch": self.epoch, "position": self.consumed, "fingerprint": self.sampler.fingerprint}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a `state_dict()` of a loader over the same data and settings."""
        self.sampler.load_state_dict(state)
        self.epoch, self.consumed = self.sampler.epoch, self.sampler.position
