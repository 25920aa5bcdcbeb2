"""Decoding test helpers (not a test module): tiny random transducers, a per-stream greedy oracle,
a chunked driver."""

from __future__ import annotations

import math
import random

import pytest
import torch
from torch import Tensor
from transduce.asr.decoding import Decoder, Hypothesis
from transduce.asr.heads import Joiner, JoinerConfig, Predictor, PredictorConfig

ENC_DIM = 6


def tiny_transducer(kind: str = "lstm", vocab: int = 7, durations: tuple[int, ...] = (),
                    blank_bias: float = 0.0, seed: int = 0) -> tuple[Predictor, Joiner]:
    """A random predictor + joiner in eval mode; `blank_bias` is added to the blank logit."""
    torch.manual_seed(seed)
    pred = Predictor(PredictorConfig(vocab, embed_dim=8, kind=kind, hidden=10, context_size=2)).eval()
    joiner = Joiner(JoinerConfig(ENC_DIM, pred.out_dim, vocab, joint_dim=12, durations=durations)).eval()
    with torch.no_grad():
        joiner.out.weight.mul_(3.0)  # sharper softmaxes: near-ties (float-order sensitive) get rarer
        joiner.out.bias[0] += blank_bias
    return pred, joiner


@torch.no_grad()
def greedy_oracle(pred: Predictor, joiner: Joiner, enc: Tensor, max_symbols: int) -> Hypothesis:
    """Plain single-stream greedy RNN-T/TDT over encoder frames `enc` (T, E), written as the papers do."""
    durations = joiner.durations
    state = pred.init_state(1)
    out, state = pred.step(torch.zeros(1, dtype=torch.long), state)
    t, sym, score = 0, 0, 0.0
    toks, frames, confs, durs = [], [], [], []
    while t < enc.shape[0]:
        tok_logits, dur_logits = joiner.split(joiner(enc[t].view(1, 1, -1), out.view(1, 1, -1))[0, 0, 0])
        lp = torch.log_softmax(tok_logits.double(), -1)
        k = int(tok_logits.argmax())
        d = 0
        if durations:
            dlp = torch.log_softmax(dur_logits.double(), -1)
            di = int(dur_logits.argmax())
            d, score = durations[di], score + float(dlp[di])
        score += float(lp[k])
        if k == 0:
            t, sym = t + max(d, 1), 0
            continue
        toks.append(k), frames.append(t), confs.append(math.exp(float(lp[k]))), durs.append(d)
        out, state = pred.step(torch.tensor([k]), state)
        if d > 0:
            t, sym = t + d, 0
        else:
            sym += 1
            if sym == max_symbols:
                t, sym = t + 1, 0
    return Hypothesis(toks, frames, confs, score, durs if durations else [])


def ragged(batch: int, t_max: int, width: int, gen: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Random (B, T, W) input and lengths (B,) in [0, T] with the longest exactly T; padding is noise."""
    x = torch.randn(batch, t_max, width, generator=gen)
    lens = torch.randint(0, t_max + 1, (batch,), generator=gen)
    lens[0] = t_max
    return x, lens


def decode_in_chunks(decoder: Decoder, xs: list[Tensor], seed: int, max_chunk: int = 5) -> list[Hypothesis]:
    """Decode streams `xs` (each (T_b, W)) in random chunks, re-batching random subsets each round.

    Each round stacks the single-stream states of a random subset (in random order, finished
    streams included: they get empty chunks), pads the chunk with noise, decodes, and splits the
    state back with `select`.
    """
    rng = random.Random(seed)
    width, device = xs[0].shape[1], xs[0].device
    states = [decoder.init_state(1, device) for _ in xs]
    pos = [0] * len(xs)
    while any(p < len(x) for p, x in zip(pos, xs)):
        pick = rng.sample(range(len(xs)), rng.randint(1, len(xs)))
        lens = [min(rng.randint(0, max_chunk), len(xs[i]) - pos[i]) for i in pick]
        t = max(lens) + rng.randint(0, 2)
        x = torch.randn(len(pick), t, width, device=device)
        for j, (i, n) in enumerate(zip(pick, lens)):
            x[j, :n] = xs[i][pos[i]:pos[i] + n]
            pos[i] += n
        state = type(states[0]).stack([states[i] for i in pick])
        state = decoder.decode_chunk(x, torch.tensor(lens, device=device), state)
        for j, i in enumerate(pick):
            states[i] = state.select([j])
    return [decoder.best(s)[0] for s in states]


def assert_same_hyp(got: Hypothesis, want: Hypothesis) -> None:
    """Same tokens, frames and durations exactly; confidences and score to float precision."""
    assert got.tokens == want.tokens
    assert got.frames == want.frames
    assert got.durations == want.durations
    assert got.confidences == pytest.approx(want.confidences, rel=1e-4, abs=1e-6)
    assert got.score == pytest.approx(want.score, rel=1e-5, abs=1e-4)
