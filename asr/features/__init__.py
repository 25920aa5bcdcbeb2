"""Log-mel features: offline (batched torch), online (streaming), normalisation and SpecAugment.

The offline path (`compute_fbank`, `fbank_batch`) is for training and batch transcription; the
online path (`OnlineFbank`) is for streams; both give the same frames (kaldi fbank conventions).
"""

from transduce.asr.features.fbank import FbankConfig, compute_fbank, fbank_batch, num_frames
from transduce.asr.features.nemo_mel import NemoMelConfig, OnlineNemoMel, compute_nemo_mel
from transduce.asr.features.normalize import FeatureNormalizer, FeatureStats
from transduce.asr.features.online import OnlineFbank
from transduce.asr.features.specaugment import SpecAugment, SpecAugmentConfig

__all__ = [
    "FbankConfig",
    "compute_fbank",
    "fbank_batch",
    "num_frames",
    "OnlineFbank",
    "NemoMelConfig",
    "compute_nemo_mel",
    "OnlineNemoMel",
    "FeatureStats",
    "FeatureNormalizer",
    "SpecAugmentConfig",
    "SpecAugment",
]
