"""flite (CMU Flite, Debian package `flite`) as a subprocess: text in, 16-bit mono samples out.

A second synthesizer beside espeak-ng, with other voices built another way (diphone and unit
selection from recorded speakers): "kal" (8 kHz diphone), "kal16", "awb" (Scottish English), "rms"
and "slt" (US English), all 16 kHz. Speed is set through flite's feature override `--setf
duration_stretch=`; its pitch target only moves the diphone voices, so pitch is varied after
synthesis (asr.data.synth). Output for the same arguments is identical from run to run. N: samples.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave

import numpy as np
from transduce.asr.data.espeak import SynthesisError

__all__ = ["FLITE", "FLITE_VOICES", "flite_available", "flite"]

FLITE = "flite"
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")


def flite_available() -> bool:
    """Whether the flite executable is on PATH."""
    return shutil.which(FLITE) is not None


def flite(text: str, voice: str, stretch: float = 1.0, timeout: float = 60.0) -> tuple[np.ndarray, int]:
    """Speak `text` with flite `voice`: int16 samples (N,) and their sample rate.

    stretch: duration factor (> 1 speaks slower). Raises SynthesisError when flite is missing, the
    voice unknown, or synthesis fails.
    """
    if voice not in FLITE_VOICES:
        raise SynthesisError(f"unknown flite voice {voice!r}; expected one of {', '.join(FLITE_VOICES)}")
    if not flite_available():
        raise SynthesisError(f"{FLITE} is not installed (Debian/Ubuntu: apt-get install flite)")
    if not stretch > 0:
        raise SynthesisError(f"flite stretch must be > 0, got {stretch}")
    cmd = [FLITE, "-voice", voice, "--setf", f"duration_stretch={stretch:.3f}"]
    fd, path = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    try:
        # the text goes through a file: flite reads a file argument, and -t would take options from it
        with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as src:
            src.write(text)
            src.flush()
            done = subprocess.run(cmd + ["-f", src.name, "-o", path], capture_output=True,
                                  timeout=timeout, check=False)
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip()
            raise SynthesisError(f"{FLITE} -voice {voice} failed (exit {done.returncode}): {err}")
        with wave.open(path, "rb") as w:
            if (w.getnchannels(), w.getsampwidth()) != (1, 2):
                raise SynthesisError(f"flite WAV is not 16-bit mono: {w.getnchannels()} ch, "
                                     f"{8 * w.getsampwidth()} bit")
            return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy(), w.getframerate()
    except subprocess.TimeoutExpired:
        raise SynthesisError(f"{FLITE} took longer than {timeout} s for {text[:40]!r}") from None
    except (wave.Error, EOFError) as e:
        raise SynthesisError(f"flite returned audio that cannot be read: {e}") from None
    finally:
        os.unlink(path)
