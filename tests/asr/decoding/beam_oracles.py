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


def tiny_transducer(vocab: int, kind: str = "lstm", durations: tuple[int, ...] = (), enc_dim: int = 5,
                    seed: int = 0, sharpness: float = 2.0):
    """A random predictor + joiner (eval mode) with sharpened output logits."""
    from transduce.asr.heads import Joiner, JoinerConfig, Predictor, PredictorConfig

    torch.manual_seed(seed)
    pred = Predictor(PredictorConfig(vocab, embed_dim=6, kind=kind, hidden=7, context_size=2, dropout=0.0))
    joiner = Joiner(JoinerConfig(enc_dim, pred.out_dim, vocab, joint_dim=9, durations=durations))
    with torch.no_grad():
        joiner.out.weight.mul_(sharpness)
    return pred.eval(), joiner.eval()


class TransducerOracle:
    """float64 copies of a predictor + joiner; log-probs of (frame, history) memoised."""

    def __init__(self, pred, joiner, enc: torch.Tensor) -> None:
        import copy

        self.pred = copy.deepcopy(pred).double()
        self.joiner = copy.deepcopy(joiner).double()
        self.enc = enc.double()
        self._out: dict[tuple[int, ...], tuple] = {}
        self._lp: dict[tuple[int, tuple[int, ...]], tuple[list[float], list[float]]] = {}

    @torch.no_grad()
    def _pred_out(self, history: tuple[int, ...]):
        if history not in self._out:
            if not history:
                self._out[history] = self.pred.step(torch.zeros(1, dtype=torch.long), self.pred.init_state(1))
            else:
                _, state = self._pred_out(history[:-1])
                self._out[history] = self.pred.step(torch.tensor([history[-1]]), state)
        return self._out[history]

    @torch.no_grad()
    def logprobs(self, t: int, history: tuple[int, ...]) -> tuple[list[float], list[float]]:
        """(token log-probs (V), duration log-probs (D)) at frame t after emitting `history`."""
        key = (t, history)
        if key not in self._lp:
            out, _ = self._pred_out(history)
            logits = self.joiner(self.enc[t].view(1, 1, -1), out.view(1, 1, -1))[0, 0, 0]
            tok, dur = self.joiner.split(logits)
            self._lp[key] = (torch.log_softmax(tok, -1).tolist(),
                             torch.log_softmax(dur, -1).tolist() if dur.numel() else [])
        return self._lp[key]


def modified_rnnt_sequences(oracle: TransducerOracle, n_t: int, vocab: int) -> dict[tuple[int, ...], float]:
    """log sum over all alignments with <= 1 symbol per frame, per token sequence (all V^T paths)."""
    acc: dict[tuple[int, ...], list[float]] = {}
    for path in itertools.product(range(vocab), repeat=n_t):
        hist, score = (), 0.0
        for t, y in enumerate(path):
            score += oracle.logprobs(t, hist)[0][y]
            if y != 0:
                hist = hist + (y,)
        acc.setdefault(hist, []).append(score)
    return {k: logsumexp(v) for k, v in acc.items()}


def rnnt_greedy_one_symbol(oracle: TransducerOracle, n_t: int):
    """Greedy decoding with at most one symbol per frame: tokens, frames, confidences, score."""
    hist, frames, confs, score = (), [], [], 0.0
    for t in range(n_t):
        lp = oracle.logprobs(t, hist)[0]
        y = max(range(len(lp)), key=lp.__getitem__)
        score += lp[y]
        if y != 0:
            hist, frames, confs = hist + (y,), frames + [t], confs + [math.exp(lp[y])]
    return list(hist), frames, confs, score


def tdt_sequences(oracle: TransducerOracle, n_t: int, vocab: int, durations: tuple[int, ...],
                  max_symbols: int) -> dict[tuple[int, ...], float]:
    """log sum over all TDT paths per token sequence, by recursion over (frame, history, symbols).

    Blank needs d > 0; a token with d = 0 stays on the frame unless it is the frame's
    `max_symbols`-th, which advances one frame; a path ends on reaching or passing frame n_t.
    """
    acc: dict[tuple[int, ...], list[float]] = {}

    def walk(t, hist, sym, score):
        if t >= n_t:
            acc.setdefault(hist, []).append(score)
            return
        lp_v, lp_d = oracle.logprobs(t, hist)
        for v in range(vocab):
            for i, d in enumerate(durations):
                if v == 0 and d == 0:
                    continue
                s = score + lp_v[v] + lp_d[i]
                if v == 0:
                    walk(t + d, hist, 0, s)
                elif d > 0:
                    walk(t + d, hist + (v,), 0, s)
                elif sym + 1 == max_symbols:
                    walk(t + 1, hist + (v,), 0, s)
                else:
                    walk(t, hist + (v,), sym + 1, s)

    walk(0, (), 0, 0.0)
    return {k: logsumexp(v) for k, v in acc.items()}


def tdt_greedy(oracle: TransducerOracle, n_t: int, durations: tuple[int, ...], max_symbols: int):
    """Greedy TDT (argmax token, argmax duration): tokens, frames, durations, score, and whether
    it ever took blank with duration 0 (where greedy forces one frame)."""
    t, sym, hist, frames, durs, score, blank_zero = 0, 0, (), [], [], 0.0, False
    while t < n_t:
        lp_v, lp_d = oracle.logprobs(t, hist)
        v = max(range(len(lp_v)), key=lp_v.__getitem__)
        i = max(range(len(lp_d)), key=lp_d.__getitem__)
        d, score = durations[i], score + lp_v[v] + lp_d[i]
        if v == 0:
            blank_zero |= d == 0
            t, sym = t + max(d, 1), 0
            continue
        hist, frames, durs = hist + (v,), frames + [t], durs + [d]
        sym = sym + 1 if d == 0 else 0
        if d > 0 or sym == max_symbols:
            t, sym = t + max(d, 1), 0
    return list(hist), frames, durs, score, blank_zero
