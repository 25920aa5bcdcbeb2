"""The feature types a model can declare, behind one offline and one online call.

`FbankConfig`: kaldi-compatible fbank (our own models); `NemoMelConfig`: NeMo's mel spectrogram
(imported NeMo models). Both give (T, F) log-mel frames, online exactly as offline.
"""

from __future__ import annotations

import numpy as np
import torch
from transduce.asr.features.fbank import FbankConfig, compute_fbank
from transduce.asr.features.nemo_mel import NemoMelConfig, OnlineNemoMel, compute_nemo_mel
from transduce.asr.features.online import OnlineFbank

__all__ = ["FeatureConfig", "compute_features", "online_features"]

FeatureConfig = FbankConfig | NemoMelConfig


def compute_features(audio: np.ndarray | torch.Tensor, cfg: FeatureConfig) -> torch.Tensor:
    """Features (T, F) of mono audio (N,) at cfg.sample_rate, of the type `cfg` names."""
    if isinstance(cfg, NemoMelConfig):
        return compute_nemo_mel(audio, cfg)
    return compute_fbank(audio, cfg)


def online_features(cfg: FeatureConfig) -> OnlineFbank | OnlineNemoMel:
    """An online extractor of `cfg`'s features (accept_waveform / input_finished / pop_frames)."""
    if isinstance(cfg, NemoMelConfig):
        return OnlineNemoMel(cfg)
    return OnlineFbank(cfg)
