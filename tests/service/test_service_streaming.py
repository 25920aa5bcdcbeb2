"""A real server on 127.0.0.1: streamed and unary transcripts equal offline decoding; interim results
arrive while audio is still being sent; ListModels, health checking and reflection answer."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_helpers import (
    audio_requests,
    live_server,
    load,
    offline_result,
    offline_text,
    pcm16,
    speechlike,
    stream_call,
    stream_in_two_halves,
    streaming_config,
    tiny_model_dir,
    wav_bytes,
)
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from transduce.service.protos import asr_pb2
from transduce.streaming import SchedulerConfig


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load(tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny"))


async def _stream(stub, requests, pause_s=0.0, sent=None):
    """Responses of one StreamingRecognize call, each with how many audio messages had been sent."""
    return [(resp, n) async for resp, n in stream_call(stub, requests, pause_s, sent)]


def _finals(responses):
    return [res for resp, _ in responses for res in resp.results if res.is_final]


@pytest.mark.parametrize("seed,lookahead", [(1, 0), (2, 1)])
def test_streamed_wav_gives_the_offline_transcript_and_early_interims(model, seed, lookahead):
    audio = speechlike(2.0, seed=seed)
    wav = wav_bytes(audio)
    oracle = offline_result(model, wav, lookahead)
    expected = oracle.text
    assert expected, "the oracle should decode something (the tiny model emits plenty)"

    async def main():
        async with live_server({"tiny": model}) as (_server, stub, _):
            models = await stub.ListModels(asr_pb2.ListModelsRequest())
            la_ms = list(models.models[0].lookahead_ms)
            first = streaming_config(lookahead_ms=la_ms[lookahead] if lookahead else None)
            # the first audio message is the WAV file itself (header + data): the header is checked, dropped
            requests = [first] + audio_requests(wav, chunk=3200)
            return await stream_in_two_halves(stub, requests)

    responses, early = asyncio.run(main())
    # an interim came back while the second half of the audio was still unsent
    assert early == 1 and not responses[0].results[0].is_final
    responses = [(r, None) for r in responses]
    finals = _finals(responses)
    assert len(finals) == 1 and finals[0].utterance_index == 0
    assert finals[0].alternatives[0].transcript == expected
    interims = [res for resp, _ in responses for res in resp.results if not res.is_final]
    assert all(0.0 <= res.stability <= 1.0 for res in interims)
    ends = [res.result_end_ms for resp, _ in responses for res in resp.results]
    assert ends == sorted(ends) and ends[-1] <= 2000 + 200
    words = finals[0].alternatives[0].words
    assert [w.word for w in words] == [w.text for w in oracle.words]
    assert [(w.start_ms, w.end_ms) for w in words] == [(round(w.start_s * 1000), round(w.end_s * 1000))
                                                       for w in oracle.words]
    assert all(0 <= w.start_ms <= w.end_ms and w.start_ms <= finals[0].result_end_ms for w in words)
    assert all(0.0 < w.confidence <= 1.0 for w in words)


def test_recognize_wav_and_linear16_give_the_offline_transcript(model):
    audio = speechlike(1.5, seed=5)
    wav = wav_bytes(audio)
    expected = offline_text(model, wav)
    off = asr_pb2.EndpointingConfig(trailing_silence_after_speech_ms=-1, trailing_silence_no_speech_ms=-1,
                                    max_utterance_ms=-1)

    async def main():
        async with live_server({"tiny": model}) as (_server, stub, _):
            by_wav = await stub.Recognize(asr_pb2.RecognizeRequest(
                config=asr_pb2.RecognitionConfig(encoding=asr_pb2.WAV, endpointing=off), audio_content=wav))
            by_pcm = await stub.Recognize(asr_pb2.RecognizeRequest(
                config=asr_pb2.RecognitionConfig(encoding=asr_pb2.LINEAR16, sample_rate_hertz=16000,
                                                 endpointing=off), audio_content=pcm16(audio)))
            return by_wav, by_pcm

    by_wav, by_pcm = asyncio.run(main())
    for response in (by_wav, by_pcm):
        assert [r.alternatives[0].transcript for r in response.results] == [expected]
        assert all(r.is_final for r in response.results)
        assert response.audio_duration_ms == 1500


def test_list_models_health_and_reflection(model):
    async def main():
        async with live_server({"tiny": model, "second": model}) as (_server, stub, channel):
            models = await stub.ListModels(asr_pb2.ListModelsRequest())
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="transduce.asr.v1.Recognizer"))

            async def ask():
                yield reflection_pb2.ServerReflectionRequest(list_services="")

            reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
            refl = [r async for r in reflect.ServerReflectionInfo(ask())]
            return models, health, refl

    models, health, refl = asyncio.run(main())
    assert [m.name for m in models.models] == ["tiny", "second"] and models.default_model == "tiny"
    frame_ms = model.frame_shift_s * 1000
    assert list(models.models[0].lookahead_ms) == [round(r * frame_ms) for _, r in model.encoder.contexts]
    assert models.models[0].sample_rate_hertz == 16000
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    names = {s.name for s in refl[0].list_services_response.service}
    assert {"transduce.asr.v1.Recognizer", "grpc.health.v1.Health"} <= names


def test_unknown_model_is_not_found_and_names_the_models(model):
    async def main():
        async with live_server({"tiny": model}) as (_server, stub, _):
            with pytest.raises(grpc.aio.AioRpcError) as streamed:
                await _stream(stub, [streaming_config(model="nope")] + audio_requests(b"\0\0" * 100))
            with pytest.raises(grpc.aio.AioRpcError) as unary:
                await stub.Recognize(asr_pb2.RecognizeRequest(
                    config=asr_pb2.RecognitionConfig(model="nope", sample_rate_hertz=16000),
                    audio_content=b"\0\0" * 100))
            return streamed.value, unary.value

    for error in asyncio.run(main()):
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert "nope" in error.details() and "tiny" in error.details()


def test_concurrent_streams_are_batched_and_each_gets_its_offline_transcript(model):
    audios = [speechlike(0.6 + 0.2 * i, seed=40 + i) for i in range(6)]
    expected = [offline_text(model, wav_bytes(a), i % 2) for i, a in enumerate(audios)]

    async def main():
        batching = SchedulerConfig(max_wait_ms=50)
        async with live_server({"tiny": model}, scheduler=batching) as (server, stub, _):
            la_ms = list((await stub.ListModels(asr_pb2.ListModelsRequest())).models[0].lookahead_ms)
            calls = [_stream(stub, [streaming_config(lookahead_ms=la_ms[i % 2], interim_results=i % 3 == 0)]
                             + audio_requests(pcm16(a))) for i, a in enumerate(audios)]
            results = await asyncio.gather(*calls)
            return results, server.engine.schedulers["tiny"].stats

    results, stats = asyncio.run(main())
    assert [[f.alternatives[0].transcript for f in _finals(r)] for r in results] == [[e] for e in expected]
    assert stats.max_batch_seen >= 2  # streams of different calls shared model steps
