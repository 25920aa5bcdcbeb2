"""Text models: the KV cache reproduces the teacher-forced logits for any split of the tokens into
steps and for rows at different lengths; padding never leaks; the LM score is the sum of the
teacher-forced log-probabilities; checkpoints round-trip exactly (with the text tokenizer)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from text_helpers import DEVICES, POSITIONS, V, batch, lm, seq2seq
from torch import Tensor
from transduce.asr.nn.decoder import TransformerDecoder
from transduce.asr.text.cache import TextCache
from transduce.asr.text.models import TextLM, TextLMConfig, TextSeq2Seq, TextSeq2SeqConfig
from transduce.asr.tokenizers.text_bpe import BOS_ID, EOS_ID, TextTokenizer

import transduce

SRC_LENS, U = [7, 4, 1], 6
SPLITS = [[1] * U, [1, 3, 2], [U]]  # tokens fed per step


def _stepped(model: TextSeq2Seq | TextLM, tokens: Tensor, cache: TextCache, split: list[int]) -> Tensor:
    """Logits (B, U, V) from feeding tokens (B, U) in steps of split[i] tokens."""
    out, start = [], 0
    for n in split:
        logits, cache = model.step(tokens[:, start : start + n], cache)
        assert logits.shape == (tokens.shape[0], n, V)
        out.append(logits)
        start += n
    assert cache.lengths.tolist() == [tokens.shape[1]] * tokens.shape[0]
    return torch.cat(out, dim=1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("split", SPLITS, ids=str)
@pytest.mark.parametrize("pos", POSITIONS)
def test_seq2seq_steps_equal_forward(pos: str, split: list[int], device: str) -> None:
    model = seq2seq(pos, device=device)
    src, src_lens = batch(SRC_LENS, seed=1, device=device)
    tgt, _ = batch([U] * len(SRC_LENS), seed=2, device=device)
    with torch.no_grad():
        full = model(src, src_lens, tgt, torch.full_like(src_lens, U))
        stepped = _stepped(model, tgt, model.init_cache(*model.encode(src, src_lens)), split)
    torch.testing.assert_close(stepped, full, atol=1e-10, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("split", SPLITS, ids=str)
@pytest.mark.parametrize("pos", POSITIONS)
def test_lm_steps_equal_forward(pos: str, split: list[int], device: str) -> None:
    model = lm(pos, device=device)
    tokens, _ = batch([U] * 3, seed=3, device=device)
    with torch.no_grad():
        full = model(tokens, torch.full((3,), U, device=device))
        stepped = _stepped(model, tokens, model.init_cache(3), split)
    torch.testing.assert_close(stepped, full, atol=1e-10, rtol=0)


@pytest.mark.parametrize("pos", POSITIONS)
def test_rows_at_different_lengths_after_roll_back(pos: str) -> None:
    """Feed 5 tokens, roll rows back to 5, 2 and 3 tokens, then feed 3 more per row (each row its own
    next tokens): the logits equal the teacher-forced ones at those positions, twice in a row."""
    model = seq2seq(pos)
    src, src_lens = batch(SRC_LENS, seed=4)
    tgt, _ = batch([U + 5] * 3, seed=5)
    with torch.no_grad():
        full = model(src, src_lens, tgt, torch.full_like(src_lens, U + 5))
        _, cache = model.step(tgt[:, :5], model.init_cache(*model.encode(src, src_lens)))
        kept = [5, 2, 3]
        cache = cache.truncate(torch.tensor(kept))
        for _ in range(2):
            nxt = torch.stack([tgt[b, k : k + 3] for b, k in enumerate(kept)])
            logits, cache = model.step(nxt, cache)
            for b, k in enumerate(kept):
                torch.testing.assert_close(logits[b], full[b, k : k + 3], atol=1e-10, rtol=0)
            kept = [k + 3 for k in kept]
            assert cache.lengths.tolist() == kept and cache.n_slots == max(kept)


def test_lm_rows_at_different_lengths_after_roll_back() -> None:
    model = lm()
    tokens, _ = batch([8] * 2, seed=6)
    with torch.no_grad():
        full = model(tokens, torch.tensor([8, 8]))
        _, cache = model.step(tokens[:, :4], model.init_cache(2))
        cache = cache.truncate(torch.tensor([1, 4]))
        logits, _ = model.step(torch.stack([tokens[0, 1:5], tokens[1, 4:8]]), cache)
    torch.testing.assert_close(logits[0], full[0, 1:5], atol=1e-10, rtol=0)
    torch.testing.assert_close(logits[1], full[1, 4:8], atol=1e-10, rtol=0)


def test_cache_select_reorders_rows() -> None:
    model = seq2seq()
    src, src_lens = batch(SRC_LENS, seed=7)
    tgt, _ = batch([4] * 3, seed=8)
    rows = torch.tensor([2, 0, 0])
    with torch.no_grad():
        full = model(src[rows], src_lens[rows], tgt[rows], torch.full((3,), 4))
        _, cache = model.step(tgt[:, :2], model.init_cache(*model.encode(src, src_lens)))
        logits, _ = model.step(tgt[rows, 2:], cache.select(rows))
    torch.testing.assert_close(logits, full[:, 2:], atol=1e-10, rtol=0)


@pytest.mark.parametrize("pos", POSITIONS)
def test_padding_does_not_leak(pos: str) -> None:
    """A padded batch (junk in the padding) gives each row the logits it gets alone."""
    model = seq2seq(pos, tie=False)
    src, src_lens = batch(SRC_LENS, seed=9)
    tgt, tgt_lens = batch([5, 2, 6], seed=10)
    with torch.no_grad():
        full = model(src, src_lens, tgt, tgt_lens)
        for b in range(3):
            t, u = int(src_lens[b]), int(tgt_lens[b])
            alone = model(src[b : b + 1, :t], src_lens[b : b + 1], tgt[b : b + 1, :u], tgt_lens[b : b + 1])
            torch.testing.assert_close(full[b, :u], alone[0], atol=1e-10, rtol=0)


def test_decoder_is_the_shared_transformer_decoder() -> None:
    """The seq2seq decoder's weights load into asr.nn's TransformerDecoder, whose own one-token step
    gives the same logits."""
    model = seq2seq("rotary")
    plain = TransformerDecoder(model.cfg.decoder_config()).double().eval()
    plain.load_state_dict(model.decoder.state_dict(), strict=True)
    src, src_lens = batch(SRC_LENS, seed=11)
    tgt, _ = batch([4] * 3, seed=12)
    with torch.no_grad():
        memory, memory_lens = model.encode(src, src_lens)
        ours, plain_cache = model.init_cache(memory, memory_lens), plain.init_cache(memory, memory_lens)
        for u in range(4):
            a, ours = model.step(tgt[:, u : u + 1], ours)
            b, plain_cache = plain.step(tgt[:, u : u + 1], plain_cache)
            torch.testing.assert_close(a[:, 0], b, atol=1e-10, rtol=0)


def test_tied_embeddings_share_one_matrix() -> None:
    tied, untied = seq2seq(tie=True), seq2seq(tie=False)
    assert tied.src_embedding is None and tied.decoder.output.weight is tied.decoder.embedding.weight
    assert untied.decoder.output.weight is not untied.decoder.embedding.weight
    extra = sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in tied.parameters())
    assert extra == 2 * V * 16  # a source embedding and an output matrix of (V, D)
    small = lm(tie=True)
    assert small.output.weight is small.embedding.weight


@pytest.mark.parametrize("add_eos", [True, False])
def test_lm_score_is_sum_of_teacher_forced_log_softmax(add_eos: bool) -> None:
    model = lm()
    tokens, lens = batch([5, 1, 3], seed=13)
    with torch.no_grad():
        score = model.score(tokens, lens, add_eos=add_eos)
        for b in range(3):
            n = int(lens[b])
            seq = torch.cat([torch.tensor([BOS_ID]), tokens[b, :n]])
            logp = F.log_softmax(model(seq[None], torch.tensor([n + 1]))[0], dim=-1)  # (n + 1, V)
            target = torch.cat([tokens[b, :n], torch.tensor([EOS_ID])])
            expected = logp[torch.arange(n + add_eos), target[: n + add_eos]].sum()
            torch.testing.assert_close(score[b], expected, atol=1e-10, rtol=0)


@pytest.mark.parametrize("tie", [True, False])
def test_seq2seq_checkpoint_round_trip(tmp_path, tie: bool) -> None:
    model = seq2seq("rotary", tie=tie, dtype=torch.float32)
    src, src_lens = batch(SRC_LENS, seed=14)
    tgt, tgt_lens = batch([5, 2, 6], seed=15)
    transduce.save_model(model, tmp_path / "ckpt")
    meta = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert meta["model"] == "text_seq2seq" and meta["config"]["tie_embeddings"] is tie
    loaded = transduce.load_model(tmp_path / "ckpt")
    assert isinstance(loaded, TextSeq2Seq) and loaded.cfg == model.cfg and not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(src, src_lens, tgt, tgt_lens), model(src, src_lens, tgt, tgt_lens))
    if tie:
        assert loaded.decoder.output.weight is loaded.decoder.embedding.weight


def test_lm_checkpoint_round_trip_with_tokenizer(tmp_path, sentences: list[str]) -> None:
    tok = TextTokenizer.train(sentences, vocab_size=80)
    model = TextLM(TextLMConfig(80, d_model=16, n_heads=2, n_layers=1)).eval()
    transduce.save_model(model, tmp_path / "lm", tokenizer=tok)
    loaded = transduce.load_model(tmp_path / "lm")
    assert isinstance(loaded.tokenizer, TextTokenizer)
    ids = torch.tensor([tok.encode(sentences[0])])
    lens = torch.tensor([ids.shape[1]])
    with torch.no_grad():
        assert torch.equal(loaded.score(ids, lens), model.score(ids, lens))
    assert loaded.tokenizer.decode(ids[0].tolist()) == " ".join(sentences[0].split())


def test_configs_refuse_bad_sizes() -> None:
    with pytest.raises(ValueError, match="even width"):
        TextSeq2SeqConfig(V, d_model=12, n_heads=4)
    with pytest.raises(ValueError, match="exceed"):
        TextSeq2SeqConfig(3)
    with pytest.raises(ValueError, match="at least one layer"):
        TextSeq2SeqConfig(V, encoder_layers=0)
    model = seq2seq()
    cache = model.init_cache(*model.encode(*batch([2])))
    with pytest.raises(ValueError, match="token ids"):
        model.step(torch.tensor([[V]]), cache)
    with pytest.raises(ValueError, match="n >= 1"):
        model.step(torch.zeros(1, 0, dtype=torch.long), cache)
