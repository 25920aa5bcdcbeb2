"""`transduce demo`: the main job on the bundled assets.

Until a trained model ships (the training issue), the demo does the most real thing available:
it loads the bundled recording, computes the log-mel features the encoders consume, streams the
same audio through the online front end chunk by chunk, and shows that both agree.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from asr.audio import load_audio, sample_path, sample_transcript
from asr.cli import Command
from asr.features import FbankConfig, OnlineFbank, compute_fbank

__all__ = ["COMMAND"]

_CHUNK_MS = 160


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chunk-ms", type=int, default=_CHUNK_MS, help="streaming chunk size (ms)")


def _stream_features(audio: np.ndarray, cfg: FbankConfig, chunk: int) -> tuple[torch.Tensor, int]:
    """Features of `audio` fed to the online front end `chunk` samples at a time."""
    online = OnlineFbank(cfg)
    frames = []
    for start in range(0, len(audio), chunk):
        online.accept_waveform(audio[start : start + chunk])
        frames.append(online.pop_frames())
    online.input_finished()
    frames.append(online.pop_frames())
    return torch.cat(frames), len(frames) - 1


def _run(args: argparse.Namespace) -> int:
    cfg = FbankConfig()
    path = sample_path()
    audio = load_audio(path)
    offline = compute_fbank(audio, cfg)
    online, chunks = _stream_features(audio, cfg, cfg.sample_rate * args.chunk_ms // 1000)
    gap = (offline - online).abs().max().item()
    print("transduce demo: no trained model is bundled yet, so this shows the audio front end.")
    print(f"  sample      {path.name}: {len(audio) / cfg.sample_rate:.2f} s at {cfg.sample_rate} Hz")
    print(f"  transcript  {sample_transcript()!r}")
    print(f"  offline     log-mel features {tuple(offline.shape)} (frames x mel bins), "
          f"range [{offline.min():.2f}, {offline.max():.2f}], mean {offline.mean():.2f}")
    print(f"  streaming   {chunks} chunks of {args.chunk_ms} ms -> {tuple(online.shape)}, "
          f"max |online - offline| = {gap:.2e}")
    return 0


COMMAND = Command(name="demo", help="Run the main job on the bundled sample.", add_arguments=_add_arguments,
                  run=_run)
