"""flite: every voice speaks, deterministically; stretch lengthens speech; bad requests raise clearly."""

import numpy as np
import pytest
from transduce.asr.data.espeak import SynthesisError
from transduce.asr.data.flite import FLITE_VOICES, flite, flite_available

pytestmark = pytest.mark.skipif(not flite_available(), reason="flite is not installed (make system-deps)")

TEXT = "the meeting is on march third at ten thirty"


def _voiced_seconds(x: np.ndarray, rate: int) -> float:
    frames = x[: len(x) // 160 * 160].astype(np.float64).reshape(-1, 160)
    loud = np.sqrt(np.mean(frames**2, axis=1)) > 0.02 * 32768
    return float(loud.sum()) * 160 / rate


@pytest.mark.parametrize("voice", FLITE_VOICES)
def test_every_voice_speaks_the_same_audio_each_time(voice: str) -> None:
    x, rate = flite(TEXT, voice)
    assert x.dtype == np.int16 and rate in (8000, 16000)
    assert 1.0 < len(x) / rate < 6.0 and int(np.abs(x).max()) > 1000
    y, _ = flite(TEXT, voice)
    np.testing.assert_array_equal(x, y)


def test_stretch_slows_speech() -> None:
    normal, rate = flite(TEXT, "rms")
    slow, _ = flite(TEXT, "rms", stretch=1.4)
    assert _voiced_seconds(slow, rate) / _voiced_seconds(normal, rate) == pytest.approx(1.4, rel=0.2)


def test_text_is_never_read_as_options() -> None:
    x, rate = flite("-voice kal hello", "slt")
    assert len(x) / rate > 0.5


def test_bad_requests_raise() -> None:
    with pytest.raises(SynthesisError, match="unknown flite voice"):
        flite(TEXT, "espeak")
    with pytest.raises(SynthesisError, match="stretch"):
        flite(TEXT, "slt", stretch=0.0)
