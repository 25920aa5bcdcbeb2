"""The bundled demo model over a live server: real speech, real endpointing, the same layer as offline.

Oracles: `Recognizer.transcribe` of the same audio with the same settings (the Python API, itself
checked against an independent offline decoder in tests/streaming), the reference texts of the
recordings (for word error bounds that any working model meets), and where the speech lies in the
audio we assembled (for word times). Skipped only while no demo model is bundled.
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest
from grpc_helpers import audio_requests, live_server, stream_call, stream_in_two_halves, streaming_config
from transduce.asr.audio import load_audio
from transduce.asr.checkpoint import bundled_models
from transduce.asr.data.espeak import espeak_available
from transduce.asr.data.manifest import ManifestEntry
from transduce.asr.data.synth import UtteranceSpec, render
from transduce.asr.metrics import wer
from transduce.service.protos import asr_pb2
from transduce.streaming import Recognizer
from transduce.streaming.evaluation import EvalConfig, evaluate

from transduce import asr

pytestmark = pytest.mark.skipif("demo" not in bundled_models(), reason="no demo model is bundled")
SAMPLE = Path(asr.__file__).parent / "assets" / "sample.wav"
REFERENCE = (Path(asr.__file__).parent / "assets" / "sample.txt").read_text().strip()
ENDPOINT = asr_pb2.EndpointingConfig(trailing_silence_after_speech_ms=600, trailing_silence_no_speech_ms=3000,
                                     max_utterance_ms=20000)


@pytest.fixture(scope="module")
def demo():
    return asr.load_model("demo")


def _pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).round().astype("<i2").tobytes()


def _finals(responses):
    return [(resp, r) for resp in responses for r in resp.results if r.is_final]


def test_streamed_sample_equals_offline_and_interims_come_before_the_audio_ends(demo):
    audio = load_audio(SAMPLE, 16000)
    offline = Recognizer(demo).transcribe(audio)[0]
    assert wer([REFERENCE], [offline.text]) <= 0.25, offline.text  # the model works
    requests = [streaming_config()] + audio_requests(_pcm(audio), chunk=3200)

    async def go():
        async with live_server({"demo": demo}) as (_server, stub, _):
            return await stream_in_two_halves(stub, requests)

    responses, early = asyncio.run(go())
    assert early == 1 and not responses[0].results[0].is_final  # an interim while half the audio is unsent
    finals = _finals(responses)
    assert len(finals) == 1
    alt = finals[0][1].alternatives[0]
    assert alt.transcript == offline.text
    assert [(w.word, w.start_ms, w.end_ms) for w in alt.words] == \
           [(w.text, round(w.start_s * 1000), round(w.end_s * 1000)) for w in offline.words]


def _spoken(text: str, index: int) -> np.ndarray:
    spec = UtteranceSpec("test", index, "test", text, "en-gb-x-gbcwmd", "m3", speed=160, pitch=50, word_gap=0,
                         lead_s=0.0, trail_s=0.0, peak_dbfs=-3.0)
    return render(spec).astype(np.float32) / 32768.0


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_two_spoken_utterances_give_two_finals_with_word_times_inside_them(demo):
    texts = ("please call your mother this evening", "the train leaves at half past nine")
    first, second = (_spoken(t, i) for i, t in enumerate(texts))
    gap, lead = np.zeros(int(1.6 * 16000), np.float32), np.zeros(int(0.3 * 16000), np.float32)
    audio = np.concatenate([lead, first, gap, second, lead])
    spans_ms = [(300, 300 + len(first) / 16), (300 + (len(first) + len(gap)) / 16,
                                               300 + (len(first) + len(gap) + len(second)) / 16)]
    requests = [streaming_config(endpointing=ENDPOINT)] + audio_requests(_pcm(audio))

    async def go():
        async with live_server({"demo": demo}) as (_server, stub, _):
            return [r async for r, _ in stream_call(stub, requests)]

    finals = _finals(asyncio.run(go()))
    assert [r.utterance_index for _, r in finals] == [0, 1], [r.alternatives[0].transcript for _, r in finals]
    assert finals[0][0].speech_event_type == asr_pb2.END_OF_UTTERANCE  # closed by the silence
    slack_ms = 300  # look-ahead, the encoder's receptive field, word boundaries inside 80 ms frames
    for (_, r), text, (start, end) in zip(finals, texts, spans_ms):
        alt = r.alternatives[0]
        assert wer([text], [alt.transcript]) <= 0.5, (text, alt.transcript)
        assert start - slack_ms <= alt.words[0].start_ms and alt.words[-1].end_ms <= end + slack_ms
        assert all(w.start_ms <= w.end_ms for w in alt.words)


def test_cli_python_api_evaluate_and_service_finals_agree_on_files(demo, tmp_path):
    """transduce transcribe rows == Recognizer.transcribe == evaluate's streaming and offline transcripts
    (what validation and the model card measure) == the gRPC finals (endpointing off)."""
    from transduce.cli import main as cli_main

    sample = load_audio(SAMPLE, 16000)
    paths = []
    for i, (a, b) in enumerate(((0.0, 1.0), (0.0, 0.55), (0.4, 1.0))):
        path = tmp_path / f"{i}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(_pcm(sample[int(a * len(sample)):int(b * len(sample))]))
        paths.append(path)
    api = [t.text for t in Recognizer(demo).transcribe(paths, batch_size=2)]
    out = tmp_path / "out.txt"
    assert cli_main(["transcribe", *map(str, paths), "--model", "demo", "--out", str(out),
                     "--output-format", "txt", "--no-progress"]) == 0
    cli = dict(line.split("\t", 1) for line in out.read_text().splitlines())
    assert [cli[str(p)] for p in paths] == api
    entries = [ManifestEntry(str(p), wave.open(str(p)).getnframes() / 16000, REFERENCE) for p in paths]
    recognizer = Recognizer(demo)
    evaluated = evaluate(demo, entries, EvalConfig(lookaheads_ms=(recognizer.lookahead_ms,), batch_size=2))
    la = evaluated.lookaheads[0]
    assert list(la.offline.hypotheses) == api and list(la.streaming.hypotheses) == api

    async def go():
        async with live_server({"demo": demo}) as (_server, stub, _):
            texts = []
            for p in paths:
                requests = [streaming_config(interim_results=False)] + audio_requests(p.read_bytes()[44:])
                finals = _finals([r async for r, _ in stream_call(stub, requests)])
                texts.append(" ".join(r.alternatives[0].transcript for _, r in finals))
            return texts

    assert asyncio.run(go()) == api
    assert sum(len(t) for t in api) > 40
