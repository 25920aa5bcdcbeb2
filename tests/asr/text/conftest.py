"""Text tests: tiny models, so one torch thread; the sentences of the synthetic corpus for tokenizers."""

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

SENTENCES = Path(__file__).resolve().parents[3] / "asr" / "data" / "assets" / "sentences.txt"


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    lines = SENTENCES.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]
