"""A training run's validation decodes its dev set through the served streaming path.

Oracle: the offline whole-utterance forward under the same attention mask and the head's greedy
decoder over all frames (stream_helpers.offline_hypothesis); the encoders stream exactly, so each
hypothesis must equal it. WER/CER recomputed with asr.metrics on the same texts.
"""

from __future__ import annotations

import pytest
import soundfile as sf
from stream_helpers import TOKENIZER, offline_hypothesis, speechlike, tiny_model
from transduce.asr.data.manifest import ManifestEntry
from transduce.asr.decoding import to_result
from transduce.asr.metrics import cer, wer
from transduce.streaming.evaluation import validate


def _entries(root, n=5):
    entries = []
    for i in range(n):
        audio = speechlike(0.6 + 0.37 * i, seed=40 + i)
        path = root / f"dev_{i}.wav"
        sf.write(path, audio, 16000, subtype="FLOAT")
        entries.append(ManifestEntry(str(path), len(audio) / 16000, ["ab", "ba c", "cab", "a", "bc"][i]))
    return entries


@pytest.mark.parametrize(("transducer", "lookahead"), [("tdt", 1), ("rnnt", 0), ("none", 2)])
def test_validate_scores_the_streamed_hypotheses(tmp_path, transducer, lookahead):
    model = tiny_model(transducer, ctc=transducer == "none")
    entries = _entries(tmp_path)
    model.train()
    result = validate(model, entries, max_utterances=4, lookahead=lookahead, batch_size=3)
    assert model.training  # put back as it was
    model.eval()
    assert result.references == tuple(e.text for e in entries[:4]) and result.utterances == 4
    assert result.lookahead == lookahead
    for entry, hyp in zip(entries, result.hypotheses):
        audio, _ = sf.read(entry.audio_filepath, dtype="float32")
        expect = to_result(offline_hypothesis(model, audio, lookahead), TOKENIZER, model.frame_shift_s)
        assert hyp == expect.text
    assert sum(len(h) for h in result.hypotheses) > 5  # not a comparison of empty outputs
    assert result.wer == wer(result.references, result.hypotheses)
    assert result.cer == cer(result.references, result.hypotheses)
