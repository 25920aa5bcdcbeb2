"""Training and evaluation examples from a manifest: audio -> (augmented) log-mel features + token ids.

Randomness is a pure function of (seed, epoch, utterance index): every worker process, every
DDP rank and a resumed run make the same augmentation for the same utterance in the same epoch.
The batch collate pads features and targets; in training it also applies SpecAugment, seeded by
(seed, epoch, the batch's indices).
B: batch, N: samples, T: frames, F: mel bins, U: target length.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf
import torch
from transduce.asr.audio import AudioDecodeError, EmptyAudioError, load_audio, resample, to_mono
from transduce.asr.data.augment import AugmentConfig, augment
from transduce.asr.data.manifest import ManifestEntry
from transduce.asr.features import FbankConfig, SpecAugment, SpecAugmentConfig, compute_fbank
from transduce.asr.tokenizers import Tokenizer

__all__ = ["DatasetConfig", "Example", "Batch", "SpeechDataset", "collate", "load_segment"]


@dataclass(frozen=True)
class DatasetConfig:
    """Front end and augmentation of a `SpeechDataset`; augmentation runs only when `train=True`."""

    fbank: FbankConfig = FbankConfig()
    augment: AugmentConfig | None = AugmentConfig()  # waveform: speed perturbation + noise
    # SpecAugment runs on un-normalised log-mels here, so masks take the row mean, not zero.
    spec_augment: SpecAugmentConfig | None = field(default_factory=lambda: SpecAugmentConfig(fill="mean"))
    seed: int = 0


@dataclass(frozen=True)
class Example:
    """One utterance ready to batch: features (T, F) float32, tokens (U,) int64."""

    features: torch.Tensor
    tokens: torch.Tensor
    text: str
    index: int
    epoch: int


@dataclass
class Batch:
    """Padded batch: features (B, T, F) float32 with zero padding, targets (B, U) int64 padded with 0."""

    features: torch.Tensor
    feature_lengths: torch.Tensor  # (B,) int64, valid frames per row
    targets: torch.Tensor
    target_lengths: torch.Tensor  # (B,) int64, tokens per row
    indices: torch.Tensor  # (B,) int64, dataset index of each row
    texts: list[str]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """The batch with its tensors on `device`."""
        move = lambda t: t.to(device, non_blocking=non_blocking)
        return Batch(move(self.features), move(self.feature_lengths), move(self.targets),
                     move(self.target_lengths), move(self.indices), self.texts)

    def pin_memory(self) -> Batch:
        """The batch in pinned host memory (DataLoader(pin_memory=True) calls this)."""
        return Batch(self.features.pin_memory(), self.feature_lengths.pin_memory(),
                     self.targets.pin_memory(), self.target_lengths.pin_memory(),
                     self.indices.pin_memory(), self.texts)


def load_segment(path: str, offset: float = 0.0, duration: float | None = None,
                 sample_rate: int = 16000) -> np.ndarray:
    """Samples (N,) float32 mono at `sample_rate` of [offset, offset + duration) seconds of `path`.

    The segment is cut at the file's own rate and then resampled; it ends early at the end of the
    file. Raises FileNotFoundError, AudioDecodeError or EmptyAudioError.
    """
    if offset == 0.0 and duration is None:
        return load_audio(path, sample_rate)
    try:
        with sf.SoundFile(path) as f:
            rate = f.samplerate
            start = min(round(offset * rate), f.frames)
            count = -1 if duration is None else round(duration * rate)
            f.seek(start)
            data = f.read(count, dtype="float32", always_2d=True)
    except sf.LibsndfileError as e:
        if not os.path.exists(path):
            raise FileNotFoundError(2, "no such audio file", path) from None
        raise AudioDecodeError(f"{path}: cannot decode as audio: {e}") from e
    if data.size == 0:
        raise EmptyAudioError(f"{path}: no samples in [{offset}, {offset + (duration or 0)}) s")
    x = resample(to_mono(data), rate, sample_rate)
    return np.clip(x, -1.0, 1.0).astype(np.float32, copy=False)


def collate(examples: Sequence[Example]) -> Batch:
    """Pad examples into a Batch: features (B, T_max, F) with zeros, targets (B, U_max) with 0."""
    assert examples, "collate needs at least one example"
    feats = [e.features for e in examples]
    tokens = [e.tokens for e in examples]
    return Batch(
        features=torch.nn.utils.rnn.pad_sequence(feats, batch_first=True),
        feature_lengths=torch.tensor([f.shape[0] for f in feats], dtype=torch.int64),
        targets=torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True, padding_value=0)
        if any(len(t) for t in tokens) else torch.zeros(len(tokens), 0, dtype=torch.int64),
        target_lengths=torch.tensor([len(t) for t in tokens], dtype=torch.int64),
        indices=torch.tensor([e.index for e in examples], dtype=torch.int64),
        texts=[e.text for e in examples],
    )


class SpeechDataset(torch.utils.data.Dataset):
    """Map-style dataset over manifest entries: item i -> Example of entry i (augmented when `train`)."""

    def __init__(self, entries: Sequence[ManifestEntry], tokenizer: Tokenizer,
                 cfg: DatasetConfig = DatasetConfig(), train: bool = False) -> None:
        self.entries = list(entries)
        self.tokenizer = tokenizer
        self.cfg = cfg
        self.train = train
        self.epoch = 0
        self._noise_bank: list[np.ndarray] | None = None
        self._spec_augment = SpecAugment(cfg.spec_augment) if cfg.spec_augment is not None else None

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def durations(self) -> list[float]:
        """Manifest duration (seconds) of every entry, for the bucketing sampler."""
        return [e.duration for e in self.entries]

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose augmentation the next items get (set it before the workers start)."""
        self.epoch = int(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.cfg.seed, self.epoch, index])

    def _noise(self) -> list[np.ndarray]:
        if self._noise_bank is None:  # once per worker process
            files = self.cfg.augment.noise_files if self.cfg.augment else ()
            self._noise_bank = [load_audio(p, self.cfg.fbank.sample_rate) for p in files]
        return self._noise_bank

    def waveform(self, index: int) -> np.ndarray:
        """Samples (N,) of entry `index`, augmented when training."""
        e = self.entries[index]
        x = load_segment(e.audio_filepath, e.offset, e.duration, self.cfg.fbank.sample_rate)
        if self.train and self.cfg.augment is not None:
            x = augment(x, self.cfg.augment, self._rng(index), self.cfg.fbank.sample_rate, self._noise())
        return x

    def __getitem__(self, index: int) -> Example:
        index = int(index)
        if not 0 <= index < len(self.entries):
            raise IndexError(f"SpeechDataset index {index} out of range [0, {len(self.entries)})")
        feats = compute_fbank(self.waveform(index), self.cfg.fbank)  # (T, F)
        text = self.entries[index].text
        tokens = torch.tensor(self.tokenizer.encode(text), dtype=torch.int64)  # (U,)
        return Example(feats, tokens, text, index, self.epoch)

    def collate(self, examples: Sequence[Example]) -> Batch:
        """`collate`, then SpecAugment in training (seeded by seed, epoch and the batch's indices)."""
        batch = collate(examples)
        if self.train and self._spec_augment is not None:
            seq = np.random.SeedSequence([self.cfg.seed, examples[0].epoch, *[e.index for e in examples]])
            gen = torch.Generator().manual_seed(int(seq.generate_state(1, np.uint64)[0] >> 1))
            self._spec_augment.train()
            batch.features = self._spec_augment(batch.features, batch.feature_lengths, generator=gen)
        return batch

