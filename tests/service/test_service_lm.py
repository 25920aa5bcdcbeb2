"""Language-model rescoring over a live server (demo model, real speech): per-request lm_weight on
Recognize and StreamingRecognize, the server default, 0 turning it off, finals equal the Python API's,
bad weights INVALID_ARGUMENT, a weight for a model without an LM FAILED_PRECONDITION while a
concurrent stream finishes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_helpers import audio_requests, live_server, stream_call, streaming_config
from stream_helpers import taught_lm
from transduce.asr.audio import load_audio
from transduce.asr.checkpoint import bundled_models
from transduce.service.protos import asr_pb2
from transduce.streaming import Recognizer, RecognizerConfig

from transduce import asr

pytestmark = pytest.mark.skipif("demo" not in bundled_models(), reason="no demo model is bundled")
SAMPLE = Path(asr.__file__).parent / "assets" / "sample.wav"


@pytest.fixture(scope="module")
def demo():
    return asr.load_model("demo")


@pytest.fixture(scope="module")
def audio():
    return load_audio(SAMPLE, 16000)


@pytest.fixture(scope="module")
def plain(demo, audio):
    return Recognizer(demo, RecognizerConfig("beam", 4)).transcribe([audio])[0]


@pytest.fixture(scope="module")
def lm(plain):
    """An LM taught the acoustics' second choice: with a large weight it wins."""
    return taught_lm([a.text for a in plain.alternatives], plain.alternatives[1].text)


def _pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).round().astype("<i2").tobytes()


def _config(**kw) -> asr_pb2.RecognitionConfig:
    return asr_pb2.RecognitionConfig(encoding=asr_pb2.LINEAR16, sample_rate_hertz=16000,
                                     decoding_method=asr_pb2.BEAM, beam_size=4, **kw)


async def _recognize(stub, audio, **kw) -> str:
    response = await stub.Recognize(asr_pb2.RecognizeRequest(config=_config(**kw), audio_content=_pcm(audio)))
    return " ".join(r.alternatives[0].transcript for r in response.results)


async def _streamed(stub, audio, **kw) -> str:
    first = streaming_config(decoding_method=asr_pb2.BEAM, beam_size=4, **kw)
    requests = [first] + audio_requests(_pcm(audio))
    finals = [r.alternatives[0].transcript async for resp, _ in stream_call(stub, requests)
              for r in resp.results if r.is_final]
    return " ".join(finals)


def test_weights_per_request_and_the_server_default(demo, audio, plain, lm) -> None:
    python_api = Recognizer.load("demo", decoding="beam", beam_size=4, lm=lm, lm_weight=1000.0)
    rescored = python_api.transcribe([audio])[0].text
    assert rescored == plain.alternatives[1].text != plain.text

    async def go():
        async with live_server({"demo": demo}, lms={"demo": lm}, lm_weight=10.0) as (_s, stub, _):
            listed = await stub.ListModels(asr_pb2.ListModelsRequest())
            assert "language model" in next(m for m in listed.models if m.name == "demo").description
            weights = ({"lm_weight": 10.0}, {}, {"lm_weight": 0.0})  # {}: the server's default, 10
            recognized = [await _recognize(stub, audio, **kw) for kw in weights]
            streamed = [await _streamed(stub, audio, lm_weight=w) for w in (10.0, 0.0)]
            return (*recognized, *streamed)

    chosen, default, off, streamed, streamed_off = asyncio.run(go())
    expected = Recognizer.load("demo", decoding="beam", beam_size=4, lm=lm, lm_weight=10.0)
    expected = expected.transcribe([audio])[0].text
    assert chosen == default == streamed == expected != plain.text
    assert off == streamed_off == plain.text


def test_bad_weights_are_refused_while_another_stream_finishes(demo, audio, plain, lm) -> None:
    async def go():
        async with live_server({"demo": demo}) as (_s, stub, _):
            listed = await stub.ListModels(asr_pb2.ListModelsRequest())
            assert "language model" not in listed.models[0].description
            healthy = asyncio.ensure_future(_streamed(stub, audio))
            codes = []
            for weight in (-1.0, 11.0, float("nan"), 0.5):
                try:
                    await _recognize(stub, audio[:16000], lm_weight=weight)
                    codes.append(None)
                except grpc.aio.AioRpcError as e:
                    codes.append((e.code(), e.details()))
            return codes, await healthy

    codes, healthy = asyncio.run(go())
    invalid, precondition = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION
    assert [c[0] for c in codes] == [invalid] * 3 + [precondition]
    assert all("lm_weight" in c[1] for c in codes)
    assert healthy == Recognizer.load("demo").transcribe([audio])[0].text
