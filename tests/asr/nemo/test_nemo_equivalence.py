"""Imported NeMo models compute what NeMo computes: features, encoder outputs (offline and chunk by
chunk while streaming), CTC log-probs and greedy transcripts token for token.

Oracle: NeMo 3.0 itself. tests/fixtures/nemo/make_model_fixtures.py (run in NeMo's venv) built four
small random-weight models with NeMo, saved them with `save_to` and recorded NeMo's outputs on two
signals (tests/fixtures/nemo/models/README.md). Here they are read with transduce alone. Token ids
are compared in NeMo's numbering (ours - 1; NeMo's blank is the last id).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transduce.asr.decoding import CTCGreedyDecoder
from transduce.asr.features.kinds import compute_features
from transduce.asr.nemo import load_nemo
from transduce.streaming import EndpointConfig, Recognizer, lookaheads_ms

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "nemo" / "models"
MODELS = ["hybrid_cache_aware", "tdt", "ctc_full", "ctc_128_perfeature"]
TOL = 1e-4


@pytest.fixture(scope="module", params=MODELS)
def case(request):
    name = request.param
    record = torch.load(FIXTURES / f"{name}.pt", weights_only=True)
    return name, load_nemo(FIXTURES / f"{name}.nemo"), record


def _contexts(record) -> list[tuple[int, str]]:
    return [(i, f"{a},{b}") for i, (a, b) in enumerate(record["att_context_sizes"])]


def _valid(x: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """NeMo's (1, C, T) with its length -> our (T_valid, C)."""
    return x[0, :, : int(length[0])].T


def _nemo_ids(ours: tuple[int, ...] | list[int]) -> list[int]:
    return [int(i) - 1 for i in ours]


def test_the_model_is_what_the_config_says(case):
    name, model, record = case
    assert model.tokenizer.vocab_size == record["vocab_size"] + 1  # + our blank
    assert [model.tokenizer.id_to_piece(i + 1) for i in range(5)] == record["vocabulary"][:5]
    assert [list(c) for c in model.cfg.encoder.att_context_size] == record["att_context_sizes"]
    assert model.cfg.ctc == ("ctc" in record["heads"])
    assert (model.cfg.transducer != "none") == ("rnnt" in record["heads"])


def test_features_equal_nemo_preprocessor(case):
    _, model, record = case
    for signal, audio in record["audio"].items():
        ours = compute_features(audio, model.cfg.features)
        theirs = _valid(record["features"][signal]["x"], record["features"][signal]["length"])
        assert ours.shape == theirs.shape, signal
        assert (ours - theirs).abs().max() <= TOL, signal


def test_encoder_offline_equals_nemo_per_context(case):
    _, model, record = case
    for signal, audio in record["audio"].items():
        feats = compute_features(audio, model.cfg.features)[None]
        for index, key in _contexts(record):
            with torch.no_grad():
                out, lens = model.encode(feats, torch.tensor([feats.shape[1]]), index)
            theirs = _valid(record["encoder"][signal][key]["x"], record["encoder"][signal][key]["length"])
            assert int(lens[0]) == theirs.shape[0], (signal, key)
            assert (out[0, : int(lens[0])] - theirs).abs().max() <= TOL, (signal, key)


def test_ctc_log_probs_and_greedy_ids_equal_nemo(case):
    _, model, record = case
    if not model.cfg.ctc:
        pytest.skip("no CTC head")
    vocab = record["vocab_size"]
    to_nemo = torch.tensor([*range(1, vocab + 1), 0])  # NeMo's column k is our k + 1, its blank our 0
    for signal, audio in record["audio"].items():
        feats = compute_features(audio, model.cfg.features)[None]
        for index, key in _contexts(record):
            with torch.no_grad():
                enc, lens = model.encode(feats, torch.tensor([feats.shape[1]]), index)
                logits = model.ctc_head(enc)
            n = int(lens[0])
            log_probs = logits.log_softmax(-1)[0, :n, to_nemo]
            assert (log_probs - record["ctc_log_probs"][signal][key][0, :n]).abs().max() <= TOL
            hyp = CTCGreedyDecoder(blank=0).decode(logits, lens)[0]
            expected = record["greedy"][signal][key]["ctc"]["greedy"]["ids"]
            assert _nemo_ids(hyp.tokens) == expected, (signal, key)
            assert len(expected) > 2


def test_transcripts_equal_nemo_transcribe(case):
    """Recognizer.transcribe (what the service and CLI run) against NeMo's model.transcribe / greedy."""
    _, model, record = case
    head = "rnnt" if model.cfg.transducer != "none" else "ctc"
    for index, key in _contexts(record):
        ms = lookaheads_ms(model)[index]
        recognizer = Recognizer(model, _config(ms))
        for signal, audio in record["audio"].items():
            ours = recognizer.transcribe([audio])[0]
            expected = record["greedy"][signal][key][head]["greedy"]
            assert _nemo_ids(ours.tokens) == expected["ids"], (signal, key)
            assert ours.text == expected["text"].strip()
            if index == 0:
                assert expected["ids"] == record["transcribe"][signal][head]["ids"]


def _config(ms: int):
    from transduce.streaming import RecognizerConfig

    return RecognizerConfig(lookahead_ms=ms)


def test_cache_aware_streaming_equals_nemo_chunk_by_chunk(case):
    name, model, record = case
    if "stream" not in record:
        pytest.skip(f"{name} is not a cache-aware streaming model")
    for signal, audio in record["audio"].items():
        feats = compute_features(audio, model.cfg.features)[None]
        for index, key in _contexts(record):
            stream = record["stream"][signal][key]
            first, later = model.encoder.chunk_frames(index)
            assert [first, later] == record["streaming_cfg"][key]["chunk_size"]
            state, pos = model.encoder.init_state(1, index), 0
            for meta, theirs in zip(stream["chunk_meta"], stream["chunks"]):
                n = meta["feat_end"] - pos
                chunk = feats[:, pos: meta["feat_end"]]
                final = meta["feat_end"] >= feats.shape[1]
                with torch.no_grad():
                    out, lens, state = model.encoder.stream_step(chunk, torch.tensor([n]), state, final=final)
                pos = meta["feat_end"]
                theirs = theirs[0].T  # (T', D) of this chunk
                assert int(lens[0]) == theirs.shape[0], (signal, key, meta["step"])
                assert (out[0, : int(lens[0])] - theirs).abs().max() <= TOL, (signal, key, meta["step"])
            assert pos == feats.shape[1]


def test_served_stream_finals_equal_nemo_streaming_transcripts(case):
    """The streaming engine (Session via Recognizer.stream, audio in 100 ms pieces) gives NeMo's
    cache-aware streaming transcript for every look-ahead."""
    name, model, record = case
    if "stream" not in record:
        pytest.skip(f"{name} is not a cache-aware streaming model")
    for index, key in _contexts(record):
        recognizer = Recognizer(model, _config(lookaheads_ms(model)[index]))
        for signal, audio in record["audio"].items():
            with recognizer.stream(16000, EndpointConfig(enabled=False), interim_results=False) as s:
                results = [r for i in range(0, len(audio), 1600) for r in s.feed(audio[i:i + 1600].numpy())]
                (final,) = [r for r in results + s.finish() if r.is_final]
            assert _nemo_ids(final.tokens) == record["stream"][signal][key]["rnnt"]["ids"], (signal, key)
