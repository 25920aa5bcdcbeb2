"""Streaming log-mel features over kaldi-native-fbank's `OnlineFbank`.

Feed audio chunks of any size, pop the frames computed so far; the concatenated frames equal
`compute_fbank` of the whole audio. Popped frames are discarded inside knf, so a long stream
keeps only the unpopped frames and less than one frame of audio in memory.
n: frames popped, F: mel bins.
"""

from __future__ import annotations

import kaldi_native_fbank as knf
import numpy as np
import torch

from asr.features.fbank import FbankConfig

__all__ = ["OnlineFbank"]


def _knf_options(cfg: FbankConfig) -> knf.FbankOptions:
    """The kaldi-native-fbank options equal to `cfg`."""
    opts = knf.FbankOptions()
    frame = opts.frame_opts
    frame.samp_freq = float(cfg.sample_rate)
    frame.frame_length_ms = cfg.frame_length_ms
    frame.frame_shift_ms = cfg.frame_shift_ms
    frame.dither = cfg.dither
    frame.preemph_coeff = cfg.preemphasis
    frame.remove_dc_offset = cfg.remove_dc_offset
    frame.window_type = cfg.window
    frame.blackman_coeff = cfg.blackman_coeff
    frame.round_to_power_of_two = cfg.round_to_power_of_two
    frame.snip_edges = cfg.snip_edges
    mel = opts.mel_opts
    mel.num_bins = cfg.num_mel_bins
    mel.low_freq = cfg.low_freq
    mel.high_freq = cfg.high_freq
    opts.use_energy = False
    opts.use_log_fbank = True
    opts.use_power = True
    opts.use_log_floor = True
    opts.eps = cfg.log_floor
    return opts


class OnlineFbank:
    """Incremental log-mel features of one stream: accept_waveform, pop_frames, input_finished, reset."""

    def __init__(self, cfg: FbankConfig | None = None) -> None:
        self.cfg = cfg or FbankConfig()
        self._options = _knf_options(self.cfg)
        self.reset()

    def reset(self) -> None:
        """Forget all audio and frames; start a new stream."""
        self._knf = knf.OnlineFbank(self._options)
        self._popped = 0  # knf indexes frames from the start of the stream
        self._finished = False

    def accept_waveform(self, samples: np.ndarray) -> None:
        """Append `samples` (N,) float32 in [-1, 1] at cfg.sample_rate (taken as is, no int16 scaling)."""
        if self._finished:
            raise RuntimeError("OnlineFbank: accept_waveform() after input_finished(); call reset() first")
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"OnlineFbank: samples must be (N,), got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("OnlineFbank: samples contain NaN or infinite values")
        if x.size:
            self._knf.accept_waveform(float(self.cfg.sample_rate), x)

    def input_finished(self) -> None:
        """Declare the end of the stream (with snip_edges no further frame appears; kept for the contract)."""
        if not self._finished:
            self._knf.input_finished()
            self._finished = True

    @property
    def num_frames_ready(self) -> int:
        """Frames computed and not yet popped."""
        return self._knf.num_frames_ready - self._popped

    def pop_frames(self, max_frames: int | None = None) -> torch.Tensor:
        """Remove and return up to `max_frames` (all if None) of the ready frames as (n, F) float32."""
        if max_frames is not None and max_frames < 0:
            raise ValueError(f"OnlineFbank.pop_frames: max_frames must be >= 0, got {max_frames}")
        n = self.num_frames_ready if max_frames is None else min(int(max_frames), self.num_frames_ready)
        if n <= 0:
            return torch.zeros(0, self.cfg.num_mel_bins, dtype=torch.float32)
        frames = np.stack([self._knf.get_frame(self._popped + i) for i in range(n)])  # copies knf's buffers
        self._knf.pop(n)
        self._popped += n
        return torch.from_numpy(frames)
