"""Proto -> domain settings and the WAV-header check, against values worked out by hand."""

from __future__ import annotations

import struct

import grpc
import numpy as np
import pytest
from grpc_helpers import pcm16, speechlike, wav_bytes
from stream_helpers import tiny_model
from transduce.asr.audio import PCMFormatError
from transduce.service.audio_in import split_wav_header
from transduce.service.bounds import RequestBounds, check_config
from transduce.service.convert import error_status, session_config
from transduce.service.errors import RequestError
from transduce.service.protos import asr_pb2
from transduce.streaming import SessionFailedError, StreamTooLongError

MODEL = tiny_model("tdt", contexts=((6, 2), (6, 0)))


def test_endpointing_zero_is_the_default_and_negative_turns_a_rule_off():
    ep = asr_pb2.EndpointingConfig(trailing_silence_after_speech_ms=700, trailing_silence_no_speech_ms=-1)
    cfg = session_config(MODEL, asr_pb2.RecognitionConfig(sample_rate_hertz=8000, endpointing=ep),
                         interim=True).session
    assert cfg.sample_rate == 8000 and cfg.endpoint.enabled
    assert cfg.endpoint.silence_after_speech_s == 0.7
    assert cfg.endpoint.silence_no_speech_s >= 1e8  # never fires
    assert cfg.endpoint.max_utterance_s == 20.0  # the default
    off = asr_pb2.EndpointingConfig(trailing_silence_after_speech_ms=-1, trailing_silence_no_speech_ms=-5,
                                    max_utterance_ms=-1)
    assert not session_config(MODEL, asr_pb2.RecognitionConfig(sample_rate_hertz=16000, endpointing=off),
                              interim=False).session.endpoint.enabled


def test_decoding_choices_and_refusals():
    hot = asr_pb2.RecognitionConfig(sample_rate_hertz=16000,
                                    hotwords=[asr_pb2.Hotword(phrase="ab", boost=3.5)])
    s = session_config(MODEL, hot, interim=False).session
    assert (s.decoding, s.hotwords, s.hotword_boost) == ("beam", ("ab",), 3.5)
    greedy_hot = asr_pb2.RecognitionConfig(sample_rate_hertz=16000, decoding_method=asr_pb2.GREEDY,
                                           hotwords=[asr_pb2.Hotword(phrase="ab")])
    opus = asr_pb2.RecognitionConfig(sample_rate_hertz=16000, encoding=asr_pb2.OGG_OPUS)
    for bad, word in [(greedy_hot, "hotwords"), (asr_pb2.RecognitionConfig(), "sample_rate_hertz"),
                      (opus, "OGG_OPUS")]:
        with pytest.raises(RequestError, match=word) as e:
            check_config(bad, RequestBounds(), streaming=True)
            session_config(MODEL, bad, interim=False)
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert session_config(MODEL, asr_pb2.RecognitionConfig(sample_rate_hertz=16000), interim=False,
                          lookahead_ms=0).session.lookahead == 1  # the (6, 0) context: 0 ms look-ahead


def test_wav_header_is_stripped_checked_and_extra_chunks_skipped():
    audio = speechlike(0.2, seed=1)
    wav = wav_bytes(audio)
    assert split_wav_header(wav, 16000, 1) == pcm16(audio)
    assert split_wav_header(pcm16(audio), 16000, 1) == pcm16(audio)  # raw PCM passes unchanged
    fmt_end = wav.index(b"data")
    extra = b"LIST" + struct.pack("<I", 5) + b"abcde\x00"  # odd size: padded to even
    assert split_wav_header(wav[:fmt_end] + extra + wav[fmt_end:], 16000, 1) == pcm16(audio)
    with pytest.raises(RequestError, match="16000 Hz, 1 channel"):
        split_wav_header(wav, 8000, 1)
    with pytest.raises(RequestError, match="2 channel"):
        split_wav_header(wav, 16000, 2)
    with pytest.raises(RequestError, match="not a WAV header"):
        split_wav_header(b"RIFF" + np.random.default_rng(0).bytes(40), 16000, 1)


def test_error_codes():
    assert error_status(PCMFormatError("odd"))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert error_status(StreamTooLongError("long"))[0] == grpc.StatusCode.OUT_OF_RANGE
    assert error_status(SessionFailedError("boom"))[0] == grpc.StatusCode.INTERNAL
    assert error_status(RuntimeError("x"))[0] == grpc.StatusCode.INTERNAL
