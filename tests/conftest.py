"""Shared test settings: deterministic seeds and the CUDA skip marker."""

from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def text_model_dir(tmp_path_factory) -> Path:
    """A checkpoint of a tiny random TextSeq2Seq (float64: argmaxes never meet a rounding tie, so any
    batching gives the same text) with a BPE tokenizer: a stand-in formatting model for wiring tests."""
    from transduce.asr.text.models import TextSeq2Seq, TextSeq2SeqConfig
    from transduce.asr.tokenizers.text_bpe import TextTokenizer

    import transduce

    corpus = Path(__file__).resolve().parents[1] / "asr" / "data" / "assets" / "sentences.txt"
    lines = [s for s in corpus.read_text(encoding="utf-8").splitlines()
             if s.strip() and not s.startswith("#")]
    tokenizer = TextTokenizer.train(lines, vocab_size=80)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        cfg = TextSeq2SeqConfig(80, d_model=16, n_heads=2, encoder_layers=1, decoder_layers=1, ff_expansion=2)
        model = TextSeq2Seq(cfg).double().eval()
    return transduce.save_model(model, tmp_path_factory.mktemp("text_model") / "tiny_format", tokenizer)
