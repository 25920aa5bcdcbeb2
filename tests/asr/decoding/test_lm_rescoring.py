"""N-best LM rescoring: the fused score is am + w * log p_LM(text) + bonus * words, one batched LM pass
equals scoring each text alone, weight 0 keeps the acoustic ranking, a one-entry list never changes,
and a large enough weight lets the LM overturn the acoustic choice."""

import random

import pytest
import torch
from transduce.asr.decoding.lm_rescoring import LMRescoringConfig, lm_scores, rescore_nbest
from transduce.asr.decoding.results import Hypothesis
from transduce.asr.text.models import TextLM, TextLMConfig
from transduce.asr.tokenizers.text_bpe import TextTokenizer

TEXTS = ["the cat sat on the mat", "a dog ran to the sun", "the cat sat", "", "sun mat dog cat the a",
         "on the mat the cat sat down and then it ran"]


@pytest.fixture(scope="module")
def lm() -> TextLM:
    r = random.Random(0)
    words = " ".join(TEXTS).split()
    lines = [" ".join(r.choice(words) for _ in range(8)) for _ in range(200)]
    tok = TextTokenizer.train(lines, vocab_size=40)
    torch.manual_seed(0)
    cfg = TextLMConfig(tok.vocab_size, d_model=16, n_heads=2, n_layers=2, ff_expansion=2)
    model = TextLM(cfg).double().eval()
    model.tokenizer = tok
    return model


def _alone(lm: TextLM, text: str) -> float:
    ids = lm.tokenizer.encode(text)
    with torch.no_grad():
        return float(lm.score(torch.tensor([ids or [0]]), torch.tensor([len(ids)])))


def _hyp(score: float, n: int = 2) -> Hypothesis:
    return Hypothesis(list(range(4, 4 + n)), list(range(n)), [1.0] * n, score)


def test_batched_scores_equal_each_text_alone(lm) -> None:
    batched = lm_scores(lm, TEXTS, batch_size=4)
    assert batched == pytest.approx([_alone(lm, t) for t in TEXTS], abs=1e-9)
    assert all(s < 0 for s in batched)


def test_fused_score_and_ranking(lm) -> None:
    cfg = LMRescoringConfig(lm_weight=0.7, length_bonus=0.25)
    am = [-3.0, -2.0, -4.5]
    out = rescore_nbest([[_hyp(s) for s in am]], [TEXTS[:3]], lm, cfg)[0]
    expected = sorted(a + 0.7 * _alone(lm, t) + 0.25 * len(t.split()) for a, t in zip(am, TEXTS[:3]))[::-1]
    assert [h.score for h in out] == pytest.approx(expected, abs=1e-9)


def test_weight_zero_keeps_the_acoustic_order_and_one_entry_lists_never_change(lm) -> None:
    hyps = [_hyp(-1.0, 1), _hyp(-2.0, 2), _hyp(-3.0, 3)]
    out = rescore_nbest([hyps], [TEXTS[3:6]], lm, LMRescoringConfig(lm_weight=0.0))[0]
    assert out == hyps
    single = rescore_nbest([[_hyp(-5.0, 3)]], [[TEXTS[0]]], lm, LMRescoringConfig(lm_weight=2.0))[0]
    assert [h.tokens for h in single] == [_hyp(-5.0, 3).tokens]


def test_a_large_weight_lets_the_lm_overturn_the_acoustic_choice(lm) -> None:
    a, b = TEXTS[0], TEXTS[4]
    la, lb = _alone(lm, a), _alone(lm, b)
    likelier, other = (a, b) if la > lb else (b, a)
    gap = abs(la - lb)
    hyps = [_hyp(-1.0, 1), _hyp(-1.0 - 0.5 * gap, 2)]  # the acoustics prefer `other`
    texts = [other, likelier]
    assert rescore_nbest([hyps], [texts], lm, LMRescoringConfig(lm_weight=0.1))[0][0].tokens == hyps[0].tokens
    assert rescore_nbest([hyps], [texts], lm, LMRescoringConfig(lm_weight=1.0))[0][0].tokens == hyps[1].tokens


def test_bad_arguments_raise(lm) -> None:
    with pytest.raises(ValueError, match="one text per hypothesis"):
        rescore_nbest([[_hyp(0.0)]], [["a", "b"]], lm, LMRescoringConfig())
    with pytest.raises(ValueError, match="lm_weight"):
        LMRescoringConfig(lm_weight=-1.0)
