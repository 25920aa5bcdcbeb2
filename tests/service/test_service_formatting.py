"""Formatting over the service: with enable_formatting each final alternative carries the written form
of its transcript (== `transduce format` of that transcript), partials and spoken transcripts are as
without it; FormatText runs text models and refuses bad batches while a concurrent stream finishes;
ListModels lists text models with their task."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest
from grpc_helpers import (
    audio_requests,
    live_server,
    pcm16,
    speechlike,
    stream_call,
    streaming_config,
    wav_bytes,
)
from stream_helpers import silence, tiny_model
from transduce.asr.checkpoint import load_model
from transduce.asr.text.rewriter import TextRewriter
from transduce.service.protos import asr_pb2

from transduce.cli import main as cli_main

ENDPOINT = asr_pb2.EndpointingConfig(trailing_silence_after_speech_ms=300, trailing_silence_no_speech_ms=1000,
                                     max_utterance_ms=1500)


def _audio() -> np.ndarray:
    return np.concatenate([speechlike(1.2, seed=41), silence(0.6), speechlike(1.6, seed=42), silence(0.4)])


def _finals(responses) -> list:
    return [r for resp in responses for r in resp.results if r.is_final]


def _format_cli(texts: list[str], model_dir, tmp_path, capsys) -> list[str]:
    """`transduce format` of `texts`, one per line."""
    src = tmp_path / "spoken.txt"
    src.write_text("".join(t + "\n" for t in texts))
    capsys.readouterr()
    assert cli_main(["format", str(src), "--model", str(model_dir)]) == 0
    return capsys.readouterr().out.splitlines()


async def _stream(stub, formatting: bool, **kw) -> list:
    first = streaming_config(endpointing=ENDPOINT, enable_formatting=formatting, **kw)
    return [r async for r, _ in stream_call(stub, [first] + audio_requests(pcm16(_audio())))]


def test_finals_carry_the_written_form_and_nothing_else_changes(text_model_dir, tmp_path, capsys):
    speech = {"tiny": tiny_model("tdt", contexts=((6, 2),), seed=4)}

    async def run():
        async with live_server(speech, {"fmt": load_model(text_model_dir)}) as (_, stub, _):
            beam = dict(decoding_method=asr_pb2.BEAM, max_alternatives=3)
            return (await _stream(stub, False, **beam), await _stream(stub, True, **beam),
                    await stub.Recognize(asr_pb2.RecognizeRequest(
                        config=asr_pb2.RecognitionConfig(encoding=asr_pb2.WAV, enable_formatting=True),
                        audio_content=wav_bytes(_audio()))))

    plain, formatted, unary = asyncio.run(run())
    spoken = lambda rs: sorted((r.is_final, r.utterance_index, r.result_end_ms,  # noqa: E731
                                tuple(a.transcript for a in r.alternatives))
                               for resp in rs for r in resp.results)
    assert spoken(plain) == spoken(formatted)
    finals = _finals(formatted)
    assert len(finals) >= 2 and [r.utterance_index for r in finals] == list(range(len(finals)))
    alternatives = [a for r in finals for a in r.alternatives]
    assert any(len(r.alternatives) > 1 for r in finals)
    written = _format_cli([a.transcript for a in alternatives], text_model_dir, tmp_path, capsys)
    assert [a.formatted_transcript for a in alternatives] == written
    assert any(written)
    assert all(a.formatted_transcript == "" for resp in formatted for r in resp.results if not r.is_final
               for a in r.alternatives)
    assert all(a.formatted_transcript == "" for r in _finals(plain) for a in r.alternatives)
    rewriter = TextRewriter.load(text_model_dir)
    assert [r.alternatives[0].formatted_transcript for r in unary.results] == \
        rewriter([r.alternatives[0].transcript for r in unary.results])


def test_format_text_answers_and_refuses_bad_batches_while_a_stream_finishes(text_model_dir):
    speech = {"tiny": tiny_model("tdt", contexts=((6, 2),), seed=4)}
    rewriter = TextRewriter.load(text_model_dir)
    texts = ["it costs five dollars", "", "the meeting is on march third at ten thirty"]

    async def run():
        async with live_server(speech, {"fmt": load_model(text_model_dir)}) as (_, stub, _):
            stream = asyncio.ensure_future(_stream(stub, True))
            good = await stub.FormatText(asr_pb2.FormatTextRequest(texts=texts))
            named = await stub.FormatText(asr_pb2.FormatTextRequest(texts=texts[:1], model="fmt"))
            codes = {}
            for what, request in {
                "empty": asr_pb2.FormatTextRequest(),
                "unknown model": asr_pb2.FormatTextRequest(texts=["a"], model="tiny"),
                "oversized": asr_pb2.FormatTextRequest(texts=["a", "b" * 4001]),
                "too many": asr_pb2.FormatTextRequest(texts=["a"] * 257),
            }.items():
                with pytest.raises(grpc.aio.AioRpcError) as e:
                    await stub.FormatText(request)
                codes[what] = (e.value.code(), e.value.details())
            return good, named, codes, await stream

    good, named, codes, streamed = asyncio.run(run())
    assert list(good.texts) == rewriter(texts) and good.texts[1] == ""
    assert list(named.texts) == rewriter(texts[:1])
    assert codes["empty"] == (grpc.StatusCode.INVALID_ARGUMENT, "texts must hold 1..256 texts, got 0")
    assert codes["unknown model"][0] == grpc.StatusCode.NOT_FOUND and "fmt" in codes["unknown model"][1]
    assert codes["oversized"] == (grpc.StatusCode.INVALID_ARGUMENT,
                                  "texts[1] has 4001 characters; at most 4000")
    assert codes["too many"][0] == grpc.StatusCode.INVALID_ARGUMENT
    finals = _finals(streamed)
    assert len(finals) >= 2 and all(r.alternatives[0].formatted_transcript ==
                                    rewriter([r.alternatives[0].transcript])[0] for r in finals)


def test_list_models_gives_tasks_and_formatting_needs_a_text_model(text_model_dir):
    speech = {"tiny": tiny_model("tdt", contexts=((6, 2),), seed=4)}

    async def run():
        async with live_server(speech, {"fmt": load_model(text_model_dir)}) as (_, stub, _):
            listed = await stub.ListModels(asr_pb2.ListModelsRequest())
        async with live_server(speech) as (_, stub, _):
            bare = await stub.ListModels(asr_pb2.ListModelsRequest())
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await _stream(stub, True)
            with pytest.raises(grpc.aio.AioRpcError) as no_text:
                await stub.FormatText(asr_pb2.FormatTextRequest(texts=["a"]))
        return listed, bare, refused.value, no_text.value

    listed, bare, refused, no_text = asyncio.run(run())
    assert [(m.name, m.task) for m in listed.models] == [("tiny", "speech_to_text"), ("fmt", "text_to_text")]
    assert listed.default_model == "tiny" and listed.default_formatting_model == "fmt"
    assert [m.task for m in bare.models] == ["speech_to_text"] and bare.default_formatting_model == ""
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no formatting model" in refused.details()
    assert no_text.code() == grpc.StatusCode.NOT_FOUND and "runs no text model" in no_text.details()
