"""Batched beam search over sources, groups and beams for TextSeq2Seq (the core of
`asr.text.decoding.beam_search` and `diverse_beam_search`).

Rows are laid out source-major: row (b, g, w) = (b * G + g) * Wg + w, with G groups of Wg beams
(plain beam search: G = 1). Each step feeds every row's last token through the KV cache, then
selects group by group, since group g's diversity penalty counts the tokens groups 0..g-1 chose at
this step. Selection per group (as fairseq does): the top 2 Wg extensions by cumulative objective;
those among the top Wg that end in eos become final hypotheses; the best Wg that do not end in
eos live on. A group stops once it holds Wg final hypotheses; at max_len its live beams are added
as unfinished ones (best first) up to Wg.

Shapes: see NOTATION.md (B sources, T' source tokens, V, W beam width); G groups, Wg = W / G beams
per group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from transduce.asr.text.models import TextSeq2Seq

__all__ = ["Hypothesis", "LengthNorm", "length_penalty", "search"]

LengthNorm = Literal["gnmt", "power"]


@dataclass(frozen=True)
class Hypothesis:
    """One n-best entry. tokens: output ids (bos and eos excluded); logprob: the model's log-probability
    of tokens (and of eos after them when finished); score: the ranking score, objective / length
    penalty, where the objective is logprob minus the diversity penalties paid (= logprob in plain
    beam search); finished: ended with eos (else cut at max_len)."""

    tokens: tuple[int, ...]
    score: float
    logprob: float
    finished: bool


def length_penalty(n: int, alpha: float, norm: LengthNorm = "gnmt") -> float:
    """Divisor of the objective of a hypothesis of n tokens (eos counted): "gnmt" ((5 + n) / 6)^alpha
    (Wu et al. 2016, GNMT), "power" n^alpha (n >= 1). alpha = 0 ranks by the raw objective."""
    if norm == "gnmt":
        return ((5.0 + n) / 6.0) ** alpha
    if norm == "power":
        return float(max(n, 1)) ** alpha
    raise ValueError(f"unknown length normalisation {norm!r}; expected 'gnmt' or 'power'")


@dataclass
class _Groups:
    """Search state: objective and logprob (B, G, Wg), the rows' tokens so far (B*G*Wg, t), final lists."""

    objective: Tensor
    logprob: Tensor
    history: Tensor
    final: list[list[list[Hypothesis]]]
    done: Tensor  # (B, G) bool: the group holds Wg final hypotheses


def search(model: TextSeq2Seq, src: Tensor, src_lens: Tensor, groups: int, width: int, max_len: int,
           alpha: float, norm: LengthNorm, diversity: float) -> list[list[list[Hypothesis]]]:
    """n-best lists [source][group] (at most `width` each, best first) of G groups of `width` beams."""
    b, device = src.shape[0], src.device
    bos, eos = model.cfg.bos_id, model.cfg.eos_id
    memory, memory_lens = model.encode(src, src_lens)
    rows = torch.arange(b, device=device).repeat_interleave(groups * width)
    cache = model.init_cache(memory, memory_lens).select(rows)
    dtype = torch.promote_types(memory.dtype, torch.float32)
    objective = torch.full((b, groups, width), float("-inf"), dtype=dtype, device=device)
    objective[..., 0] = 0.0  # one live beam per group at the start, so the beams do not repeat it
    state = _Groups(objective, torch.zeros_like(objective), rows.new_zeros(rows.numel(), 0),
                    [[[] for _ in range(groups)] for _ in range(b)],
                    torch.zeros(b, groups, dtype=torch.bool, device=device))
    prev = torch.full((rows.numel(), 1), bos, dtype=torch.long, device=device)
    for t in range(max_len):
        logits, cache = model.step(prev, cache)
        logp = F.log_softmax(_at_least_float32(logits[:, -1]), dim=-1)
        logp = logp.view(b, groups, width, -1)  # (B, G, Wg, V)
        index, tokens = _select(state, logp, t, eos, alpha, norm, diversity)
        state.history = torch.cat([state.history[index], tokens[:, None]], dim=1)
        cache = cache.select(index, same_memory=True)
        prev = tokens[:, None]
        if bool(state.done.all()):
            break
    _add_unfinished(state, alpha, norm)
    return [[sorted(hyps, key=lambda h: -h.score) for hyps in per_src] for per_src in state.final]


