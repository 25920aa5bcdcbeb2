"""Transformer decoder: incremental == teacher-forced, padding and the future never leak, cache select."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import Tensor
from transduce.asr.config import from_dict, to_dict
from transduce.asr.nn.decoder import DecoderCache, TransformerDecoder, TransformerDecoderConfig, greedy_decode

V, D, B, U, T = 11, 16, 3, 6, 7
POSITIONS = ["absolute", "rotary"]


def _decoder(pos: str = "absolute", **kw) -> TransformerDecoder:
    cfg = TransformerDecoderConfig(V, d_model=D, n_heads=2, n_layers=2, ff_expansion=2, pos=pos, **kw)
    return TransformerDecoder(cfg).eval()


def _batch() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Padded batch with different token and memory lengths; padding filled with random junk."""
    tokens = torch.randint(0, V, (B, U))
    token_lens = torch.tensor([U, 3, 1])
    memory = torch.randn(B, T, D)
    memory_lens = torch.tensor([4, T, 2])
    return tokens, token_lens, memory, memory_lens


def _stepwise(dec: TransformerDecoder, tokens: Tensor, cache: DecoderCache) -> tuple[Tensor, DecoderCache]:
    """Logits (B, U, V) from feeding tokens (B, U) one at a time."""
    out = []
    for u in range(tokens.shape[1]):
        logits, cache = dec.step(tokens[:, u : u + 1], cache)
        out.append(logits)
    return torch.stack(out, dim=1), cache


@pytest.mark.parametrize("pos", POSITIONS)
def test_step_equals_teacher_forced(pos: str) -> None:
    dec = _decoder(pos)
    tokens, token_lens, memory, memory_lens = _batch()
    with torch.no_grad():
        full = dec(tokens, token_lens, memory, memory_lens)
        inc, cache = _stepwise(dec, tokens, dec.init_cache(memory, memory_lens))
    assert full.shape == (B, U, V) and cache.length == U
    for b in range(B):
        n = int(token_lens[b])
        torch.testing.assert_close(inc[b, :n], full[b, :n], atol=1e-5, rtol=0)


@pytest.mark.parametrize("pos", POSITIONS)
def test_padded_batch_equals_single_utterances(pos: str) -> None:
    dec = _decoder(pos)
    tokens, token_lens, memory, memory_lens = _batch()
    with torch.no_grad():
        full = dec(tokens, token_lens, memory, memory_lens)
        for b in range(B):
            n, t = int(token_lens[b]), int(memory_lens[b])
            one = dec(
                tokens[b : b + 1, :n], token_lens[b : b + 1], memory[b : b + 1, :t], memory_lens[b : b + 1]
            )
            torch.testing.assert_close(full[b, :n], one[0], atol=1e-5, rtol=0)


def test_padded_memory_frames_never_change_output() -> None:
    dec = _decoder()
    tokens, token_lens, memory, memory_lens = _batch()
    junk = memory.clone()
    pad = ~(torch.arange(T)[None, :] < memory_lens[:, None])
    junk[pad] = 1e3 * torch.randn(int(pad.sum()), D)
    with torch.no_grad():
        a = dec(tokens, token_lens, memory, memory_lens)
        b = dec(tokens, token_lens, junk, memory_lens)
        sa, _ = _stepwise(dec, tokens, dec.init_cache(memory, memory_lens))
        sb, _ = _stepwise(dec, tokens, dec.init_cache(junk, memory_lens))
    assert torch.equal(a, b) and torch.equal(sa, sb)
    # The check can fail: a real frame does change the output.
    real = memory.clone()
    real[0, 0] += 1.0
    with torch.no_grad():
        assert not torch.allclose(dec(tokens, token_lens, real, memory_lens), a)


@pytest.mark.parametrize("pos", POSITIONS)
def test_future_token_never_changes_earlier_outputs(pos: str) -> None:
    dec = _decoder(pos)
    tokens, _, memory, memory_lens = _batch()
    lens = torch.full((B,), U)
    k = 3
    changed = tokens.clone()
    changed[:, k] = (tokens[:, k] + 1) % V
    with torch.no_grad():
        a, b = dec(tokens, lens, memory, memory_lens), dec(changed, lens, memory, memory_lens)
    assert torch.equal(a[:, :k], b[:, :k])
    assert not torch.allclose(a[:, k], b[:, k])


