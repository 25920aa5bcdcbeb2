"""Trainer tests: one torch thread (tiny models, a busy shared CPU) and the helpers on sys.path."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
