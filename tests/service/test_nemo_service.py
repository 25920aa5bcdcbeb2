"""An imported NeMo model served over gRPC: ListModels reports its look-aheads in ms and a stream's
final is NeMo's own cache-aware streaming transcript (tests/fixtures/nemo, made by NeMo 3.0)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import torch
from grpc_helpers import audio_requests, live_server, stream_call, streaming_config
from transduce.service.protos import asr_pb2

from transduce import load_model

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nemo" / "models" / "hybrid_cache_aware"


def _pcm(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).round().astype("<i2").tobytes()


def test_served_nemo_model_streams_nemo_transcripts():
    model = load_model(f"{FIXTURE}.nemo")
    record = torch.load(f"{FIXTURE}.pt", weights_only=True)
    audio = record["audio"]["sample_2s"].numpy()
    pcm = _pcm(audio)
    shift_ms = 80  # 10 ms features x 8 subsampling
    expected_ms = [right * shift_ms for _, right in record["att_context_sizes"]]

    async def go():
        async with live_server({"fastconformer": model}) as (_server, stub, _):
            models = await stub.ListModels(asr_pb2.ListModelsRequest())
            finals = {}
            for ms, (left, right) in zip(expected_ms, record["att_context_sizes"]):
                requests = [streaming_config(lookahead_ms=ms, interim_results=False)] + audio_requests(pcm)
                finals[f"{left},{right}"] = [r for resp, _ in [x async for x in stream_call(stub, requests)]
                                            for r in resp.results if r.is_final]
            return models, finals

    models, finals = asyncio.run(go())
    assert list(models.models[0].lookahead_ms) == expected_ms
    for key, results in finals.items():
        (final,) = results
        # sent as PCM16: its rounding leaves the transcript of this audio as NeMo made it from floats
        assert final.alternatives[0].transcript == record["stream"]["sample_2s"][key]["rnnt"]["text"].strip()
