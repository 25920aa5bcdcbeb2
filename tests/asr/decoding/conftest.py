"""Decoding tests: tiny tensors, so one torch thread (thread wake-ups cost more than the work);
without CUDA, the Triton beam kernel runs in its CPU interpreter when a test forces it."""

import os

import torch

torch.set_num_threads(1)
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
