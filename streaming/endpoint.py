"""Endpoint rules on the decoder's output (see `streaming.config` for the rules and the silence measure).

All lengths are in encoder frames of the current utterance; `frame_shift_s` turns them into seconds.
"""

from __future__ import annotations

from transduce.asr.decoding import Hypothesis
from transduce.streaming.config import EndpointConfig

__all__ = ["RULE_NO_SPEECH", "RULE_AFTER_SPEECH", "RULE_MAX_UTTERANCE", "END_OF_STREAM",
           "trailing_silence", "endpoint_rule"]

RULE_NO_SPEECH = "silence_no_speech"  # rule 1
RULE_AFTER_SPEECH = "silence_after_speech"  # rule 2
RULE_MAX_UTTERANCE = "max_utterance"  # rule 3
END_OF_STREAM = "end_of_stream"  # not a rule: the final result that finish() produces


def trailing_silence(hyp: Hypothesis, utterance_frames: int) -> int:
    """Frames of the utterance after the end of `hyp`'s last token (all of them when it has none).

    A token ends at its frame + its TDT duration (at least 1), or its frame + 1 for CTC/RNN-T;
    hypothesis frames count from the utterance start.
    """
    if not hyp.tokens:
        return utterance_frames
    span = max(int(hyp.durations[-1]), 1) if hyp.durations else 1
    return max(utterance_frames - (hyp.frames[-1] + span), 0)


def endpoint_rule(cfg: EndpointConfig, utterance_frames: int, silence_frames: int, has_speech: bool,
                  frame_shift_s: float) -> str | None:
    """The name of the first rule that fires (rule 1, 2, 3 in that order), or None."""
    if not cfg.enabled:
        return None
    silence_s, length_s = silence_frames * frame_shift_s, utterance_frames * frame_shift_s
    eps = 1e-9  # frame counts times a shift: compare with a little slack for rounding
    if not has_speech and silence_s + eps >= cfg.silence_no_speech_s:
        return RULE_NO_SPEECH
    if has_speech and silence_s + eps >= cfg.silence_after_speech_s:
        return RULE_AFTER_SPEECH
    if length_s + eps >= cfg.max_utterance_s:
        return RULE_MAX_UTTERANCE
    return None
