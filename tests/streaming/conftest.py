"""Streaming tests: tiny models, so one torch thread (the machine is shared; wake-ups cost more)."""

import torch

torch.set_num_threads(1)
