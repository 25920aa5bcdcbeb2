"""Training data: manifests, the speech dataset and collate, bucketing sampler, loader, synthetic corpus.

Typical training input pipeline::

    entries, problems = scan_manifest("corpus/train.jsonl")      # bad rows reported, skipped
    ds = SpeechDataset(entries, tokenizer, DatasetConfig(), train=True)
    sampler = BucketingBatchSampler(ds.durations, BucketingConfig(max_frames=20000), rank, world)
    loader = ResumableLoader(ds, sampler, num_workers=2)       # state_dict() for exact resume
    for batch in loader: ...                                   # Batch: features (B, T, F), targets (B, U)

The corpus itself comes from `transduce data synth` (`asr.data.synth`, espeak-ng).
B: batch, T: frames, F: mel bins, U: target length.
"""

from transduce.asr.data.augment import AugmentConfig
from transduce.asr.data.dataset import Batch, DatasetConfig, Example, SpeechDataset, collate, load_segment
from transduce.asr.data.loader import ResumableLoader, seed_worker
from transduce.asr.data.manifest import (
    ManifestEntry,
    ManifestError,
    read_manifest,
    scan_manifest,
    write_manifest,
)
from transduce.asr.data.sampler import BucketingBatchSampler, BucketingConfig

__all__ = [
    "AugmentConfig",
    "Batch",
    "DatasetConfig",
    "Example",
    "SpeechDataset",
    "collate",
    "load_segment",
    "ResumableLoader",
    "seed_worker",
    "ManifestEntry",
    "ManifestError",
    "read_manifest",
    "scan_manifest",
    "write_manifest",
    "BucketingBatchSampler",
    "BucketingConfig",
]
