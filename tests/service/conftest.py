"""Service tests: tiny models, one torch thread (the machine is shared); the streaming tests' model and
audio helpers (tests/streaming/stream_helpers.py) are importable here too."""

import sys
from pathlib import Path

import torch

torch.set_num_threads(1)
_STREAMING_TESTS = str(Path(__file__).resolve().parents[1] / "streaming")
if _STREAMING_TESTS not in sys.path:
    sys.path.append(_STREAMING_TESTS)
