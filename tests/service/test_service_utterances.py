"""Utterances over the service: two bursts of sound separated by silence give two finals with word times
inside their bursts (a model that emits "a" on sound and blank on silence is the oracle);
single_utterance stops after the first final; the n-best list equals offline beam search."""

from __future__ import annotations

import asyncio

import numpy as np
import torch
from grpc_helpers import (
    audio_requests,
    live_server,
    offline_hypotheses_nbest,
    pcm16,
    speechlike,
    stream_call,
    streaming_config,
    wav_bytes,
)
from stream_helpers import forced_blank_model, silence, tiny_model
from transduce.service.protos import asr_pb2

ENDPOINT = asr_pb2.EndpointingConfig(trailing_silence_after_speech_ms=500, trailing_silence_no_speech_ms=1200,
                                     max_utterance_ms=20000)
BURSTS = ((0.4, 1.4), (2.9, 3.9))  # seconds of sound; silence elsewhere, 5 s in all


def _two_bursts() -> np.ndarray:
    (a0, a1), (b0, b1) = BURSTS
    return np.concatenate([silence(a0), speechlike(a1 - a0, seed=21) + 0.3, silence(b0 - a1),
                           speechlike(b1 - b0, seed=22) + 0.3, silence(5.0 - b1)]).clip(-1, 1)


async def _responses(model, requests):
    async with live_server({"blank": model}) as (_server, stub, _):
        return [r async for r, _ in stream_call(stub, requests)]


def test_two_utterances_give_two_finals_with_word_times_in_their_bursts():
    torch.manual_seed(0)
    model = forced_blank_model("tdt")
    requests = [streaming_config(endpointing=ENDPOINT)] + audio_requests(pcm16(_two_bursts()))
    responses = asyncio.run(_responses(model, requests))
    finals = [(resp, r) for resp in responses for r in resp.results if r.is_final]
    assert [r.utterance_index for _, r in finals] == [0, 1]
    slack_ms = 250  # encoder look-ahead and receptive field
    for (resp, r), (start, end) in zip(finals, BURSTS):
        words = r.alternatives[0].words
        assert words and set(r.alternatives[0].transcript) == {"a"}
        assert start * 1000 - slack_ms <= words[0].start_ms and words[-1].end_ms <= end * 1000 + slack_ms
        assert words[-1].end_ms - words[0].start_ms >= (end - start) * 1000 - 2 * slack_ms
        assert resp.speech_event_type == asr_pb2.END_OF_UTTERANCE  # closed by trailing silence
        assert end * 1000 + 500 <= r.result_end_ms <= end * 1000 + 500 + slack_ms + 200


def test_single_utterance_stops_after_the_first_final():
    model = forced_blank_model("tdt")
    first = streaming_config(endpointing=ENDPOINT)
    first.streaming_config.single_utterance = True
    responses = asyncio.run(_responses(model, [first] + audio_requests(pcm16(_two_bursts()))))
    finals = [r for resp in responses for r in resp.results if r.is_final]
    assert [r.utterance_index for r in finals] == [0]
    assert responses[-1].results[0].is_final  # nothing after the first final


def test_max_alternatives_gives_the_offline_beam_nbest():
    model = tiny_model("tdt", contexts=((6, 2),), seed=3)
    audio = speechlike(1.2, seed=31)
    expected = offline_hypotheses_nbest(model, wav_bytes(audio), beam=4)[:3]
    first = streaming_config(max_alternatives=3, decoding_method=asr_pb2.BEAM, beam_size=4,
                             interim_results=False)
    responses = asyncio.run(_responses(model, [first] + audio_requests(pcm16(audio))))
    finals = [r for resp in responses for r in resp.results if r.is_final]
    assert len(finals) == 1
    got = [a.transcript for a in finals[0].alternatives]
    assert len(got) == min(3, len(expected)) >= 2
    assert got == expected
