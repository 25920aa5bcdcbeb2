"""Endpointing: the three rules on constructed cases, and utterances split at endpoints end to end.

The end-to-end cases use models whose head is forced to blank on digital silence and to "a" on
sound (`forced_blank_model`), so where speech is, and so where each rule must fire, is known. Their
oracle is the offline decoding of the whole stream: the tokens of all finals together, and their
times from the stream start, must be the offline tokens and times (resetting the decoder at an
endpoint in silence changes nothing for these heads).
"""

from __future__ import annotations

import numpy as np
import pytest
from stream_helpers import feed_sizes, forced_blank_model, offline_hypothesis, silence, speechlike
from transduce.asr.decoding import Hypothesis
from transduce.streaming import (
    END_OF_STREAM,
    RULE_AFTER_SPEECH,
    RULE_MAX_UTTERANCE,
    EndpointConfig,
    Session,
    SessionConfig,
    SessionConfigError,
    decode_sessions,
)
from transduce.streaming.endpoint import RULE_NO_SPEECH, endpoint_rule, trailing_silence

SHIFT = 0.04


def _run(model, audio, endpoint, seed=0):
    s = Session(model, SessionConfig(endpoint=endpoint))
    results, pos = [], 0
    for n in feed_sizes(len(audio), seed):
        s.accept(audio[pos:pos + n])
        pos += n
        decode_sessions(model, [s])
        results += s.pop_results()
    s.finish()
    decode_sessions(model, [s])
    return results + s.pop_results()


def test_rules_fire_in_order_at_their_thresholds():
    cfg = EndpointConfig(silence_no_speech_s=1.0, silence_after_speech_s=0.4, max_utterance_s=2.0)
    assert endpoint_rule(cfg, 24, 24, False, SHIFT) is None  # 0.96 s of silence, nothing said
    assert endpoint_rule(cfg, 25, 25, False, SHIFT) == RULE_NO_SPEECH
    assert endpoint_rule(cfg, 25, 9, True, SHIFT) is None
    assert endpoint_rule(cfg, 25, 10, True, SHIFT) == RULE_AFTER_SPEECH
    assert endpoint_rule(cfg, 49, 0, True, SHIFT) is None
    assert endpoint_rule(cfg, 50, 0, True, SHIFT) == RULE_MAX_UTTERANCE
    assert endpoint_rule(cfg, 50, 12, True, SHIFT) == RULE_AFTER_SPEECH  # rule 2 before rule 3
    off = EndpointConfig(enabled=False)
    assert endpoint_rule(off, 10_000, 10_000, False, SHIFT) is None
    with pytest.raises(SessionConfigError, match="silence_after_speech_s"):
        EndpointConfig(silence_after_speech_s=0)


def test_trailing_silence_counts_from_the_end_of_the_last_token():
    assert trailing_silence(Hypothesis(), 17) == 17
    rnnt = Hypothesis([3, 4], [2, 9], [0.5, 0.5])
    assert trailing_silence(rnnt, 17) == 17 - 10
    tdt = Hypothesis([3, 4], [2, 9], [0.5, 0.5], durations=[1, 4])
    assert trailing_silence(tdt, 17) == 17 - 13
    assert trailing_silence(Hypothesis([3], [9], [0.5], durations=[0]), 17) == 17 - 10  # 0 counts as 1
    assert trailing_silence(tdt, 11) == 0


@pytest.mark.parametrize("transducer", ["none", "tdt"])
def test_two_utterances_give_two_finals_with_stream_times(transducer):
    model = forced_blank_model(transducer)
    audio = np.concatenate([speechlike(1.0, 1), silence(2.0), speechlike(1.0, 2), silence(1.0)])
    endpoint = EndpointConfig(silence_no_speech_s=1.5, silence_after_speech_s=0.8, max_utterance_s=30)
    results = _run(model, audio, endpoint)
    finals = [r for r in results if r.is_final]
    assert [f.utterance_index for f in finals] == [0, 1]
    assert [f.endpoint for f in finals] == [RULE_AFTER_SPEECH, RULE_AFTER_SPEECH]
    assert finals[0].start_s == 0.0 and finals[1].start_s == finals[0].end_s
    assert 1.8 <= finals[0].end_s <= 3.0 and 4.8 <= finals[1].end_s <= 5.0
    expect = offline_hypothesis(model, audio, 0)
    assert [t for f in finals for t in f.tokens] == expect.tokens
    times = [t for f in finals for t in f.alternatives[0].token_times]
    assert [start for start, _ in times] == pytest.approx([f * model.frame_shift_s for f in expect.frames])
    assert all(3.0 - 1e-9 <= w.start_s and w.end_s <= 4.2 for w in finals[1].words)
    for p in (r for r in results if not r.is_final):  # partials belong to the utterance that follows
        assert p.utterance_index in (0, 1) and p.text and p.endpoint is None


def test_silence_alone_restarts_quietly_and_finish_still_gives_one_final():
    model = forced_blank_model("tdt")
    results = _run(model, silence(3.0), EndpointConfig(silence_no_speech_s=1.0))
    assert len(results) == 1
    (final,) = results
    assert final.is_final and final.text == "" and final.endpoint == END_OF_STREAM
    assert final.utterance_index == 0 and final.start_s >= 1.0  # rule 1 moved the utterance start on


def test_long_speech_is_cut_at_the_maximum_utterance_length():
    model = forced_blank_model("tdt")
    results = _run(model, speechlike(3.3, 4), EndpointConfig(max_utterance_s=1.0))
    finals = [r for r in results if r.is_final]
    assert len(finals) >= 3
    assert [f.utterance_index for f in finals] == list(range(len(finals)))
    factor = model.cfg.encoder.subsampling_factor
    chunk_s = model.encoder.chunk_frames(0)[1] // factor * model.frame_shift_s  # one step's encoder frames
    for f in finals[:-1]:
        assert f.endpoint == RULE_MAX_UTTERANCE and 1.0 <= f.end_s - f.start_s < 1.0 + chunk_s
    assert finals[-1].endpoint in (END_OF_STREAM, RULE_MAX_UTTERANCE)
    assert all(a.end_s == b.start_s for a, b in zip(finals, finals[1:]))
