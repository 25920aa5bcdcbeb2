"""Kernel tests: without CUDA, Triton kernels run in its CPU interpreter (set before any triton import)."""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
