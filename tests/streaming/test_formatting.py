"""Formatting in the Python API: finals and transcripts carry the text model's written form of their
spoken text; partials, spoken text, tokens and words are what they are without formatting."""

from __future__ import annotations

import pytest
from stream_helpers import feed_sizes, speechlike, tiny_model
from transduce.asr.text.rewriter import TextRewriter
from transduce.streaming import EndpointConfig, Recognizer

from transduce import asr

ENDPOINTS = EndpointConfig(silence_after_speech_s=0.3, silence_no_speech_s=0.5, max_utterance_s=0.8)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return asr.save_model(tiny_model("tdt", True), tmp_path_factory.mktemp("fmt") / "tdt")


def _stream(recognizer: Recognizer, audio) -> list:
    results, pos = [], 0
    with recognizer.stream(sample_rate=16000, endpoint=ENDPOINTS) as s:
        for n in feed_sizes(len(audio), seed=4):
            results += s.feed(audio[pos:pos + n])
            pos += n
        results += s.finish()
    return results


@pytest.mark.parametrize("decoding", ["greedy", "beam"])
def test_stream_finals_carry_the_written_form_of_each_alternative(model_dir, text_model_dir, decoding):
    plain = Recognizer.load(model_dir, decoding=decoding, beam_size=3)
    formatting = Recognizer.load(model_dir, decoding=decoding, beam_size=3, formatting=text_model_dir)
    rewriter = TextRewriter.load(text_model_dir)
    audio = speechlike(3.0, seed=2)
    without, with_ = _stream(plain, audio), _stream(formatting, audio)
    finals = [r for r in with_ if r.is_final]
    assert len(finals) >= 2 and any(not r.is_final for r in with_)
    for a, b in zip(without, with_, strict=True):
        assert (a.text, a.tokens, a.words, a.is_final) == (b.text, b.tokens, b.words, b.is_final)
        if not b.is_final:
            assert (b.formatted_text, b.formatted_alternatives) == (None, ())
    for r in finals:
        spoken = [alt.text for alt in r.alternatives]
        assert list(r.formatted_alternatives) == rewriter(spoken)
        assert r.formatted_text == r.formatted_alternatives[0] == rewriter([r.text])[0]
    assert any(r.formatted_text for r in finals)


def test_transcripts_and_decode_streams_are_formatted(model_dir, text_model_dir, tmp_path):
    r = Recognizer.load(model_dir, formatting=text_model_dir)
    rewriter = TextRewriter.load(text_model_dir)
    audio = [speechlike(1.5, seed=s) for s in range(3)]
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    transcripts = r.transcribe(audio + [tmp_path / "bad.wav"])
    assert [t.formatted_text for t in transcripts[:3]] == rewriter([t.text for t in transcripts[:3]])
    assert transcripts[3].error and transcripts[3].formatted_text is None
    assert [t.formatted_text for _, t in sorted(r.transcribe_iter(audio))] == \
        [t.formatted_text for t in transcripts[:3]]
    assert all(t.formatted_text is None for t in Recognizer.load(model_dir).transcribe(audio))
    streams = [r.stream(endpoint=EndpointConfig(enabled=False)) for _ in audio]
    for s, a in zip(streams, audio):
        s.feed(a, decode=False)
        s.finish(decode=False)
    finals = [x for results in r.decode_streams(streams) for x in results if x.is_final]
    assert [x.formatted_text for x in finals] == [t.formatted_text for t in transcripts[:3]]


def test_formatting_model_must_be_a_text_model(model_dir):
    with pytest.raises(TypeError, match="needs a TextSeq2Seq"):
        Recognizer.load(model_dir, formatting=model_dir)