def test_cache_select_reorders_consistently() -> None:
    dec = _decoder("rotary")
    tokens, _, memory, memory_lens = _batch()
    idx = torch.tensor([2, 0, 0, 1])
    with torch.no_grad():
        _, cache = _stepwise(dec, tokens[:, :3], dec.init_cache(memory, memory_lens))
        after, _ = _stepwise(dec, tokens[idx, 3:], cache.select(idx))
        ref, _ = _stepwise(dec, tokens[idx], dec.init_cache(memory[idx], memory_lens[idx]))
    assert after.shape == (len(idx), U - 3, V)
    torch.testing.assert_close(after, ref[:, 3:], atol=1e-6, rtol=0)
    with pytest.raises(IndexError, match="out of range"):
        cache.select(torch.tensor([B]))


def _reference_greedy(
    dec: TransformerDecoder, memory: Tensor, memory_lens: Tensor, bos: int, eos: int, n: int
):
    """Greedy tokens of one utterance by plain single-stream steps (the oracle)."""
    cache = dec.init_cache(memory, memory_lens)
    prev, ref = bos, []
    for _ in range(n):
        logits, cache = dec.step(torch.tensor([[prev]]), cache)
        prev = int(logits.argmax())
        if prev == eos:
            break
        ref.append(prev)
    return ref


def test_greedy_decode_matches_stepwise_argmax() -> None:
    dec = _decoder()
    _, _, memory, memory_lens = _batch()
    bos, max_len = 1, 8
    with torch.no_grad():
        dec.embedding.weight.mul_(0.1)  # let memory steer the outputs, so hypotheses vary by step
        memory = 3 * memory
        free, free_lens = greedy_decode(dec, memory, memory_lens, bos, V, max_len)  # eos never produced
        assert free.shape == (B, max_len) and (free_lens == max_len).all()
        seq = free[0].tolist()
        k = next(i for i in range(1, max_len) if seq[i] not in seq[:i])
        eos = seq[k]  # utterance 0 now stops after k tokens; others may run to max_len
        hyp, lens = greedy_decode(dec, memory, memory_lens, bos, eos, max_len)
        assert int(lens[0]) == k
        for b in range(B):
            ref = _reference_greedy(dec, memory[b : b + 1], memory_lens[b : b + 1], bos, eos, max_len)
            assert int(lens[b]) == len(ref)
            assert hyp[b, : len(ref)].tolist() == ref
            assert (hyp[b, len(ref) :] == eos).all()
    assert hyp.shape == (B, int(lens.max()))


def test_tied_embeddings_and_config_round_trip() -> None:
    dec = _decoder(tie_embeddings=True)
    assert dec.output.weight is dec.embedding.weight
    cfg = dataclasses.replace(dec.cfg, pos="rotary")
    assert from_dict(TransformerDecoderConfig, to_dict(cfg)) == cfg


def test_user_errors_are_typed() -> None:
    dec = _decoder()
    tokens, token_lens, memory, memory_lens = _batch()
    with pytest.raises(ValueError, match="token ids"):
        dec(tokens + V, token_lens, memory, memory_lens)
    with pytest.raises(ValueError, match="memory must be"):
        dec(tokens, token_lens, memory[..., :-1], memory_lens)
    with pytest.raises(ValueError, match="memory_lens"):
        dec.init_cache(memory, memory_lens + T)
    with pytest.raises(ValueError, match="token_lens"):
        dec(tokens, token_lens + U, memory, memory_lens)
    with pytest.raises(ValueError, match=r"tokens must be \(B, 1\)"):
        dec.step(tokens, dec.init_cache(memory, memory_lens))
    with pytest.raises(ValueError, match="position kind"):
        TransformerDecoder(dataclasses.replace(dec.cfg, pos="relative"))


def test_training_forward_reaches_every_parameter() -> None:
    dec = _decoder("rotary").train()
    tokens, token_lens, memory, memory_lens = _batch()
    memory.requires_grad_(True)
    dec(tokens, token_lens, memory, memory_lens).logsumexp(-1).sum().backward()
    missing = [n for n, p in dec.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches {missing}"
    pad = ~(torch.arange(T)[None, :] < memory_lens[:, None])
    assert memory.grad[pad].abs().sum() == 0 and memory.grad[~pad].abs().sum() > 0
