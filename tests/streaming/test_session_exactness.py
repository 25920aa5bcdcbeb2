"""Streaming audio through a Session gives exactly what offline decoding of the same audio gives.

Oracle: whole-utterance log-mels (`compute_fbank`), the encoder's offline forward under the same
chunked attention context, and the head's decoder over all frames at once (built directly from
asr.decoding). The Session gets the audio in random pieces (some of 1..10 samples), computes
features online, steps the encoder cache-aware and resumes the decoder chunk by chunk, so equal
tokens and times check the online features, the encoder's exactness and the decoder's resumability
together. float64 models keep argmax ties away; endpointing is off (one utterance).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stream_helpers import feed_sizes, offline_hypothesis, speechlike, tiny_model
from transduce.asr.decoding import ContextGraph, TDTBeamConfig, TDTBeamSearch, to_result
from transduce.asr.features import compute_fbank
from transduce.streaming import EndpointConfig, Session, SessionConfig, decode_sessions

NO_ENDPOINT = EndpointConfig(enabled=False)


def _stream(model, audio, cfg, seed, step_every=1):
    """Feed `audio` in random pieces, stepping the model after every `step_every` pieces; all results."""
    s = Session(model, cfg)
    results, pos = [], 0
    for i, n in enumerate(feed_sizes(len(audio), seed)):
        s.accept(audio[pos:pos + n])
        pos += n
        if i % step_every == 0:
            decode_sessions(model, [s])
            results += s.pop_results()
    s.finish()
    decode_sessions(model, [s])
    results += s.pop_results()
    assert s.done and s.encoder_state is None
    return results


@pytest.mark.parametrize(("transducer", "ctc"), [("tdt", True), ("rnnt", False), ("none", True)])
@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_streamed_tokens_and_times_equal_offline_decoding(transducer, ctc, method):
    model = tiny_model(transducer, ctc, scale=3.0 if transducer != "rnnt" else 2.0)
    audio = speechlike(2.3, seed=1)
    lookahead = 1 if method == "greedy" else 2
    cfg = SessionConfig(lookahead=lookahead, decoding=method, beam_size=3, endpoint=NO_ENDPOINT)
    results = _stream(model, audio, cfg, seed=7)
    finals = [r for r in results if r.is_final]
    expect = offline_hypothesis(model, audio, lookahead, method, beam=3)
    assert len(expect.tokens) > 5  # not a comparison of empty outputs
    assert len(finals) == 1 and finals[0].utterance_index == 0 and finals[0].endpoint == "end_of_stream"
    final = finals[0]
    assert list(final.tokens) == expect.tokens
    oracle = to_result(expect, model.tokenizer, model.frame_shift_s)
    assert final.text == oracle.text
    spans = lambda r: [(w.text, w.start_s, w.end_s) for w in r.words]  # noqa: E731
    assert spans(final) == spans(oracle)
    assert final.alternatives[0].token_times == oracle.token_times
    np.testing.assert_allclose([w.confidence for w in final.words], [w.confidence for w in oracle.words],
                               rtol=1e-9)


@pytest.mark.parametrize("chunks_per_step", [1, 3])
def test_catching_up_in_bigger_steps_changes_nothing(chunks_per_step):
    """Audio fed faster than it is decoded (steps after every 5th piece), several chunks per step."""
    model = tiny_model("tdt")
    audio = speechlike(2.0, seed=3)
    cfg = SessionConfig(lookahead=0, endpoint=NO_ENDPOINT, max_chunks_per_step=chunks_per_step)
    finals = [r for r in _stream(model, audio, cfg, seed=2, step_every=5) if r.is_final]
    assert list(finals[0].tokens) == offline_hypothesis(model, audio, 0).tokens


def test_pcm16_bytes_decode_like_the_samples_they_hold():
    model = tiny_model("tdt")
    pcm = (speechlike(1.5, seed=4) * 32767).astype("<i2")
    samples = pcm.astype(np.float32) / 32768.0
    s = Session(model, SessionConfig(endpoint=NO_ENDPOINT))
    data, pos = pcm.tobytes(), 0
    for n in feed_sizes(len(data) // 2, seed=5):
        s.accept(data[2 * pos:2 * (pos + n)])
        pos += n
    s.finish()
    decode_sessions(model, [s])
    (final,) = [r for r in s.pop_results() if r.is_final]
    assert list(final.tokens) == offline_hypothesis(model, samples, 0).tokens


def test_partials_grow_into_the_final_and_carry_a_stability():
    """Greedy partials only append: each is a prefix of the next and of the final; stability is the
    share of the text already shown N updates before (brute force here)."""
    model = tiny_model("tdt")
    cfg = SessionConfig(endpoint=NO_ENDPOINT, stability_updates=2)
    results = _stream(model, speechlike(2.0, seed=6), cfg, seed=1)
    partials, final = results[:-1], results[-1]
    assert len(partials) >= 3 and final.is_final and not any(p.is_final for p in partials)
    texts = [p.text for p in partials] + [final.text]
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:]))
    history = ["", ""] + [p.text for p in partials]
    for i, p in enumerate(partials):
        previous = history[i:i + 2]
        k = 0
        while k < len(p.text) and all(k < len(h) and h[k] == p.text[k] for h in previous):
            k += 1
        assert p.stability == pytest.approx(k / len(p.text) if p.text else 1.0)
        assert p.endpoint is None and p.utterance_index == 0
    assert final.stability == 1.0
    quiet_cfg = SessionConfig(endpoint=NO_ENDPOINT, interim_results=False)
    quiet = _stream(model, speechlike(2.0, seed=6), quiet_cfg, 1)
    assert len(quiet) == 1 and quiet[0].tokens == final.tokens


def test_hotwords_reach_beam_search_as_offline_biasing_does():
    model = tiny_model("tdt")
    audio = speechlike(2.0, seed=8)
    hot = ("ab", "dc")
    cfg = SessionConfig(decoding="beam", beam_size=3, hotwords=hot, hotword_boost=4.0, endpoint=NO_ENDPOINT)
    final = _stream(model, audio, cfg, seed=4)[-1]
    feats = compute_fbank(audio)[None].double()
    with torch.no_grad():
        enc, enc_lens = model.encode(feats, torch.tensor([feats.shape[1]]), 0)
        search = TDTBeamSearch(model.predictor, model.joiner, TDTBeamConfig(3))
        graph = ContextGraph([model.tokenizer.encode(h) for h in hot], 4.0)
        state = search.decode_chunk(enc, enc_lens, search.init_state(1, contexts=[graph]))
    assert list(final.tokens) == search.best(state)[0].tokens
    plain = offline_hypothesis(model, audio, 0, "beam", beam=3)
    count = lambda text: sum(text.count(h) for h in hot)  # noqa: E731
    assert count(final.text) > count(model.tokenizer.decode(plain.tokens))  # the boost did something
