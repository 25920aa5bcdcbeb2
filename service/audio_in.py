"""Audio bytes of a request: what they are, checked against what the config declares, read in blocks.

Encodings (RecognitionConfig.encoding):
  * LINEAR16 (or unspecified): raw little-endian PCM16 at sample_rate_hertz, maybe behind a WAV
    header whose rate, channels and sample format must agree with the config (`split_wav_header`);
  * WAV / FLAC (Recognize only): a container of that type; its header gives rate and channels.
Bytes that are plainly another container than declared (a FLAC, Ogg or WAV signature where raw PCM
or another container is declared) are refused with INVALID_ARGUMENT rather than read as noise.

A Recognize request's duration is known before anything is decoded (byte count or container header)
and checked against the server's limit; its audio is then decoded `BLOCK_S` at a time, so memory
per request does not grow with the recording.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import numpy as np
import soundfile as sf
from transduce.asr.audio import AudioDecodeError, decode_pcm16
from transduce.service.bounds import RequestBounds
from transduce.service.errors import RequestError
from transduce.service.protos import asr_pb2

__all__ = ["BLOCK_S", "RequestAudio", "check_not_container", "recognize_audio", "split_wav_header"]

BLOCK_S = 0.5
_SIGNATURES = {b"fLaC": "FLAC", b"OggS": "OGG", b"RIFF": "WAV"}
_CONTAINER_FORMATS = {asr_pb2.WAV: ("WAV", "WAVEX", "RF64"), asr_pb2.FLAC: ("FLAC",)}


@dataclass(frozen=True)
class RequestAudio:
    """The audio of a Recognize request: `blocks()` yields float32 samples (n,) or (n, C) at `rate`;
    duration_s: from the byte count or the container's header (a header can be wrong: the session's
    own duration limit still applies while the blocks are read)."""

    rate: int
    channels: int
    duration_s: float
    _data: bytes
    _container: bool

    def blocks(self) -> Iterator[np.ndarray]:
        """The samples, BLOCK_S seconds at a time (AudioDecodeError if the bytes break off)."""
        block = max(1, int(BLOCK_S * self.rate))
        if not self._container:
            step = block * 2 * self.channels
            for start in range(0, len(self._data), step):
                piece = self._data[start:start + step]
                yield decode_pcm16(piece, self.rate, self.channels, target_rate=self.rate)
            return
        try:
            with sf.SoundFile(io.BytesIO(self._data)) as f:
                yield from f.blocks(block, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioDecodeError(f"the {len(self._data)}-byte container broke off while decoding: "
                                   f"{e}") from e


def _signature(data: bytes) -> str | None:
    return _SIGNATURES.get(bytes(data[:4]))


def check_not_container(data: bytes) -> None:
    """RequestError when raw PCM16 was declared but `data` starts like a FLAC or Ogg container."""
    kind = _signature(data)
    if kind in ("FLAC", "OGG"):
        raise RequestError(f"the audio is a {kind} container but the config says LINEAR16 (raw PCM16); "
                           "StreamingRecognize takes LINEAR16, Recognize also WAV and FLAC")


def recognize_audio(request: asr_pb2.RecognizeRequest, bounds: RequestBounds, max_s: float) -> RequestAudio:
    """The checked audio of a Recognize request: format as declared, rate and channels within `bounds`,
    at most `max_s` seconds (OUT_OF_RANGE past it), all before decoding."""
    cfg, data = request.config, request.audio_content
    if cfg.encoding in _CONTAINER_FORMATS:
        audio = _container(data, cfg, bounds)
    else:
        check_not_container(data)
        channels = cfg.audio_channel_count or 1
        pcm = split_wav_header(data, cfg.sample_rate_hertz, channels)
        if len(pcm) % (2 * channels):
            raise RequestError(f"LINEAR16 audio of {len(pcm)} bytes is not whole 16-bit samples of "
                               f"{channels} channel(s)")
        if not pcm:
            raise RequestError("the request holds no audio")
        rate = cfg.sample_rate_hertz
        audio = RequestAudio(rate, channels, len(pcm) / (2 * channels * rate), pcm, False)
    if audio.duration_s > max_s:
        raise RequestError(f"the audio is {audio.duration_s:.1f} s long; this server takes at most "
                           f"{max_s:g} s per Recognize request (use StreamingRecognize for longer audio)",
                           grpc.StatusCode.OUT_OF_RANGE)
    return audio


def _container(data: bytes, cfg: asr_pb2.RecognitionConfig, bounds: RequestBounds) -> RequestAudio:
    declared = asr_pb2.AudioEncoding.Name(cfg.encoding)
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise RequestError(f"the audio is not a readable {declared} container ({len(data)} bytes): "
                           f"{e}") from None
    if info.format not in _CONTAINER_FORMATS[cfg.encoding]:
        raise RequestError(f"the audio is a {info.format} container but the config says encoding {declared}")
    bounds.check_rate(info.samplerate, f"the {declared} header's sample rate")
    if not 1 <= info.channels <= bounds.max_channels:
        raise RequestError(f"the {declared} header says {info.channels} channels; at most "
                           f"{bounds.max_channels} are taken")
    if cfg.sample_rate_hertz and cfg.sample_rate_hertz != info.samplerate:
        raise RequestError(f"the audio is {info.samplerate} Hz but the config says sample_rate_hertz="
                           f"{cfg.sample_rate_hertz}")
    return RequestAudio(info.samplerate, info.channels, info.frames / info.samplerate, data, True)


def split_wav_header(data: bytes, rate: int, channels: int) -> bytes:
    """The PCM16 payload of `data` when it starts with a WAV header, else `data` itself.

    A header that disagrees with the config (sample rate, channels, not 16-bit PCM) or cannot be
    parsed raises RequestError: the audio would be decoded wrongly otherwise.
    """
    if not data.startswith(b"RIFF"):
        return data
    if len(data) < 12 or data[8:12] != b"WAVE":
        raise RequestError("audio starts with RIFF but is not a WAV header (garbage bytes?)")
    pos = 12
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if tag == b"fmt ":
            if size < 16 or pos + 24 > len(data):
                raise RequestError("WAV header: truncated fmt chunk")
            fmt, ch, sr, _, _, bits = struct.unpack("<HHIIHH", data[pos + 8:pos + 24])
            if fmt != 1 or bits != 16:
                raise RequestError(f"WAV header: LINEAR16 needs 16-bit PCM, got format {fmt}, {bits} bits")
            if sr != rate or ch != channels:
                raise RequestError(f"WAV header says {sr} Hz, {ch} channel(s) but the config says "
                                   f"sample_rate_hertz={rate}, {channels} channel(s)")
        elif tag == b"data":
            return data[pos + 8:]
        pos += 8 + size + (size & 1)
    raise RequestError("WAV header without a data chunk in the first audio message")
