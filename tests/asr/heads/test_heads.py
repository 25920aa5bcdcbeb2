"""Heads: predictor step == teacher-forced forward, state select/stack/where, joiner broadcasting."""

from __future__ import annotations

import pytest
import torch
from transduce.asr.heads import (
    CTCHead,
    CTCHeadConfig,
    Joiner,
    JoinerConfig,
    Predictor,
    PredictorConfig,
    PredictorState,
)

V = 11


def _predictor(kind: str, context_size: int = 2) -> Predictor:
    torch.manual_seed(0)
    return Predictor(PredictorConfig(V, embed_dim=12, kind=kind, context_size=context_size, hidden=10,
                                     num_layers=2)).eval()


@pytest.mark.parametrize("kind,context", [("stateless", 1), ("stateless", 2), ("stateless", 4), ("lstm", 2)])
@torch.no_grad()
def test_step_equals_forward(kind, context):
    pred = _predictor(kind, context)
    targets = torch.randint(1, V, (3, 6))
    full = pred(targets)
    assert full.shape == (3, 7, pred.out_dim)
    state = pred.init_state(3)
    out, state = pred.step(torch.zeros(3, dtype=torch.long), state)
    steps = [out]
    for u in range(6):
        out, state = pred.step(targets[:, u], state)
        steps.append(out)
    torch.testing.assert_close(torch.stack(steps, 1), full, rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_stateless_sees_only_its_context():
    pred = _predictor("stateless", 2)
    a = torch.tensor([[3, 4, 5, 6]])
    b = torch.tensor([[7, 4, 5, 6]])  # differs only at y_1
    out_a, out_b = pred(a), pred(b)
    assert not torch.allclose(out_a[:, 1:3], out_b[:, 1:3])  # y_1 is within reach of positions 1, 2
    torch.testing.assert_close(out_a[:, 3:], out_b[:, 3:], rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["stateless", "lstm"])
@torch.no_grad()
def test_state_select_stack_where(kind):
    pred = _predictor(kind, 3)
    state = pred.init_state(4)
    _, state = pred.step(torch.tensor([0, 0, 0, 0]), state)
    _, state = pred.step(torch.tensor([2, 3, 4, 5]), state)
    parts = [state.select([2]), state.select([0, 3])]
    both = PredictorState.stack(parts)
    out_both, _ = pred.step(torch.tensor([6, 6, 6]), both)
    out_all, _ = pred.step(torch.tensor([6, 6, 6, 6]), state)
    torch.testing.assert_close(out_both, out_all[[2, 0, 3]], rtol=1e-6, atol=1e-6)  # batch size changes bits
    _, moved = pred.step(torch.tensor([7, 7, 7, 7]), state)
    mixed = moved.where(torch.tensor([True, False, True, False]), state)
    for i, src in enumerate([moved, state, moved, state]):
        for name in ("history", "h", "c"):
            assert torch.equal(getattr(mixed, name)[i], getattr(src, name)[i])
    with pytest.raises(ValueError, match="empty"):
        PredictorState.stack([])


def test_joiner_shapes_and_split():
    joiner = Joiner(JoinerConfig(enc_dim=8, pred_dim=6, vocab_size=V, joint_dim=16, durations=(0, 1, 2)))
    enc, pred = torch.randn(2, 5, 8), torch.randn(2, 4, 6)
    logits = joiner(enc, pred)
    assert logits.shape == (2, 5, 4, V + 3)
    # every (t, u) cell equals the joint of that frame and that history alone
    cell = joiner.joint(joiner.enc_proj(enc[1, 3]), joiner.pred_proj(pred[1, 2]))
    torch.testing.assert_close(logits[1, 3, 2], cell)
    tokens, durations = joiner.split(logits)
    assert tokens.shape[-1] == V and durations.shape[-1] == 3


def test_heads_refuse_bad_settings():
    with pytest.raises(ValueError, match="durations"):
        Joiner(JoinerConfig(4, 4, V, durations=(0,)))
    with pytest.raises(ValueError, match="distinct"):
        Joiner(JoinerConfig(4, 4, V, durations=(1, 1)))
    with pytest.raises(ValueError, match="activation"):
        Joiner(JoinerConfig(4, 4, V, activation="gelu"))
    with pytest.raises(ValueError, match="kind"):
        Predictor(PredictorConfig(V, kind="gru"))
    with pytest.raises(ValueError, match="vocab_size"):
        CTCHead(CTCHeadConfig(4, 1))
    assert CTCHead(CTCHeadConfig(4, V))(torch.randn(2, 3, 4)).shape == (2, 3, V)
