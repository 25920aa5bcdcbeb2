"""What a run is made of before its first step: entries, tokenizer, datasets, model, statistics, optimizer.

Feature normalisation statistics are computed once, over un-augmented training features, before
training starts, and stored in the model (its normaliser's buffers), so serving normalises like
training did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from transduce.asr.config import ConfigError
from transduce.asr.data.dataset import DatasetConfig, SpeechDataset
from transduce.asr.data.manifest import ManifestEntry, scan_manifest
from transduce.asr.data.sampler import BucketingBatchSampler, BucketingConfig
from transduce.asr.features import FeatureStats
from transduce.asr.models.asr_model import ASRModel
from transduce.asr.tokenizers import BpeTokenizer, CharTokenizer, Tokenizer, TokenizerError, load_tokenizer
from transduce.asr.tokenizers.text_bpe import TextTokenizer
from transduce.asr.training.config import (
    DataSettings,
    OptimSettings,
    TokenizerSettings,
    TrainConfig,
    model_config,
)

__all__ = ["read_entries", "train_tokenizer", "build_model", "make_dataset",
           "make_sampler", "feature_stats", "build_optimizer"]


def read_entries(path: str, log: Callable[[str], None] = print) -> list[ManifestEntry]:
    """The usable rows of the manifest at `path`; bad rows are reported through `log` and skipped."""
    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such manifest")
    entries, problems = scan_manifest(path, check_audio=True)
    for problem in problems[:10]:
        log(f"warning: skipping {problem}")
    if len(problems) > 10:
        log(f"warning: ... and {len(problems) - 10} more bad rows in {path}")
    if not entries:
        raise ConfigError(f"{path}: no usable rows ({len(problems)} bad)")
    return entries


def train_tokenizer(settings: TokenizerSettings, texts: Sequence[str], directory: Path) -> Tokenizer:
    """The tokenizer `settings` ask for (an existing one, or trained on `texts`), saved in `directory`."""
    try:
        if settings.path is not None:
            tok = load_tokenizer(settings.path)
        elif settings.kind == "char":
            tok = CharTokenizer.train(texts)
        elif settings.kind == "text_bpe":
            tok = TextTokenizer.train(list(texts), settings.vocab_size)
        else:
            tok = BpeTokenizer.train(list(texts), settings.vocab_size)
    except TokenizerError as e:
        raise ConfigError(f"tokenizer: {e}") from None
    tok.save(directory)
    return tok


def build_model(cfg: TrainConfig, tokenizer: Tokenizer) -> ASRModel:
    """A freshly initialised ASRModel of `cfg.model`, vocabulary sized by `tokenizer`, tokenizer attached."""
    model = ASRModel(model_config(cfg, tokenizer.vocab_size))
    model.tokenizer = tokenizer
    return model


def ctc_reachable(entries: Sequence[ManifestEntry], tokenizer: Tokenizer, model: ASRModel,
                  fastest: float = 1.0) -> list[bool]:
    """Whether a CTC alignment can exist for each entry: its tokens, plus one blank between each
    repeated pair, fit the encoder frames of the utterance played `fastest` times faster (the largest
    speed perturbation). Others get an infinite CTC loss and teach nothing."""
    out = []
    for e in entries:
        ids = tokenizer.encode(e.text)
        needed = len(ids) + sum(a == b for a, b in zip(ids, ids[1:]))
        out.append(needed <= int(e.duration / fastest / model.frame_shift_s))
    return out


def make_dataset(entries: Sequence[ManifestEntry], tokenizer: Tokenizer, model: ASRModel, data: DataSettings,
                 seed: int, train: bool) -> SpeechDataset:
    """Features as the model expects them; augmentation (speed, noise, SpecAugment) only when `train`."""
    cfg = DatasetConfig(fbank=model.cfg.features, augment=data.augment if train else None,
                        spec_augment=data.spec_augment if train else None, seed=seed)
    return SpeechDataset(entries, tokenizer, cfg, train=train)


def make_sampler(dataset: SpeechDataset, data: DataSettings, seed: int, rank: int,
                 world_size: int) -> BucketingBatchSampler:
    """Duration-bucketed batches of at most `data.max_frames` padded frames per rank."""
    cfg = BucketingConfig(max_frames=data.max_frames, frame_shift_ms=dataset.cfg.fbank.frame_shift_ms,
                          max_batch_size=data.max_batch_size, num_buckets=data.num_buckets, seed=seed)
    return BucketingBatchSampler(dataset.durations, cfg, rank, world_size)


def feature_stats(dataset: SpeechDataset, max_utterances: int, seed: int,
                  num_workers: int = 0) -> FeatureStats:
    """Per-feature mean/std over at most `max_utterances` utterances (a seeded choice) of `dataset`."""
    n = len(dataset)
    chosen = np.random.default_rng([seed, 7]).permutation(n)[:max_utterances].tolist()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, chosen), batch_size=None, num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed))
    stats = FeatureStats(dataset.cfg.fbank.num_mel_bins)
    for example in loader:
        stats.update(example.features)
    return stats


def build_optimizer(model: torch.nn.Module, optim: OptimSettings) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices and kernels (ndim >= 2) only, not on biases and norms."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": optim.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=optim.lr, betas=optim.betas, eps=optim.eps)
