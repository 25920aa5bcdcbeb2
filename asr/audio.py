"""Audio input: decode WAV/FLAC/OGG files or raw PCM16 bytes into mono float32 at 16 kHz.

Everything downstream (features, models, the service) assumes the output of this module:
a 1-D float32 array in [-1, 1] at `SAMPLE_RATE`. Bad input raises a typed `AudioError`.
N: samples, C: channels.
"""

from __future__ import annotations

import errno
import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

__all__ = [
    "SAMPLE_RATE",
    "AudioError",
    "AudioDecodeError",
    "EmptyAudioError",
    "NonFiniteAudioError",
    "PCMFormatError",
    "load_audio",
    "decode_pcm16",
    "to_mono",
    "resample",
    "sample_path",
    "sample_transcript",
]

SAMPLE_RATE = 16000
_ASSETS = Path(__file__).resolve().parent / "assets"


class AudioError(ValueError):
    """Audio input that cannot be turned into samples."""


class AudioDecodeError(AudioError):
    """The file or bytes are not a readable audio container."""


class EmptyAudioError(AudioError):
    """The audio holds no samples."""


class NonFiniteAudioError(AudioError):
    """The audio holds NaN or infinite samples."""


class PCMFormatError(AudioError):
    """Raw PCM bytes do not fit the declared sample format or channel count."""


def _check_rate(name: str, rate: int) -> None:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise AudioError(f"{name} must be a positive integer (Hz), got {rate!r}")


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average the channels of `x` (N, C) into (N,); a 1-D `x` (N,) is returned unchanged."""
    x = np.asarray(x)
    if x.ndim == 1:
        return x
    if x.ndim != 2 or x.shape[1] < 1:
        raise AudioError(f"expected audio of shape (N,) or (N, C) with C >= 1, got {x.shape}")
    if x.shape[1] == 1:
        return x[:, 0]
    return x.mean(axis=1, dtype=np.float64).astype(x.dtype if x.dtype.kind == "f" else np.float32)


def resample(x: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample `x` (N,) or (N, C) from `orig_rate` to `target_rate` Hz with soxr 'HQ'."""
    _check_rate("orig_rate", orig_rate)
    _check_rate("target_rate", target_rate)
    if orig_rate == target_rate or len(x) == 0:
        return x
    return soxr.resample(x, int(orig_rate), int(target_rate), quality="HQ")


def _finish(x: np.ndarray, rate: int, target_rate: int, what: str) -> np.ndarray:
    """Shared tail of the decoders: checks, mono mixdown, resampling, float32 in [-1, 1]."""
    if x.size == 0:
        raise EmptyAudioError(f"{what}: no audio samples")
    if not np.isfinite(x).all():
        bad = int(x.size - np.isfinite(x).sum())
        raise NonFiniteAudioError(f"{what}: {bad} of {x.size} samples are NaN or infinite")
    y = resample(to_mono(x).astype(np.float32, copy=False), rate, target_rate)
    return np.clip(y, -1.0, 1.0).astype(np.float32, copy=False)


def _describe(source: object) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    return str(getattr(source, "name", "<file object>"))


def load_audio(source: str | Path | bytes | BinaryIO, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode a WAV/FLAC/OGG file, container bytes or binary file object to mono float32 (N,).

    The result is mixed down to mono, resampled to `sample_rate` with soxr and clipped to [-1, 1].
    Raises FileNotFoundError, AudioDecodeError, EmptyAudioError or NonFiniteAudioError.
    """
    _check_rate("sample_rate", sample_rate)
    what = _describe(source)
    if isinstance(source, (str, Path)):
        if not Path(source).exists():
            raise FileNotFoundError(errno.ENOENT, "no such audio file", str(source))
        if Path(source).is_dir():
            raise AudioDecodeError(f"{what}: is a directory, not an audio file")
        handle: object = str(source)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        handle = io.BytesIO(bytes(source))
    else:
        handle = source
    try:
        data, rate = sf.read(handle, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioDecodeError(f"{what}: cannot decode as audio (WAV/FLAC/OGG): {e}") from e
    return _finish(data, rate, sample_rate, what)


def decode_pcm16(
    data: bytes, sample_rate: int, channels: int = 1, target_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Decode raw little-endian signed 16-bit PCM (interleaved when `channels` > 1) to mono float32 (N,).

    Empty `data` gives an empty array (a stream may send an empty chunk); the result is resampled
    from `sample_rate` to `target_rate`. Raises PCMFormatError when the byte count does not fit.
    """
    _check_rate("sample_rate", sample_rate)
    _check_rate("target_rate", target_rate)
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
        raise PCMFormatError(f"channels must be a positive integer, got {channels!r}")
    n = len(data)
    if n % 2:
        raise PCMFormatError(f"PCM16 data has an odd number of bytes ({n}); each sample takes 2 bytes")
    if n % (2 * channels):
        raise PCMFormatError(
            f"PCM16 data of {n} bytes ({n // 2} samples) is not a whole number of "
            f"{channels}-channel frames"
        )
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    x = np.frombuffer(bytes(data), dtype="<i2").astype(np.float32) / 32768.0
    return _finish(x.reshape(-1, channels), sample_rate, target_rate, "PCM16 data")


def sample_path() -> Path:
    """Path of the bundled sample recording (16 kHz mono PCM16, espeak-ng)."""
    return _ASSETS / "sample.wav"


def sample_transcript() -> str:
    """Transcript of the bundled sample recording."""
    return (_ASSETS / "sample.txt").read_text(encoding="utf-8").strip()
