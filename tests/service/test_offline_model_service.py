"""A model that cannot stream (a NeMo full-context TDT with per-utterance feature normalisation, made by
NeMo 3.0: tests/fixtures/nemo) is served all the same: the server starts (with its warm-up),
Recognize transcribes whole recordings exactly as NeMo does, a stream is refused with a clear status,
ListModels says so."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import torch
from grpc_helpers import audio_requests, live_server, pcm16, stream_call, streaming_config, wav_bytes
from transduce.service.protos import asr_pb2

from transduce import load_model

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nemo" / "models" / "tdt"


def test_a_full_context_model_serves_recognize_and_refuses_streams():
    model = load_model(f"{FIXTURE}.nemo")
    record = torch.load(f"{FIXTURE}.pt", weights_only=True)
    audio = record["audio"]["sample_2s"].numpy()

    async def go():
        async with live_server({"tdt": model}, warm_up=True) as (_server, stub, _):
            models = await stub.ListModels(asr_pb2.ListModelsRequest())
            config = asr_pb2.RecognitionConfig(encoding=asr_pb2.WAV, enable_word_time_offsets=True)
            request = asr_pb2.RecognizeRequest(config=config, audio_content=wav_bytes(audio))
            unary = await stub.Recognize(request)
            try:
                async for _ in stream_call(stub, [streaming_config()] + audio_requests(pcm16(audio))):
                    pass
                refused = None
            except grpc.aio.AioRpcError as e:
                refused = (e.code(), e.details())
            return models, unary, refused

    models, unary, refused = asyncio.run(go())
    assert list(models.models[0].lookahead_ms) == [] and "cannot stream" in models.models[0].description
    (result,) = unary.results
    assert result.is_final and result.alternatives[0].transcript == record["greedy"]["sample_2s"]["-1,-1"][
        "rnnt"]["greedy"]["text"].strip()
    assert result.alternatives[0].words and unary.audio_duration_ms == 2000
    assert refused is not None and refused[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot stream" in refused[1]
