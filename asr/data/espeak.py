"""espeak-ng as a subprocess: text in, 16-bit mono samples out.

The Debian package `espeak-ng` (installed by `make system-deps`) speaks at 22050 Hz. Voices name
an accent ("en-us", "en-gb-scotland"), variants a speaker timbre ("m3", "f2", "klatt"), joined as
"voice+variant". Output for the same arguments is byte-identical from run to run. N: samples.
"""

from __future__ import annotations

import shutil
import struct
import subprocess

import numpy as np

__all__ = ["ESPEAK", "SynthesisError", "espeak_available", "espeak"]

ESPEAK = "espeak-ng"


class SynthesisError(RuntimeError):
    """espeak-ng is missing, failed, or returned audio that cannot be read."""


def espeak_available() -> bool:
    """Whether the espeak-ng executable is on PATH."""
    return shutil.which(ESPEAK) is not None


def _parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """16-bit mono PCM samples (N,) and the rate of a RIFF/WAVE byte string (streamed size fields allowed)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SynthesisError(f"espeak-ng did not return a WAV stream ({len(data)} bytes)")
    pos, rate = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if chunk == b"fmt ":
            fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[pos + 8:pos + 24])
            if (fmt, channels, bits) != (1, 1, 16):
                raise SynthesisError(
                    f"espeak-ng WAV is not 16-bit mono PCM: format {fmt}, {channels} ch, {bits} bit")
        elif chunk == b"data":
            if rate is None:
                raise SynthesisError("espeak-ng WAV has no fmt chunk before its data")
            payload = data[pos + 8:]  # a streamed header holds a placeholder size: take the rest
            payload = payload[:len(payload) - len(payload) % 2]
            return np.frombuffer(payload, dtype="<i2").copy(), rate
        pos += 8 + size + (size & 1)
    raise SynthesisError("espeak-ng WAV has no data chunk")


def espeak(text: str, voice: str, variant: str | None = None, speed: int = 175, pitch: int = 50,
           word_gap: int = 0, timeout: float = 60.0) -> tuple[np.ndarray, int]:
    """Speak `text`: int16 samples (N,) and their sample rate (22050 for espeak-ng's own voices).

    speed: words per minute (-s); pitch: 0..99 (-p); word_gap: extra pause between words in units
    of 10 ms (-g). Raises SynthesisError when espeak-ng is missing or fails.
    """
    if not espeak_available():
        raise SynthesisError(f"{ESPEAK} is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
    name = f"{voice}+{variant}" if variant else voice
    cmd = [ESPEAK, "-v", name, "-s", str(int(speed)), "-p", str(int(pitch)), "-g", str(int(word_gap)),
           "-b", "1", "--stdout"]
    try:
        done = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise SynthesisError(f"{ESPEAK} took longer than {timeout} s for {text[:40]!r}") from None
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip()
        raise SynthesisError(f"{ESPEAK} -v {name} failed (exit {done.returncode}): {err}")
    return _parse_wav(done.stdout)
