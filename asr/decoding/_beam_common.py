"""Pieces shared by the batched transducer beam searches (modified RNN-T beam, TDT beam).

Shapes: see NOTATION.md (B streams, W beam: hypothesis slots per stream, V vocabulary incl.
blank); n_cand: candidates per stream, steps: search steps of a chunk.

Hypotheses live in fixed (B, W) slots; an empty slot has score -inf. Token sequences are compared
through a 62-bit key: two independent polynomial hashes modulo primes below 2^31, updated per
emitted token on the device (no host sync); two different sequences share a key with probability
about 2^-62 per pair. The tokens, frames and confidences of each slot are rebuilt on the host once
per chunk by following the per-step back-pointers (`traceback`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from transduce.asr.decoding.context_graph import ContextGraph
from transduce.asr.decoding.results import Hypothesis
from transduce.asr.heads.joiner import Joiner
from transduce.asr.heads.predictor import Predictor, PredictorState
from transduce.asr.tokenizers.base import BLANK_ID
from transduce.kernels.beam import log_softmax_topk

__all__ = ["NO_TOKEN", "Seq", "Step", "extend_keys", "merge_equal", "context_bias", "advance_nodes",
           "traceback", "final_penalties", "ranked_hypotheses", "token_topk", "step_predictor"]

NO_TOKEN = -1  # a step that emitted nothing (blank, or a hypothesis carried over unchanged)
_P1, _M1 = 1_000_003, 2_147_483_647
_P2, _M2 = 999_983, 2_147_483_629
_LOW = (1 << 31) - 1


@dataclass(frozen=True)
class Seq:
    """The host-side part of one hypothesis: tokens with their global frames, confidences, durations."""

    tokens: tuple[int, ...] = ()
    frames: tuple[int, ...] = ()
    confs: tuple[float, ...] = ()
    durations: tuple[int, ...] = ()


@dataclass(frozen=True)
class Step:
    """Back-pointers of one search step, all (B, W): parent slot, token (NO_TOKEN: none), its global
    frame, confidence and duration (TDT; 0 otherwise)."""

    parent: Tensor
    token: Tensor
    frame: Tensor
    conf: Tensor
    duration: Tensor


def extend_keys(keys: Tensor, tokens: Tensor, emit: Tensor) -> Tensor:
    """Sequence keys (...) after appending `tokens` (...) where `emit` (...) is true."""
    h1, h2 = keys >> 31, keys & _LOW
    t = tokens.clamp_min(0) + 1
    n1 = (h1 * _P1 + t) % _M1
    n2 = (h2 * _P2 + t) % _M2
    return torch.where(emit, (n1 << 31) | n2, keys)


def merge_equal(scores: Tensor, keys: Tensor) -> Tensor:
    """Scores (B, n_cand) with candidates of equal key log-added into the best of them, the others -inf.

    Sorting by score, then stably by key, puts each key's candidates side by side, best first;
    the sums are segment reductions, so time is O(n log n) and memory O(n) per stream for n = n_cand
    (a pairwise comparison would take (B, n_cand, n_cand): gigabytes for a wide beam over a large
    vocabulary).
    """
    neg_inf = float("-inf")
    by_score = scores.argsort(dim=1, descending=True, stable=True)
    by_key = keys.gather(1, by_score).argsort(dim=1, stable=True)
    order = by_score.gather(1, by_key)  # grouped by key, best score first within a group
    s, k = scores.gather(1, order), keys.gather(1, order)
    first = torch.ones_like(s, dtype=torch.bool)
    first[:, 1:] = k[:, 1:] != k[:, :-1]
    group = first.long().cumsum(1) - 1  # (B, n_cand): index of each candidate's key group in its row
    position = torch.arange(s.shape[1], device=s.device).expand_as(group)
    leader = position.masked_fill(~first, 0).cummax(1).values  # where each candidate's group starts
    peak = s.gather(1, leader)  # the group's best score
    shifted = torch.where(s > neg_inf, (s - peak.masked_fill(peak == neg_inf, 0.0)).exp(), 0.0)
    total = torch.zeros_like(s).scatter_add_(1, group, shifted).gather(1, group)
    merged = torch.where(first & (s > neg_inf), peak + total.log(), neg_inf)
    return torch.empty_like(scores).scatter_(1, order, merged)


def _groups(contexts: Sequence[ContextGraph | None]) -> list[tuple[ContextGraph, list[int]]]:
    """Streams grouped by the graph they share (identity), streams without a graph left out."""
    by_id: dict[int, tuple[ContextGraph, list[int]]] = {}
    for b, g in enumerate(contexts):
        if g is not None:
            by_id.setdefault(id(g), (g, []))[1].append(b)
    return list(by_id.values())


def context_bias(contexts: Sequence[ContextGraph | None], nodes: Tensor, vocab_size: int) -> Tensor | None:
    """Hotword credit change (B, W, V) of every next token from graph states `nodes` (B, W), or None."""
    groups = _groups(contexts)
    if not groups:
        return None
    n_b, n_w = nodes.shape
    bias = torch.zeros(n_b, n_w, vocab_size, device=nodes.device)
    for graph, streams in groups:
        idx = torch.tensor(streams, device=nodes.device)
        rows = nodes.index_select(0, idx)
        bias[idx] = graph.bias(rows.reshape(-1), vocab_size).view(len(streams), n_w, vocab_size)
    return bias


def advance_nodes(contexts: Sequence[ContextGraph | None], nodes: Tensor, tokens: Tensor,
                  vocab_size: int) -> Tensor:
    """Graph states (B, W) after `tokens` (B, W) (NO_TOKEN keeps the state) from `nodes` (B, W)."""
    groups = _groups(contexts)
    if not groups:
        return nodes
    out = nodes.clone()
    for graph, streams in groups:
        idx = torch.tensor(streams, device=nodes.device)
        tok = tokens.index_select(0, idx)
        n = nodes.index_select(0, idx)
        moved = graph.advance(n.reshape(-1), tok.clamp_min(0).reshape(-1), vocab_size).view_as(n)
        out[idx] = torch.where(tok >= 0, moved, n)
    return out


def final_penalties(contexts: Sequence[ContextGraph | None], nodes: Tensor) -> list[list[float]]:
    """Per slot (B x W): minus the boost of an unfinished hotword match (0 without a graph)."""
    rows = nodes.tolist()
    return [[g.final_penalty(n) if g is not None else 0.0 for n in row] for g, row in zip(contexts, rows)]


def traceback(steps: list[Step], seqs: list[list[Seq]]) -> list[list[Seq]]:
    """The host-side hypotheses (B x W) after `steps`, starting from `seqs` (B x W) at chunk start."""
    if not steps:
        return seqs
    n_b, n_w = steps[0].parent.shape
    idx = torch.arange(n_w, device=steps[0].parent.device).expand(n_b, n_w)
    picked = []
    for st in reversed(steps):
        picked.append(torch.stack([x.gather(1, idx).double() for x in (st.token, st.frame, st.conf,
                                                                       st.duration)]))
        idx = st.parent.gather(1, idx)
    path = torch.stack(picked[::-1]).cpu()  # (steps, 4, B, W), first step first
    origin = idx.cpu().tolist()
    out = []
    for b in range(n_b):
        row = []
        for w in range(n_w):
            emitted = path[:, :, b, w]
            emitted = emitted[emitted[:, 0] >= 0]
            base = seqs[b][origin[b][w]]
            row.append(Seq(base.tokens + tuple(int(x) for x in emitted[:, 0].tolist()),
                           base.frames + tuple(int(x) for x in emitted[:, 1].tolist()),
                           base.confs + tuple(emitted[:, 2].tolist()),
                           base.durations + tuple(int(x) for x in emitted[:, 3].tolist())))
        out.append(row)
    return out


def ranked_hypotheses(scores: Tensor, nodes: Tensor, seqs: list[list[Seq]],
                      contexts: list[ContextGraph | None], durations: bool) -> list[list[Hypothesis]]:
    """Per stream, the finite-score slots (B, W) as Hypothesis objects, best first; unfinished
    hotword matches taken back; TDT durations kept if `durations`."""
    penalties = final_penalties(contexts, nodes)
    out = []
    for row, seq_row, pen in zip(scores.tolist(), seqs, penalties):
        hyps = [Hypothesis(list(q.tokens), list(q.frames), list(q.confs), s + p,
                           list(q.durations) if durations else [])
                for s, q, p in zip(row, seq_row, pen) if s > float("-inf")]
        out.append(sorted(hyps, key=lambda h: h.score, reverse=True))
    return out


def token_topk(logits: Tensor, nodes: Tensor, contexts: Sequence[ContextGraph | None], k: int,
               ) -> tuple[Tensor, Tensor, Tensor]:
    """(ranking values, tokens, log-probs), each (B, W, k), of token logits (B, W, V).

    Without hotwords the ranking values are the log-probs (kernels.log_softmax_topk: fused Triton on
    CUDA); with them, the log-probs plus the hotword credit change of each token (torch).
    """
    bias = context_bias(contexts, nodes, logits.shape[-1])
    if bias is None:
        values, tokens = log_softmax_topk(logits, k)
        return values, tokens, values
    logp = torch.log_softmax(logits.float(), dim=-1)
    ranked, tokens = (logp + bias).topk(k, dim=-1)
    return ranked, tokens, logp.gather(-1, tokens)


def step_predictor(predictor: Predictor, joiner: Joiner, pred: PredictorState, pred_out: Tensor,
                   parent: Tensor, tokens: Tensor, emit: Tensor) -> tuple[PredictorState, Tensor]:
    """Predictor state (B*W rows) and projected output (B, W, J) of new hypotheses: each takes its
    parent slot's (B, W) and, where `emit` (B, W), steps on its token (one batched step for all)."""
    n_b, n_w = parent.shape
    rows = (torch.arange(n_b, device=parent.device)[:, None] * n_w + parent).reshape(-1)
    parents = pred.select(rows)
    out_old = pred_out.reshape(n_b * n_w, -1).index_select(0, rows)
    out, stepped = predictor.step(tokens.clamp_min(BLANK_ID).reshape(-1), parents)
    mask = emit.reshape(-1)
    out_new = torch.where(mask[:, None], joiner.pred_proj(out), out_old)
    return stepped.where(mask, parents), out_new.view(n_b, n_w, -1)
