"""Log-mel features: offline (batched torch), online (streaming), normalisation and SpecAugment.

The offline path (`compute_fbank`, `fbank_batch`) is for training and batch transcription; the
online path (`OnlineFbank`) is for streams; both give the same frames (kaldi fbank conventions).
"""

from asr.features.fbank import FbankConfig, compute_fbank, fbank_batch, num_frames
from asr.features.normalize import FeatureNormalizer, FeatureStats
from asr.features.online import OnlineFbank
from asr.features.specaugment import SpecAugment, SpecAugmentConfig

__all__ = [
    "FbankConfig",
    "compute_fbank",
    "fbank_batch",
    "num_frames",
    "OnlineFbank",
    "FeatureStats",
    "FeatureNormalizer",
    "SpecAugmentConfig",
    "SpecAugment",
]
