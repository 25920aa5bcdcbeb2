"""asr.audio: decoding, typed errors, mixdown and resampling, checked against soundfile and spectra."""

import io

import numpy as np
import pytest
import soundfile as sf
from transduce.asr.audio import (
    SAMPLE_RATE,
    AudioDecodeError,
    AudioError,
    EmptyAudioError,
    NonFiniteAudioError,
    PCMFormatError,
    decode_pcm16,
    load_audio,
    resample,
    sample_path,
    sample_transcript,
    to_mono,
)


def _pcm16(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-32768, 32768, size=shape, dtype=np.int16)


# ---- typed errors -------------------------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere.wav"
    with pytest.raises(FileNotFoundError, match="nowhere.wav"):
        load_audio(path)


def test_text_file_renamed_wav_is_a_decode_error(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    with pytest.raises(AudioDecodeError, match="notes.wav") as info:
        load_audio(path)
    assert isinstance(info.value, ValueError) and isinstance(info.value, AudioError)


def test_bytes_that_are_not_audio():
    with pytest.raises(AudioDecodeError, match="cannot decode"):
        load_audio(b"\x00\x01garbage" * 100)


def test_empty_wav(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, dtype=np.int16), SAMPLE_RATE, subtype="PCM_16")
    with pytest.raises(EmptyAudioError, match="empty.wav"):
        load_audio(path)


def test_wav_with_nan(tmp_path):
    path = tmp_path / "nan.wav"
    x = np.zeros(1000, dtype=np.float32)
    x[10] = np.nan
    x[20] = np.inf
    sf.write(path, x, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(NonFiniteAudioError, match="2 of 1000"):
        load_audio(path)


def test_odd_pcm16_byte_count():
    with pytest.raises(PCMFormatError, match="odd number of bytes"):
        decode_pcm16(b"\x00" * 7, SAMPLE_RATE)


def test_pcm16_not_a_multiple_of_the_channels():
    with pytest.raises(PCMFormatError, match="2-channel"):
        decode_pcm16(b"\x00" * 6, SAMPLE_RATE, channels=2)
    with pytest.raises(PCMFormatError, match="channels"):
        decode_pcm16(b"\x00" * 4, SAMPLE_RATE, channels=0)


def test_bad_sample_rate():
    with pytest.raises(AudioError, match="sample_rate"):
        decode_pcm16(b"\x00\x00", 0)


def test_bad_array_shape_for_mono():
    with pytest.raises(AudioError, match=r"\(N, C\)"):
        to_mono(np.zeros((2, 3, 4)))


# ---- decoding -------------------------------------------------------------------------------------------


def test_stereo_is_mixed_down_to_mono(tmp_path):
    rng = np.random.default_rng(1)
    x = _pcm16(rng, (4000, 2))
    path = tmp_path / "stereo.wav"
    sf.write(path, x, SAMPLE_RATE, subtype="PCM_16")
    y = load_audio(path)
    expected = x.astype(np.float64).mean(axis=1) / 32768.0
    assert y.shape == (4000,) and y.dtype == np.float32
    np.testing.assert_allclose(y, expected, atol=1e-7)


@pytest.mark.parametrize("fmt,lossless", [("FLAC", True), ("OGG", False)])
def test_flac_and_ogg_round_trip(tmp_path, fmt, lossless):
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = tmp_path / f"tone.{fmt.lower()}"
    sf.write(path, x, SAMPLE_RATE, format=fmt)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.shape == x.shape
    if lossless:  # up to the 16-bit quantisation
        np.testing.assert_allclose(y, x, atol=1.0 / 32768)
    else:  # Vorbis is lossy: ask for a good SNR
        snr = 10 * np.log10(np.sum(x**2) / np.sum((y - x) ** 2))
        assert snr > 20, snr


def test_bytes_file_object_and_path_agree(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "a.wav"
    sf.write(path, _pcm16(rng, (3000,)), 8000, subtype="PCM_16")
    from_path = load_audio(path)
    from_bytes = load_audio(path.read_bytes())
    with open(path, "rb") as f:
        from_file = load_audio(f)
    np.testing.assert_array_equal(from_path, from_bytes)
    np.testing.assert_array_equal(from_path, from_file)
    assert len(from_path) == 6000


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_pcm16_bytes_equal_soundfile(channels):
    rng = np.random.default_rng(channels)
    x = _pcm16(rng, (2001, channels))
    buf = io.BytesIO()
    sf.write(buf, x, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    reference = sf.read(io.BytesIO(buf.getvalue()), dtype="float64", always_2d=True)[0].mean(axis=1)
    y = decode_pcm16(x.tobytes(), SAMPLE_RATE, channels=channels)
    assert y.shape == (2001,) and y.dtype == np.float32
    np.testing.assert_allclose(y, reference, atol=1e-7)
    np.testing.assert_array_equal(y, load_audio(buf.getvalue()))


def test_pcm16_extremes_and_empty():
    y = decode_pcm16(np.array([-32768, 0, 32767], dtype="<i2").tobytes(), SAMPLE_RATE)
    np.testing.assert_array_equal(y, np.array([-1.0, 0.0, 32767 / 32768], dtype=np.float32))
    assert decode_pcm16(b"", SAMPLE_RATE).shape == (0,)


# ---- resampling -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_resampled_tone_keeps_its_frequency(rate):
    t = np.arange(rate) / rate  # one second
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    y = resample(x, rate, SAMPLE_RATE)
    assert abs(len(y) - SAMPLE_RATE) <= 2, len(y)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(y)
    assert abs(peak_hz - 1000) <= SAMPLE_RATE / len(y), peak_hz


def test_load_audio_resamples_pcm_and_files(tmp_path):
    rng = np.random.default_rng(3)
    x = _pcm16(rng, (4410,))
    path = tmp_path / "cd.wav"
    sf.write(path, x, 44100, subtype="PCM_16")
    y = load_audio(path)
    assert abs(len(y) - 1600) <= 1 and np.abs(y).max() <= 1.0
    np.testing.assert_array_equal(y, decode_pcm16(x.tobytes(), 44100))
    assert len(load_audio(path, sample_rate=8000)) == pytest.approx(800, abs=1)


def test_to_mono_shapes():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.testing.assert_array_equal(to_mono(x), x.mean(axis=1))
    np.testing.assert_array_equal(to_mono(x[:, 0]), x[:, 0])
    np.testing.assert_array_equal(to_mono(x[:, :1]), x[:, 0])


def test_bundled_sample():
    audio = load_audio(sample_path())
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 4.5 < len(audio) / SAMPLE_RATE < 5.0
    assert 0.1 < np.abs(audio).max() <= 1.0
    assert sample_transcript().startswith("the weather today")
