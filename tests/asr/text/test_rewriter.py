"""TextRewriter: strings in, a text model's outputs out, the same whatever the method and batching."""

import pytest
import torch
from text_helpers import seq2seq
from transduce.asr.text.rewriter import (
    TextRewriter,
    TextTooLongError,
    inserted_tokens,
    normalize_source,
    sentence_draft,
)
from transduce.asr.tokenizers.text_bpe import TextTokenizer

VOCAB = 80


@pytest.fixture(scope="module")
def model(sentences: list[str]):
    """A random float64 seq2seq with a real tokenizer (argmaxes never meet a rounding tie)."""
    m = seq2seq(vocab=VOCAB, seed=3)
    m.tokenizer = TextTokenizer.train(sentences, vocab_size=VOCAB)
    return m


@pytest.fixture(scope="module")
def texts(sentences: list[str]) -> list[str]:
    g = torch.Generator().manual_seed(0)
    picks = torch.randint(0, len(sentences), (9,), generator=g).tolist()
    return [sentences[i].lower() for i in picks] + ["", "   "]


def test_methods_and_batching_agree_with_greedy(model, texts: list[str]) -> None:
    greedy = TextRewriter(model, method="greedy", batch_size=len(texts)).rewrite(texts)
    assert greedy.texts[-2:] == ["", ""] and all(isinstance(t, str) for t in greedy.texts)
    for method, batch_size in [("aggressive", 1), ("aggressive", 4), ("aggressive", 32), ("greedy", 3)]:
        assert TextRewriter(model, method=method, batch_size=batch_size)(texts) == greedy.texts
    assert TextRewriter(model, method="beam", beam_size=1)(texts) == greedy.texts
    assert TextRewriter(model, draft=None, max_draft=3)(texts) == greedy.texts  # drafts only change speed
    aggressive = TextRewriter(model, batch_size=len(texts)).rewrite(texts)
    assert 0 < aggressive.passes <= greedy.passes


def test_each_output_is_its_own_input_s(model, texts: list[str]) -> None:
    rewriter = TextRewriter(model, batch_size=4)
    together = rewriter(texts)
    assert [rewriter([t])[0] for t in texts] == together
    assert rewriter(list(reversed(texts))) == list(reversed(together))


def test_sentence_draft_makes_the_edits_most_outputs_make() -> None:
    assert sentence_draft("i think i'm late said i") == "I think I'm late said I."
    assert sentence_draft("it is in india") == "It is in india."
    assert sentence_draft("") == ""
    assert sentence_draft("on monday march third i paid twelve dollars fifty") == \
        "On Monday March 3 I paid $12.50."


def test_inserted_tokens_are_the_punctuation_pieces(model) -> None:
    tok = model.tokenizer
    pieces = {tok.id_to_piece(i).lstrip("\u2581") for i in inserted_tokens(tok)}
    assert {".", ","} <= pieces
    assert not any(c.isalnum() for p in pieces for c in p)
    others = set(range(tok.vocab_size)) - inserted_tokens(tok)
    words = {tok.id_to_piece(i) for i in others}
    assert all(any(c.isalnum() for c in p) or p == "\u2581" for p in words)


def test_inputs_are_put_in_spoken_form(model) -> None:
    rewriter = TextRewriter(model)
    assert normalize_source("  It   COSTS\tfive ") == "it costs five"
    assert rewriter(["  It   COSTS\tfive "]) == rewriter(["it costs five"])
    assert rewriter([]) == []


def test_bad_inputs_raise_before_running(model) -> None:
    rewriter = TextRewriter(model, max_chars=20)
    with pytest.raises(TextTooLongError, match="text 1 has 21 characters; at most 20"):
        rewriter(["fine", "x" * 21])
    with pytest.raises(TypeError, match="text 0 must be a str"):
        rewriter([b"bytes"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="method must be one of"):
        TextRewriter(model, method="sample")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a TextSeq2Seq"):
        TextRewriter(torch.nn.Linear(2, 2))  # type: ignore[arg-type]


def test_half_precision_weights_compute_in_float32_on_the_cpu(model, texts: list[str], tmp_path) -> None:
    import copy

    from transduce.asr.checkpoint import load_model, save_model

    stored = copy.deepcopy(model).half()
    save_model(stored, tmp_path / "half", model.tokenizer)
    loaded = TextRewriter.load(tmp_path / "half", method="greedy")
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float32}
    rounded = copy.deepcopy(model).half().float()
    rounded.tokenizer = model.tokenizer
    assert loaded(texts) == TextRewriter(rounded, method="greedy")(texts)
    served = load_model(tmp_path / "half")  # as the service loads it
    assert TextRewriter(served, method="greedy")(texts) == loaded(texts)
    assert {p.dtype for p in served.parameters()} == {torch.float32}
