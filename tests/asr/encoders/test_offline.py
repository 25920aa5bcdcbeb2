"""Offline forward: padding never leaks, contexts are respected, config round trip, typed errors."""

from __future__ import annotations

import pytest
import torch
from _enc_helpers import CONTEXTS, FEAT, conformer, transformer
from transduce.asr.config import from_dict, to_dict
from transduce.asr.encoders import ConformerConfig, EncoderState, StreamingError, TransformerConfig

OFFLINE = {
    "fastconformer-full": lambda: conformer(
        "regular",
        subsampling_factor=8,
        causal_downsampling=False,
        conv_context_size="symmetric",
        att_context_size=((-1, -1),),
    ),
    "conformer-limited-conv-lr": lambda: conformer(
        "regular", conv_context_size=(3, 1), att_context_size=((5, 3),)
    ),
    "conformer-chunked": lambda: conformer("chunked_limited"),
    "transformer-rotary-full": lambda: transformer("regular", att_context_size=((-1, -1),)),
    "transformer-absolute": lambda: transformer("chunked_limited", pos_emb="absolute"),
}


@pytest.mark.parametrize("name", sorted(OFFLINE))
@torch.no_grad()
def test_padded_batch_equals_single(name: str) -> None:
    enc = OFFLINE[name]()
    lengths = torch.tensor([61, 17, 40, 3])
    feats = torch.randn(4, 61, FEAT)
    feats[1, 17:] = 1e3  # garbage in the padding must not leak
    out, out_lens = enc(feats, lengths)
    for b in range(4):
        ref, ref_len = enc(feats[b : b + 1, : lengths[b]], lengths[b : b + 1])
        assert out_lens[b] == ref_len[0]
        torch.testing.assert_close(out[b, : out_lens[b]], ref[0, : ref_len[0]], atol=1e-5, rtol=0)
        assert out[b, out_lens[b] :].abs().sum() == 0


def _last_seen_frame(k: int, left: int, right: int, style: str) -> int:
    """Highest encoder-input frame output frame k may depend on through L=2 layers."""
    if style == "chunked_limited":
        return (k // (right + 1) + 1) * (right + 1) - 1
    return k + 2 * right


@pytest.mark.parametrize("style", ["regular", "chunked_limited"])
@torch.no_grad()
def test_future_frames_outside_lookahead_never_seen(style: str) -> None:
    """Perturb raw frame r: outputs that may not see it are bit-identical, the others change."""
    enc = conformer(style, subsampling_factor=4)
    s, t = 4, 64
    feats = torch.randn(1, t, FEAT)
    for lookahead, (left, right) in enumerate(CONTEXTS):
        base, n = enc(feats, torch.tensor([t]), lookahead=lookahead)
        for r in (20, 33, 50):
            bumped = feats.clone()
            bumped[0, r] += 5.0
            out, _ = enc(bumped, torch.tensor([t]), lookahead=lookahead)
            first_touched = -(-r // s)  # subsampled frames k with s*k >= r depend on raw frame r
            for k in range(int(n[0])):
                changed = not torch.equal(out[0, k], base[0, k])
                may_see = _last_seen_frame(k, left, right, style) >= first_touched
                assert changed == may_see, f"ctx {lookahead}, raw {r}, frame {k}: changed={changed}"


@torch.no_grad()
def test_left_context_limit() -> None:
    """A frame far in the past (beyond 2 layers of left context) does not reach a late output."""
    enc = transformer("regular", att_context_size=((3, 0),), n_layers=2)
    feats = torch.randn(1, 80, FEAT)
    base, _ = enc(feats, torch.tensor([80]))
    bumped = feats.clone()
    bumped[0, 4] += 5.0  # reaches subsampled frames 1..2 and, through 2 layers of 3 left, up to 8
    out, _ = enc(bumped, torch.tensor([80]))
    assert torch.equal(out[0, 9:], base[0, 9:])
    assert not torch.equal(out[0, 1:9], base[0, 1:9])


def test_training_samples_contexts() -> None:
    enc = conformer("chunked_limited", conv_norm_type="layer_norm").train()
    feats, lens = torch.randn(2, 40, FEAT), torch.tensor([40, 31])
    with torch.no_grad():
        fixed = [enc(feats, lens, lookahead=i)[0] for i in range(len(CONTEXTS))]
        seen = set()
        for _ in range(30):
            out, _ = enc(feats, lens)
            match = [i for i, f in enumerate(fixed) if torch.equal(out, f)]
            assert len(match) == 1
            seen.add(match[0])
    assert seen == set(range(len(CONTEXTS)))
    enc.eval()
    with torch.no_grad():
        torch.testing.assert_close(enc(feats, lens)[0], enc(feats, lens, lookahead=0)[0])


def test_config_round_trip() -> None:
    cfg = ConformerConfig(att_context_size=((70, 13), (70, 0)), conv_context_size="causal")
    assert from_dict(ConformerConfig, to_dict(cfg)) == cfg
    tcfg = TransformerConfig(pos_emb="absolute", att_context_size=((32, 2),))
    assert from_dict(TransformerConfig, to_dict(tcfg)) == tcfg
    cfg2 = from_dict(ConformerConfig, {"conv_context_size": [8, 0], "att_context_size": [[4, 1]]})
    assert cfg2.conv_context_size == (8, 0) and cfg2.att_context_size == ((4, 1),)


def test_streaming_errors() -> None:
    with pytest.raises(StreamingError, match="causal_downsampling"):
        conformer("regular", causal_downsampling=False).init_state(1)
    with pytest.raises(StreamingError, match="conv_context_size"):
        conformer("regular", conv_context_size="symmetric").init_state(1)
    with pytest.raises(StreamingError, match="limited context"):
        conformer("regular", att_context_size=((-1, 0),)).init_state(1)
    enc = conformer("regular")
    with pytest.raises(StreamingError, match="out of range"):
        enc.init_state(1, lookahead=5)
    state = enc.init_state(2)
    with pytest.raises(StreamingError, match="chunk must be"):
        enc.stream_step(torch.randn(3, 8, FEAT), torch.tensor([8, 8, 8]), state)
    with pytest.raises(StreamingError, match="chunk_lens"):
        enc.stream_step(torch.randn(2, 8, FEAT), torch.tensor([9, 8]), state)
    other = transformer("regular").init_state(1)
    with pytest.raises(StreamingError, match="layout"):
        EncoderState.stack([state, other])
    with pytest.raises(ValueError, match="att_context_style"):
        conformer("sliding")
    with pytest.raises(ValueError, match="conv_context_size"):
        conformer("regular", conv_context_size=(2, 1))


def test_state_select_stack_round_trip() -> None:
    enc = conformer("chunked_limited")
    state = enc.init_state(3, lookahead=[0, 1, 2])
    _, _, state = enc.stream_step(torch.randn(3, 30, FEAT), torch.tensor([30, 12, 0]), state)
    again = EncoderState.stack([state.select([2]), state.select([0, 1])]).select([1, 2, 0])
    for key, val in vars(state).items():
        assert torch.equal(val, getattr(again, key)), key
    assert state.lookahead.tolist() == [0, 1, 2] and state.right.tolist() == [c[1] for c in CONTEXTS]