def _at_least_float32(x: Tensor) -> Tensor:
    """x in float32, or float64 if it is float64 (log-probabilities of half-precision logits)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _select(state: _Groups, logp: Tensor, t: int, eos: int, alpha: float, norm: LengthNorm,
            diversity: float) -> tuple[Tensor, Tensor]:
    """One step of every group: finalise eos extensions, keep Wg live ones; return the row each new
    row continues (B*G*Wg,) and its new token (B*G*Wg,)."""
    b, groups, width, v = logp.shape
    penalty = logp.new_zeros(b, v)  # (B, V) times each token was chosen by earlier groups this step
    base = torch.arange(b, device=logp.device)[:, None] * groups
    index, chosen = [], []
    for g in range(groups):
        cand = state.objective[:, g, :, None] + logp[:, g]  # (B, Wg, V)
        if diversity and g:
            cand = cand - diversity * penalty[:, None, :]
        k = min(2 * width, width * v)
        top, flat = cand.reshape(b, -1).topk(k, dim=1)  # (B, k), best first
        beam, tok = flat // v, flat % v
        true = state.logprob[:, g].gather(1, beam) + logp[:, g].reshape(b, -1).gather(1, flat)
        rows = (base + g) * width + beam  # (B, k) rows extended
        _finalize(state, g, top[:, :width], true[:, :width], rows[:, :width], tok[:, :width] == eos,
                  t + 1, alpha, norm)
        live = ((tok == eos).long() * k + torch.arange(k, device=tok.device)).argsort(dim=1)[:, :width]
        state.objective[:, g] = top.gather(1, live)
        state.logprob[:, g] = true.gather(1, live)
        tok_live = tok.gather(1, live)  # (B, Wg)
        counts = ~state.done[:, g, None] & torch.isfinite(state.objective[:, g])  # (B, Wg) live beams
        penalty.scatter_add_(1, tok_live, counts.to(penalty.dtype))
        index.append(rows.gather(1, live))
        chosen.append(tok_live)
    return torch.stack(index, dim=1).reshape(-1), torch.stack(chosen, dim=1).reshape(-1)


def _finalize(state: _Groups, g: int, top: Tensor, true: Tensor, rows: Tensor, is_eos: Tensor, n: int,
              alpha: float, norm: LengthNorm) -> None:
    """Add group g's eos extensions among its top Wg (B, Wg), in rank order, as hypotheses of n tokens."""
    width = top.shape[1]
    hit = is_eos & torch.isfinite(top) & ~state.done[:, g, None]
    if not bool(hit.any()):
        return
    lp = length_penalty(n, alpha, norm)
    for i, j in hit.nonzero().tolist():
        final = state.final[i][g]
        if len(final) < width:
            final.append(Hypothesis(tuple(state.history[rows[i, j]].tolist()), float(top[i, j]) / lp,
                                    float(true[i, j]), True))
        if len(final) == width:
            state.done[i, g] = True


def _add_unfinished(state: _Groups, alpha: float, norm: LengthNorm) -> None:
    """Fill groups that are not done with their live beams (best first), cut at the current length."""
    b, groups, width = state.objective.shape
    lp = length_penalty(state.history.shape[1], alpha, norm)
    objective, logprob = state.objective.tolist(), state.logprob.tolist()
    for i in range(b):
        for g in range(groups):
            final = state.final[i][g]
            for w in range(width):
                if len(final) >= width or objective[i][g][w] == float("-inf"):
                    break
                row = (i * groups + g) * width + w
                final.append(Hypothesis(tuple(state.history[row].tolist()), objective[i][g][w] / lp,
                                        logprob[i][g][w], False))
