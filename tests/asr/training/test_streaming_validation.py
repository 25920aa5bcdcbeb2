"""Streaming validation decodes exactly what the offline chunked-mask forward + greedy decoding gives.

Oracle: `model.encode(feats, lens, lookahead)` (the offline forward under the same chunked
attention mask) then the head's greedy decoder over whole utterances. The streaming path feeds the
encoder chunk by chunk (`stream_step`) and the decoder chunk by chunk, for a ragged batch. Random
untrained models emit many tokens, so a disagreement anywhere shows. float64 keeps argmax ties away.
"""

from __future__ import annotations

import pytest
import torch
from training_helpers import model_section, noisy_tone_corpus
from transduce.asr.config import from_dict
from transduce.asr.data.manifest import read_manifest
from transduce.asr.decoding import CTCGreedyDecoder, RNNTGreedyDecoder, TDTGreedyDecoder
from transduce.asr.metrics import cer, wer
from transduce.asr.models.asr_model import ASRModel
from transduce.asr.tokenizers import CharTokenizer
from transduce.asr.training import stream_decode, validate
from transduce.asr.training.build import make_dataset
from transduce.asr.training.config import TrainConfig, model_config
from transduce.asr.training.validation import greedy_decoder


def _model(transducer, ctc=True, style="chunked_limited", vocab=9):
    contexts = [[6, 2], [6, 0], [3, 1]]
    section = model_section(transducer, ctc, att_context_style=style, att_context_size=contexts)
    cfg = from_dict(TrainConfig, {"model": section, "data": {"train_manifest": "x"}}, "config")
    torch.manual_seed(0)
    model = ASRModel(model_config(cfg, vocab)).double().eval()
    with torch.no_grad():  # larger joiner/CTC weights: untrained models then emit plenty of tokens
        for p in model.parameters():
            p.mul_(3.0)
        model.normalizer.mean.uniform_(-1, 1)
    return model


def _offline(model, feats, lens, lookahead):
    enc, enc_lens = model.encode(feats, lens, lookahead)
    decoder = greedy_decoder(model)
    x = model.ctc_head(enc) if isinstance(decoder, CTCGreedyDecoder) else enc
    return [h.tokens for h in decoder.decode(x, enc_lens)]


@pytest.mark.parametrize(("transducer", "ctc", "style"), [
    ("tdt", True, "chunked_limited"), ("rnnt", False, "chunked_limited"), ("none", True, "chunked_limited"),
    ("tdt", True, "regular"),
])
@pytest.mark.parametrize("lookahead", [0, 1, 2])
def test_streaming_decode_equals_offline_decode(transducer, ctc, style, lookahead):
    model = _model(transducer, ctc, style)
    gen = torch.Generator().manual_seed(lookahead)
    lens = torch.tensor([97, 40, 131, 9])
    feats = torch.randn(4, 131, 80, generator=gen, dtype=torch.float64)
    feats = feats.masked_fill(torch.arange(131)[None, :, None] >= lens[:, None, None], 0.0)
    with torch.no_grad():
        expect = _offline(model, feats, lens, lookahead)
    got = stream_decode(model, feats, lens, lookahead)
    assert got == expect
    assert sum(len(t) for t in got) > 10  # the comparison is not between empty outputs


def test_the_decoder_follows_the_heads():
    assert isinstance(greedy_decoder(_model("tdt")), TDTGreedyDecoder)
    assert isinstance(greedy_decoder(_model("rnnt")), RNNTGreedyDecoder)
    assert isinstance(greedy_decoder(_model("none")), CTCGreedyDecoder)


def test_validate_scores_the_streaming_hypotheses_of_a_dev_set(tmp_path):
    entries = read_manifest(noisy_tone_corpus(tmp_path, n=5))
    tok = CharTokenizer(list("abcd"))
    model = _model("tdt", vocab=tok.vocab_size).float()
    model.tokenizer = tok
    data = from_dict(TrainConfig, {"model": model_section(), "data": {"train_manifest": "x"}}, "config").data
    dev = make_dataset(entries, tok, model, data, seed=0, train=False)
    model.train()
    result = validate(model, dev, max_utterances=4, lookahead=1, batch_size=3)
    assert model.training  # put back as it was
    model.eval()
    assert result.references == tuple(e.text for e in entries[:4]) and result.utterances == 4
    for i, hyp in enumerate(result.hypotheses):
        example = dev[i]
        ids = stream_decode(model, example.features[None], torch.tensor([example.features.shape[0]]), 1)[0]
        assert hyp == tok.decode(ids)
    assert result.wer == wer(result.references, result.hypotheses)
    assert result.cer == cer(result.references, result.hypotheses)
    with pytest.raises(ValueError, match="train=False"):
        validate(model, make_dataset(entries, tok, model, data, seed=0, train=True), 2)
