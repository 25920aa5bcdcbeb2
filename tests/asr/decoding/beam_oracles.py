"""Brute-force oracles and helpers shared by the beam-search tests (plain loops, float64)."""

from __future__ import annotations

import itertools
import math
import random

import torch


def logsumexp(xs):
    xs = [x for x in xs if x > -math.inf]
    if not xs:
        return -math.inf
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def ctc_sequence_logprobs(logits: torch.Tensor, blank: int = 0) -> dict[tuple[int, ...], float]:
    """log P(y) for every label sequence y, by enumerating all V^T alignments of logits (T, V)."""
    lp = torch.log_softmax(logits.double(), -1).tolist()
    n_t, n_v = len(lp), len(lp[0])
    acc: dict[tuple[int, ...], list[float]] = {}
    for path in itertools.product(range(n_v), repeat=n_t):
        seq, prev = [], None
        for s in path:
            if s != blank and s != prev:
                seq.append(s)
            prev = s
        acc.setdefault(tuple(seq), []).append(sum(lp[t][s] for t, s in enumerate(path)))
    return {k: logsumexp(v) for k, v in acc.items()}


def ctc_greedy(logits: torch.Tensor, blank: int = 0) -> tuple[list[int], list[int]]:
    """Tokens and first frames of the argmax path of logits (T, V), collapsed."""
    tokens, frames, prev = [], [], None
    for t, s in enumerate(logits.argmax(-1).tolist()):
        if s != blank and s != prev:
            tokens.append(s)
            frames.append(t)
        prev = s
    return tokens, frames


def random_splits(rng: random.Random, total: int, n_max: int = 4) -> list[int]:
    """Chunk boundaries 0 = c0 < ... = total (random, possibly with empty chunks)."""
    cuts = sorted(rng.randint(0, total) for _ in range(rng.randint(0, n_max)))
    return [0, *cuts, total]


def decode_in_chunks(decoder, x, x_lens, bounds, **init_kw):
    """Run decoder over x (B, T, W) cut at `bounds`; each stream gets the valid part of each chunk."""
    state = decoder.init_state(x.shape[0], x.device, **init_kw)
    for a, b in zip(bounds[:-1], bounds[1:]):
        lens = (x_lens - a).clamp(0, b - a)
        state = decoder.decode_chunk(x[:, a:b], lens, state)
    return state
