"""The Python API `Recognizer` (transduce.Recognizer): transcribe() and stream() against independent oracles.

Oracle: `offline_hypothesis` (stream_helpers): whole-utterance offline fbank, the encoder's
offline forward under the same chunked context and a decoder built directly from asr.decoding, one
recording at a time; `to_result` gives its text and word times. Models are tiny random float64
ones saved to a temp dir and loaded back with `Recognizer.load`, so argmax ties stay away and a
disagreement shows (weights are scaled so that the models emit many tokens).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from stream_helpers import feed_sizes, offline_hypothesis, speechlike, tiny_model
from transduce.asr.checkpoint import CheckpointError
from transduce.asr.decoding import to_result
from transduce.streaming import EndpointConfig, Recognizer, SessionConfigError

from transduce import asr

NO_ENDPOINT = EndpointConfig(enabled=False)
HEADS = {"tdt": ("tdt", True), "rnnt": ("rnnt", False), "ctc": ("none", True)}


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """One saved tiny model per head kind: {"tdt"|"rnnt"|"ctc": directory}."""
    root = tmp_path_factory.mktemp("models")
    dirs = {}
    for name, (transducer, ctc) in HEADS.items():
        model = tiny_model(transducer, ctc, scale=3.0 if transducer != "rnnt" else 2.0)
        dirs[name] = asr.save_model(model, root / name)
    return dirs


def _spans(words):
    return [(w.text, w.start_s, w.end_s) for w in words]


def _check_against_oracle(transcript, model, audio, lookahead, method, beam=4):
    expect = offline_hypothesis(model, audio, lookahead, method, beam)
    oracle = to_result(expect, model.tokenizer, model.frame_shift_s)
    assert transcript.error is None
    assert list(transcript.tokens) == expect.tokens
    assert transcript.text == oracle.text
    assert _spans(transcript.words) == _spans(oracle.words)
    np.testing.assert_allclose([w.confidence for w in transcript.words],
                               [w.confidence for w in oracle.words], rtol=1e-9)
    assert transcript.duration_s == pytest.approx(len(audio) / 16000)
    return expect


MS = {0: 80, 1: 0, 2: 40}  # the tiny models' contexts (6, 2), (6, 0), (3, 1) in 40 ms encoder frames


@pytest.mark.parametrize(("head", "method", "lookahead"), [
    ("tdt", "greedy", None), ("rnnt", "beam", 2), ("ctc", "greedy", 1), ("ctc", "beam", 0)])
def test_files_and_arrays_give_the_offline_oracle(model_dirs, tmp_path, head, method, lookahead):
    ms = None if lookahead is None else MS[lookahead]
    r = Recognizer.load(model_dirs[head], decoding=method, beam_size=3, lookahead_ms=ms)
    assert r.lookahead == (lookahead or 0) and r.lookahead_ms == MS[lookahead or 0]
    audio = [speechlike(s, seed=i) for i, s in enumerate((1.7, 0.9, 2.2))]
    paths = []
    for i, a in enumerate(audio):
        paths.append(tmp_path / f"{i}.wav")
        sf.write(paths[-1], a, 16000, subtype="FLOAT")  # float WAV: the file holds the very samples
    from_files = r.transcribe(paths, batch_size=2)
    from_arrays = r.transcribe(audio, batch_size=2)
    assert [t.source for t in from_files] == [str(p) for p in paths]
    assert [t.source for t in from_arrays] == ["<input 0>", "<input 1>", "<input 2>"]
    tokens = 0
    for f, a, samples in zip(from_files, from_arrays, audio):
        tokens += len(_check_against_oracle(f, r.model, samples, lookahead or 0, method, beam=3).tokens)
        assert (a.tokens, a.text, a.words, a.confidence) == (f.tokens, f.text, f.words, f.confidence)
    assert tokens > 15  # not a comparison of empty outputs
    if method == "beam":
        assert all(1 <= len(t.alternatives) <= 3 for t in from_files)
        assert all(t.alternatives[0].text == t.text for t in from_files)


def test_batch_size_does_not_change_results_and_input_order_is_kept(model_dirs):
    """Durations in shuffled order, so sorted batches differ from input order; each input is
    checked against the oracle of that input alone."""
    r = Recognizer.load(model_dirs["tdt"])
    seconds = [1.3, 0.5, 2.4, 0.8, 1.9, 0.3, 1.1]
    audio = [speechlike(s, seed=10 + i) for i, s in enumerate(seconds)]
    one = r.transcribe(audio, batch_size=1)
    four = r.transcribe(audio, batch_size=4)
    every = r.transcribe(audio, batch_size=64)
    for i, samples in enumerate(audio):
        _check_against_oracle(one[i], r.model, samples, 0, "greedy")
        assert four[i] == one[i] and every[i] == one[i]


@pytest.mark.parametrize(("head", "method", "lookahead"), [
    ("tdt", "greedy", 1), ("tdt", "beam", 0), ("rnnt", "greedy", 2), ("ctc", "beam", 1)])
def test_stream_final_equals_transcribe(model_dirs, head, method, lookahead):
    r = Recognizer.load(model_dirs[head], decoding=method, beam_size=3, lookahead_ms=MS[lookahead])
    audio = speechlike(2.1, seed=5)
    expect = r.transcribe(audio)[0]
    assert len(expect.tokens) > 5
    results = []
    with r.stream(sample_rate=16000, endpoint=NO_ENDPOINT) as s:
        pos = 0
        for n in feed_sizes(len(audio), seed=3):
            results += s.feed(audio[pos:pos + n])
            pos += n
        results += s.finish()
        assert s.done
    finals = [x for x in results if x.is_final]
    assert len(finals) == 1 and len(results) > 1  # partials came before the end
    final = finals[0]
    assert (final.tokens, final.text, final.words) == (expect.tokens, expect.text, expect.words)
    assert final.confidence == pytest.approx(expect.confidence, rel=1e-9)


def test_8khz_stream_equals_transcribe_of_the_pair(model_dirs):
    """Both resample with soxr HQ (streaming resampler vs whole signal), which give the same samples."""
    r = Recognizer.load(model_dirs["tdt"])
    rng = np.random.default_rng(0)
    pcm = (speechlike(1.8, seed=8, rate=8000) * 32767).astype("<i2")
    expect = r.transcribe([(pcm.astype(np.float32) / 32768.0, 8000)])[0]
    results, pos = [], 0
    with r.stream(sample_rate=8000, endpoint=NO_ENDPOINT) as s:
        while pos < len(pcm):
            n = int(rng.integers(1, 2000))
            results += s.feed(pcm[pos:pos + n].tobytes())  # PCM16 bytes, as the service gets them
            pos += n
        results += s.finish()
    finals = [x for x in results if x.is_final]
    assert len(expect.tokens) > 5
    assert len(finals) == 1 and (finals[0].tokens, finals[0].text) == (expect.tokens, expect.text)


def test_decode_streams_batches_many_streams_like_each_alone(model_dirs):
    r = Recognizer.load(model_dirs["rnnt"], decoding="beam", beam_size=2)
    audio = [speechlike(s, seed=20 + i) for i, s in enumerate((1.2, 2.0, 0.7))]
    expect = r.transcribe(audio)
    streams = [r.stream(endpoint=NO_ENDPOINT) for _ in audio]
    finals: list[list] = [[] for _ in audio]
    for start in range(0, max(len(a) for a in audio) + 1500, 1500):  # streams end at different steps
        for s, a in zip(streams, audio):
            if start < len(a):
                s.feed(a[start:start + 1500], decode=False)
            elif not s.session.input_finished:
                s.finish(decode=False)
        for got, results in zip(finals, r.decode_streams(streams, max_batch=2)):
            got += [x for x in results if x.is_final]
    assert all(s.done for s in streams)
    assert [[f.tokens for f in got] for got in finals] == [[t.tokens] for t in expect]


def test_audio_shorter_than_a_frame_gives_an_empty_transcript_like_a_stream(model_dirs):
    r = Recognizer.load(model_dirs["tdt"])
    short = [speechlike(0.5, seed=1)[:n] for n in (100, 399)]
    for batch_size in (1, 2):
        out = r.transcribe(short + [speechlike(0.6, seed=2)], batch_size=batch_size)
        assert [t.text for t in out[:2]] == ["", ""] and out[2].text and out[0].error is None
    with r.stream(endpoint=NO_ENDPOINT) as s:
        s.feed(short[0])
        assert [(x.text, x.is_final) for x in s.finish()] == [("", True)]


def test_transcribe_iter_yields_each_input_once_batch_by_batch_reading_files_lazily(model_dirs, tmp_path):
    r = Recognizer.load(model_dirs["tdt"])
    seconds = [1.5, 0.4, 1.1, 0.7, 2.0]
    audio = [speechlike(s, seed=40 + i) for i, s in enumerate(seconds)]
    paths = [tmp_path / f"{i}.wav" for i in range(len(audio))]
    for p, a in zip(paths, audio):
        sf.write(p, a, 16000, subtype="FLOAT")
    expect = r.transcribe(audio, batch_size=1)
    it = r.transcribe_iter(paths, batch_size=2)
    first = [next(it), next(it)]
    assert sorted(i for i, _ in first) == [1, 3]  # the two shortest come first
    paths[4].write_bytes(b"truncated")  # the longest file is read only in the last batch
    rest = list(it)
    got = dict(first + rest)
    assert len(first + rest) == len(got) == len(audio)
    assert [i for i, _ in rest] == [2, 0, 4]
    for i in range(4):
        assert (got[i].tokens, got[i].words) == (expect[i].tokens, expect[i].words)
    assert got[4].error and str(paths[4]) in got[4].error


def test_one_input_alone_gives_a_list_of_one(model_dirs, tmp_path):
    r = Recognizer.load(model_dirs["ctc"])
    audio = speechlike(0.8, seed=3)
    sf.write(tmp_path / "a.wav", audio, 16000, subtype="FLOAT")
    results = [r.transcribe(x) for x in (audio, (audio, 16000), tmp_path / "a.wav", str(tmp_path / "a.wav"))]
    assert all(len(x) == 1 for x in results)
    assert len({x[0].tokens for x in results}) == 1 and results[0][0].tokens


def test_unreadable_inputs_give_error_transcripts_and_the_rest_go_on(model_dirs, tmp_path):
    r = Recognizer.load(model_dirs["ctc"])
    good = speechlike(1.0, seed=2)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really a wave file")
    missing = tmp_path / "missing.flac"
    nan = good.copy()
    nan[100] = np.nan
    inputs = [missing, good, corrupt, np.zeros(0, np.float32), nan, (good, 16000)]
    out = r.transcribe(inputs, batch_size=2)
    assert len(out) == len(inputs)
    for i in (0, 2, 3, 4):
        assert out[i].error and out[i].text == "" and out[i].tokens == ()
    assert str(missing) in out[0].error and "no such" in out[0].error
    assert str(corrupt) in out[2].error and "cannot decode" in out[2].error
    assert "<input 3>" in out[3].error and "no audio samples" in out[3].error
    assert "<input 4>" in out[4].error and "NaN" in out[4].error
    _check_against_oracle(out[1], r.model, good, 0, "greedy")
    assert out[5].error is None and out[5].tokens == out[1].tokens


@pytest.mark.parametrize(("bad", "error", "message"), [
    (np.zeros(1000, dtype=np.int16), TypeError, "floats"),
    (np.zeros((2, 3, 4), dtype=np.float32), ValueError, "shape"),
    (b"RIFF....", TypeError, "bytes are ambiguous"),
    ((np.zeros(10, np.float32), 0), TypeError, "sample_rate"),
    (42, TypeError, "numpy array"),
])
def test_wrong_input_types_raise_before_any_work(model_dirs, bad, error, message):
    r = Recognizer.load(model_dirs["ctc"])
    with pytest.raises(error, match=message) as info:
        r.transcribe([speechlike(0.5), bad])
    assert "input 1" in str(info.value)


def test_bad_settings_and_models_are_refused_by_name(model_dirs, tmp_path):
    r = Recognizer.load(model_dirs["ctc"])
    with pytest.raises(ValueError, match="batch_size"):
        r.transcribe([speechlike(0.5)], batch_size=0)
    with pytest.raises(SessionConfigError, match="decoding"):
        Recognizer.load(model_dirs["ctc"], decoding="viterbi")
    with pytest.raises(SessionConfigError, match="beam_size"):
        Recognizer.load(model_dirs["ctc"], decoding="beam", beam_size=0)
    known = r"lookahead_ms 3 is not one of the model's look-aheads \[80, 0, 40\]"
    with pytest.raises(SessionConfigError, match=known):
        Recognizer.load(model_dirs["ctc"], lookahead_ms=3)
    with pytest.raises(CheckpointError, match="no such checkpoint directory"):
        Recognizer.load(tmp_path / "nothing")
    if "demo" not in asr.checkpoint.bundled_models():
        with pytest.raises(CheckpointError, match="bundled models"):
            Recognizer.load("demo")
    with pytest.raises(SessionConfigError, match="sample_rate"):
        r.stream(sample_rate=0)


def test_facade_recognizer_is_the_streaming_class_and_imports_stay_light():
    code = ("import sys, transduce, transduce.asr; assert 'torch' not in sys.modules; "
            "assert 'transduce.streaming' not in sys.modules; "
            "assert not hasattr(transduce.asr, 'Recognizer'); "
            "from transduce import Recognizer, load_model, __version__; import transduce.streaming as s; "
            "assert Recognizer is s.Recognizer and __version__")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.gpu
def test_cuda_transcribe_and_stream_match_the_cpu(model_dirs):
    """float64 on both devices: the tokens agree exactly (CUDA kernels differ only in rounding)."""
    audio = [speechlike(s, seed=30 + i) for i, s in enumerate((1.4, 0.8))]
    cpu = Recognizer.load(model_dirs["tdt"], decoding="beam", beam_size=3).transcribe(audio)
    gpu = Recognizer.load(model_dirs["tdt"], device="cuda", decoding="beam", beam_size=3)
    assert [t.tokens for t in gpu.transcribe(audio, batch_size=2)] == [t.tokens for t in cpu]
    with gpu.stream(endpoint=NO_ENDPOINT) as s:
        s.feed(audio[0])
        assert [x.tokens for x in s.finish() if x.is_final] == [cpu[0].tokens]


def test_multichannel_arrays_are_mixed_down_to_their_mean(model_dirs):
    r = Recognizer.load(model_dirs["tdt"])
    left = speechlike(1.6, seed=50)
    right = (0.8 * left + 0.2 * speechlike(1.6, seed=51)).astype(np.float32)
    mono = ((left.astype(np.float64) + right) / 2).astype(np.float32)
    stereo, expect = r.transcribe([np.stack([left, right], axis=1), mono])
    assert stereo.tokens == expect.tokens and len(expect.tokens) > 5
