"""The audio side of a session: streaming resampling, PCM16 and bad input, limits, settings.

Oracles: soxr's whole-signal resampler and the offline `compute_fbank` for features; the offline
decoding of the resampled audio for tokens; numpy for PCM16 arithmetic.
"""

from __future__ import annotations

import numpy as np
import pytest
import soxr
import torch
from stream_helpers import feed_sizes, offline_hypothesis, speechlike, tiny_model
from transduce.asr.audio import AudioError, NonFiniteAudioError, PCMFormatError
from transduce.asr.features import FbankConfig, compute_fbank
from transduce.streaming import (
    EndpointConfig,
    Session,
    SessionClosedError,
    SessionConfig,
    SessionConfigError,
    StreamTooLongError,
    decode_sessions,
)
from transduce.streaming.frontend import AudioFrontend

NO_ENDPOINT = EndpointConfig(enabled=False)


def _frames(frontend: AudioFrontend, audio, seed: int) -> torch.Tensor:
    pos, out = 0, []
    for n in feed_sizes(len(audio), seed, largest=3000):
        frontend.accept(audio[pos:pos + n])
        pos += n
        out.append(frontend.pop_frames(frontend.num_frames_ready))
    frontend.finish()
    out.append(frontend.pop_frames(frontend.num_frames_ready))
    return torch.cat(out)


@pytest.mark.parametrize("rate", [8000, 48000, 44100])
def test_resampled_stream_features_equal_offline_features_of_the_resampled_whole(rate):
    audio = speechlike(1.3, seed=rate, rate=rate)
    got = _frames(AudioFrontend(FbankConfig(), rate), audio, seed=1)
    expect = compute_fbank(soxr.resample(audio, rate, 16000, quality="HQ"))
    assert got.shape == expect.shape and abs(got.shape[0] - 130) <= 3
    torch.testing.assert_close(got, expect, rtol=0, atol=1e-5)


def test_a_tone_keeps_its_pitch_and_time_through_resampling():
    rate, f0 = 48000, 1000.0
    t = np.arange(int(0.5 * rate)) / rate
    audio = np.concatenate([np.zeros(rate // 2), 0.5 * np.sin(2 * np.pi * f0 * t)]).astype(np.float32)
    frames = _frames(AudioFrontend(FbankConfig(), rate), audio, seed=2)
    energy = frames.max(dim=1).values
    onset = int(torch.nonzero(energy > energy.max() - 20)[0])  # the first loud frame, at 0.5 s
    assert abs(onset - 48) <= 3  # frame i covers [10 i, 10 i + 25) ms: 0.5 s is frame ~48
    t16 = np.arange(8000) / 16000
    native = compute_fbank((0.5 * np.sin(2 * np.pi * f0 * t16)).astype(np.float32))
    assert int(frames[-10].argmax()) == int(native[10].argmax())  # the same mel bin as a 16 kHz tone


@pytest.mark.parametrize("rate", [8000, 48000])
def test_a_session_decodes_resampled_audio_like_offline_decoding_of_it(rate):
    model = tiny_model("tdt")
    audio = speechlike(1.5, seed=9, rate=rate)
    s = Session(model, SessionConfig(sample_rate=rate, endpoint=NO_ENDPOINT))
    pos = 0
    for n in feed_sizes(len(audio), seed=3):
        s.accept(audio[pos:pos + n])
        pos += n
        decode_sessions(model, [s])
    s.finish()
    decode_sessions(model, [s])
    (final,) = [r for r in s.pop_results() if r.is_final]
    expect = offline_hypothesis(model, soxr.resample(audio, rate, 16000, quality="HQ"), 0)
    assert list(final.tokens) == expect.tokens and len(expect.tokens) > 5


def test_bad_chunks_raise_typed_errors_and_change_nothing():
    model = tiny_model("tdt")
    audio = speechlike(1.2, seed=5)
    pcm = (audio * 32767).astype("<i2").tobytes()

    def run(bad: bool) -> tuple[int, ...]:
        s = Session(model, SessionConfig(endpoint=NO_ENDPOINT))
        s.accept(pcm[:6400])
        if bad:
            with pytest.raises(PCMFormatError, match="odd number of bytes"):
                s.accept(pcm[6400:6401])
            with pytest.raises(NonFiniteAudioError, match="NaN or infinite"):
                s.accept(np.array([0.1, np.nan, 0.2], dtype=np.float32))
            with pytest.raises(AudioError, match="floats"):
                s.accept(np.ones(10, dtype=np.int16))
            with pytest.raises(AudioError, match=r"\(N,\) or \(N, C\)"):
                s.accept(np.zeros((2, 2, 2), dtype=np.float32))
        s.accept(pcm[6400:])
        s.finish()
        decode_sessions(model, [s])
        return s.pop_results()[-1].tokens

    assert run(bad=True) == run(bad=False)


def test_stereo_pcm16_is_mixed_down():
    left = (np.arange(-2000, 2000) * 8).astype("<i2")
    right = (left // 3).astype("<i2")
    stereo = np.stack([left, right], axis=1).tobytes()
    front = AudioFrontend(FbankConfig(), 16000, channels=2)
    front.accept(stereo)
    front.finish()
    got = front.pop_frames(1000)
    mono = (left.astype(np.float64) + right) / 2 / 32768.0
    torch.testing.assert_close(got, compute_fbank(mono.astype(np.float32)), rtol=0, atol=1e-5)
    with pytest.raises(PCMFormatError, match="2-channel"):
        AudioFrontend(FbankConfig(), 16000, channels=2).accept(stereo[:6])


def test_the_duration_limit_rejects_the_chunk_that_passes_it():
    model = tiny_model("tdt")
    s = Session(model, SessionConfig(sample_rate=8000, max_duration_s=1.0))
    s.accept(np.zeros(6000, dtype=np.float32))
    with pytest.raises(StreamTooLongError, match="limit of 1 s"):
        s.accept(np.zeros(2001, dtype=np.float32))
    s.accept(np.zeros(2000, dtype=np.float32))  # exactly 1.0 s is allowed
    assert s.frontend.duration_s == 1.0


def test_audio_after_finish_or_close_is_refused():
    model = tiny_model("tdt")
    s = Session(model)
    s.finish()
    with pytest.raises(SessionClosedError):
        s.accept(np.zeros(10, dtype=np.float32))
    s.close()
    with pytest.raises(SessionClosedError):
        s.finish()


def test_settings_that_do_not_fit_are_named():
    model = tiny_model("tdt")
    with pytest.raises(SessionConfigError, match="hotwords need decoding='beam'"):
        SessionConfig(hotwords=("abc",))
    with pytest.raises(SessionConfigError, match="sample_rate"):
        SessionConfig(sample_rate=0)
    with pytest.raises(SessionConfigError, match="lookahead 3 out of range"):
        Session(model, SessionConfig(lookahead=3))
    with pytest.raises(SessionConfigError, match="training mode"):
        Session(model.train())
    with pytest.raises(SessionConfigError, match="cannot stream"):
        Session(tiny_model("tdt", causal=False))
    model.eval()
    model.tokenizer = None
    with pytest.raises(SessionConfigError, match="tokenizer"):
        Session(model)
