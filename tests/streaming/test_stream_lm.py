"""Language-model rescoring of finals and transcripts (streaming.lm) on the demo model and real audio:
weight 0 changes nothing, the chosen alternative is the best fused score computed independently,
a stream's final still equals the transcript, per-stream weights, clear errors for bad LMs."""

from pathlib import Path

import pytest
import torch
from stream_helpers import taught_lm
from transduce.asr.audio import load_audio
from transduce.asr.checkpoint import save_model
from transduce.asr.text.models import TextLM
from transduce.streaming import EndpointConfig, Recognizer
from transduce.streaming.errors import SessionConfigError
from transduce.streaming.lm import load_lm

from transduce import asr

SAMPLE = Path(asr.__file__).parent / "assets" / "sample.wav"
pytestmark = pytest.mark.skipif("demo" not in asr.checkpoint.bundled_models(), reason="no bundled demo model")


@pytest.fixture(scope="module")
def audio():
    return load_audio(SAMPLE, 16000)


@pytest.fixture(scope="module")
def plain(audio):
    """The beam transcript without an LM (its n-best are the alternatives the LM re-ranks)."""
    return Recognizer.load("demo", decoding="beam", beam_size=4).transcribe([audio])[0]


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory, plain) -> Path:
    """A small TextLM (its own BPE tokenizer: any LM fits any model) taught the acoustics' second
    choice, saved as a checkpoint."""
    lm = taught_lm([a.text for a in plain.alternatives], plain.alternatives[1].text)
    out = tmp_path_factory.mktemp("lm") / "lm"
    save_model(lm, out)
    return out


def _fused(lm: TextLM, alt, weight: float, bonus: float) -> float:
    ids = lm.tokenizer.encode(alt.text)
    with torch.no_grad():
        logp = float(lm.score(torch.tensor([ids or [0]]), torch.tensor([len(ids)])))
    return alt.score + weight * logp + bonus * len(alt.text.split())


def test_weight_zero_changes_nothing(lm_dir, audio, plain) -> None:
    zero = Recognizer.load("demo", decoding="beam", beam_size=4, lm=lm_dir, lm_weight=0.0)
    zero = zero.transcribe([audio])[0]
    assert len(plain.alternatives) > 1
    assert (zero.text, zero.tokens) == (plain.text, plain.tokens)
    assert [a.text for a in zero.alternatives] == [a.text for a in plain.alternatives]


def test_the_best_fused_alternative_wins(lm_dir, audio, plain) -> None:
    weight, bonus = 0.2, 0.5
    r = Recognizer.load("demo", decoding="beam", beam_size=4, lm=lm_dir, lm_weight=weight, length_bonus=bonus)
    fused = r.transcribe([audio])[0]
    lm = load_lm(lm_dir)
    expected = sorted(plain.alternatives, key=lambda a: _fused(lm, a, weight, bonus), reverse=True)
    assert [a.text for a in fused.alternatives] == [a.text for a in expected]
    assert fused.text == expected[0].text and fused.words == tuple(expected[0].words)
    assert [a.score for a in fused.alternatives] == pytest.approx(
        [_fused(lm, a, weight, bonus) for a in expected], abs=1e-4)
    # with a weight large enough the LM alone decides: its likeliest text wins, not the acoustic best
    ruled = Recognizer.load("demo", decoding="beam", beam_size=4, lm=lm_dir, lm_weight=1000.0)
    likeliest = max(plain.alternatives, key=lambda a: _fused(lm, a, 1.0, 0.0) - a.score)
    assert likeliest.text == plain.alternatives[1].text != plain.text
    assert ruled.transcribe([audio])[0].text == likeliest.text


def test_a_streams_final_equals_the_transcript_and_weights_are_per_stream(lm_dir, audio) -> None:
    r = Recognizer.load("demo", decoding="beam", beam_size=4, lm=lm_dir, lm_weight=1000.0)
    transcript = r.transcribe([audio])[0]
    assert transcript.text != Recognizer.load("demo", decoding="beam").transcribe([audio])[0].text
    for weight, expected in ((None, transcript.text),
                             (0.0, Recognizer.load("demo", decoding="beam").transcribe([audio])[0].text)):
        with r.stream(endpoint=EndpointConfig(enabled=False), lm_weight=weight) as s:
            results = []
            for start in range(0, len(audio), 4000):
                results += s.feed(audio[start: start + 4000])
            results += s.finish()
        finals = [x for x in results if x.is_final]
        assert [f.text for f in finals] == [expected]


def test_bad_language_models_are_refused(tmp_path) -> None:
    with pytest.raises(SessionConfigError, match="no bundled language model"):
        Recognizer.load("demo", lm=True)
    with pytest.raises(SessionConfigError, match="not a TextLM"):
        load_lm("demo")
    with pytest.raises(SessionConfigError, match="lm_weight"):
        Recognizer.load("demo", lm_weight=-1.0)
