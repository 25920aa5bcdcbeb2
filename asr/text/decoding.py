"""Decoding for TextSeq2Seq: greedy, beam, diverse beam and input-guided aggressive decoding.

All run batched over sources on the model's device under torch.inference_mode, feed the decoder
through its KV cache (`TextSeq2Seq.init_cache` / `step`) and return output tokens without bos and
eos. `greedy` takes the argmax until eos or max_len tokens. `beam_search` and `diverse_beam_search`
(Vijayakumar et al. 2018, "Diverse Beam Search": G groups of W/G beams, each extension's objective
lowered by lambda times the number of earlier groups that chose the same token at this step, the
Hamming diversity) share one batched core, asr.text._beam, whose module docstring states the
selection and stopping rules; hypotheses are ranked by objective / lp(n) with n the output length
counting eos and lp the GNMT penalty ((5 + n) / 6)^alpha (Wu et al. 2016) or, with
length_norm="power", n^alpha. `aggressive_decode` is the input-guided aggressive decoding of Ge et
al. (2022, "Lossless Acceleration for Seq2seq Generation with Aggressive Decoding"): for tasks whose
output mostly copies the input (error correction), the source is the draft, verified in one decoder
pass, so it returns exactly greedy's tokens in far fewer sequential passes.

Shapes: see NOTATION.md (B sources, T' source tokens, V, W beam width); n: draft tokens of a pass.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor
from transduce.asr.text._beam import Hypothesis, LengthNorm, length_penalty, search

if TYPE_CHECKING:
    from transduce.asr.text.models import TextSeq2Seq

__all__ = [
    "Hypothesis",
    "AggressiveResult",
    "length_penalty",
    "greedy",
    "beam_search",
    "diverse_beam_search",
    "aggressive_decode",
]


class AggressiveResult(NamedTuple):
    """tokens: per source, greedy's output; passes: per source, the decoder passes it took part in."""

    tokens: list[list[int]]
    passes: list[int]


def _check(src: Tensor, src_lens: Tensor, max_len: int) -> None:
    if src.dim() != 2 or src_lens.shape != (src.shape[0],):
        raise ValueError(f"src must be (B, T') and src_lens (B,), got {tuple(src.shape)}, "
                         f"{tuple(src_lens.shape)}")
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len}")


@torch.inference_mode()
def greedy(model: TextSeq2Seq, src: Tensor, src_lens: Tensor, max_len: int) -> list[list[int]]:
    """Argmax decoding of src (B, T') with lengths (B,): per source at most max_len tokens, eos excluded.

    A source takes len + 1 decoder steps when it ends with eos, max_len when cut. Finished rows leave
    the batch once a quarter of it has finished (their steps would be wasted compute).
    """
    _check(src, src_lens, max_len)
    b, eos = src.shape[0], model.cfg.eos_id
    memory, memory_lens = model.encode(src, src_lens)
    cache = model.init_cache(memory, memory_lens)
    prev = torch.full((b, 1), model.cfg.bos_id, dtype=torch.long, device=src.device)
    out = torch.full((b, max_len), eos, dtype=torch.long, device=src.device)
    rows = torch.arange(b, device=src.device)  # the source of each batch row
    done = torch.zeros(b, dtype=torch.bool, device=src.device)
    for t in range(max_len):
        logits, cache = model.step(prev, cache)
        prev = logits[:, -1:].argmax(dim=-1)  # (B_active, 1)
        out[rows, t] = prev[:, 0]
        done |= prev[:, 0] == eos
        n_done = int(done.sum())
        if n_done == len(rows):
            break
        if n_done * 4 >= len(rows):
            keep = (~done).nonzero()[:, 0]
            cache, prev, rows, done = cache.select(keep), prev[keep], rows[keep], done[keep]
    tokens = out.tolist()
    return [row[: row.index(eos)] if eos in row else row for row in tokens]


@torch.inference_mode()
def beam_search(model: TextSeq2Seq, src: Tensor, src_lens: Tensor, beam: int, max_len: int,
                length_penalty: float = 0.0, length_norm: LengthNorm = "gnmt") -> list[list[Hypothesis]]:
    """n-best lists (at most `beam` hypotheses each, best score first) of src (B, T'), lengths (B,).

    Batched over sources and beams (B*W decoder rows). length_penalty is alpha; with beam=1 the
    best hypothesis is greedy's output for any alpha.
    """
    _check(src, src_lens, max_len)
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    found = search(model, src, src_lens, 1, beam, max_len, length_penalty, length_norm, 0.0)
    return [groups[0] for groups in found]


@torch.inference_mode()
def diverse_beam_search(model: TextSeq2Seq, src: Tensor, src_lens: Tensor, beam: int, groups: int,
                        diversity: float, max_len: int, length_penalty: float = 0.0,
                        length_norm: LengthNorm = "gnmt") -> list[list[list[Hypothesis]]]:
    """n-best lists [source][group] (at most beam / groups each) of G groups of beam / G beams.

    Group 0 is a plain beam search of width beam / G; with diversity 0 every group is.
    """
    _check(src, src_lens, max_len)
    if groups < 1 or beam < groups or beam % groups:
        raise ValueError(f"beam {beam} must be a positive multiple of groups {groups}")
    if diversity < 0:
        raise ValueError(f"diversity must be >= 0, got {diversity}")
    return search(model, src, src_lens, groups, beam // groups, max_len, length_penalty, length_norm,
                  diversity)


@torch.inference_mode()
def aggressive_decode(model: TextSeq2Seq, src: Tensor, src_lens: Tensor, max_len: int,
                      max_ngram: int = 3, max_draft: int | None = None,
                      drafts: list[list[int]] | None = None,
                      inserted: Collection[int] = ()) -> AggressiveResult:
    """Greedy's tokens for src (B, T') with lengths (B,), verifying source drafts (Ge et al. 2022).

    A pass feeds, per unfinished source, the token accepted last and the draft d = the source from its
    aligned position p, then eos (cut so no more than max_len tokens can be accepted, and to max_draft
    tokens when given: a pass costs compute per draft token, and drafts seldom survive whole when the
    output edits the input often), in ONE `step`. With g the argmaxes of that pass, the longest prefix
    d[:m] with d[i] == g[i] is greedy's output, and g[m] is greedy's next token: both are accepted and
    the cache is rolled back to the tokens fed and accepted. Re-drafting after a mismatch: the output's
    last k tokens (k = max_ngram, else fewer) are searched in the source and p becomes the end of the
    occurrence nearest to p + m + 1 (the longest k found wins); when no suffix occurs, p = p + m + 1
    (the mismatch taken as a substitution), or p + m when g[m] is one of `inserted`: tokens the output
    adds without replacing any of the input (punctuation, for formatting), so the draft resumes at the
    token it stopped at. The draft only changes the speed, never the tokens.

    `drafts` (per source, token ids) replaces the source as the text drafts are cut from: a guess
    nearer the output (the source with its likely edits made) saves a pass per edit guessed right.

    Batched: each pass runs every unfinished source (drafts padded to the longest) in one step,
    rows keeping different numbers of tokens; sources leave the batch when they finish. passes[b]
    counts the passes source b took part in; the batch runs max(passes) sequential passes.
    """
    _check(src, src_lens, max_len)
    inserted = frozenset(inserted)
    if max_draft is not None and max_draft < 1:
        raise ValueError(f"max_draft must be >= 1 or None, got {max_draft}")
    b, eos = src.shape[0], model.cfg.eos_id
    memory, memory_lens = model.encode(src, src_lens)
    cache = model.init_cache(memory, memory_lens)
    sources = [row[:n] for row, n in zip(src.tolist(), src_lens.tolist())] if drafts is None else drafts
    if len(sources) != b:
        raise ValueError(f"drafts must hold one token list per source ({b}), got {len(sources)}")
    out: list[list[int]] = [[] for _ in range(b)]
    passes, pointer, last = [0] * b, [0] * b, [model.cfg.bos_id] * b
    active = list(range(b)) if max_len > 0 else []
    while active:
        limit = [min(max_len - len(out[i]) - 1, max_draft or max_len) for i in active]
        pieces = [(sources[i][pointer[i]:] + [eos])[:n] for i, n in zip(active, limit)]
        width = 1 + max(len(d) for d in pieces)
        fed = torch.tensor([[last[i]] + d + [eos] * (width - 1 - len(d)) for i, d in zip(active, pieces)],
                           dtype=torch.long, device=src.device)  # (B_active, 1 + n)
        before = cache.lengths.tolist()
        logits, cache = model.step(fed, cache)
        guesses = logits.argmax(dim=-1).tolist()
        keep, still = [], []
        for row, (i, d, g) in enumerate(zip(active, pieces, guesses)):
            passes[i] += 1
            m = 0
            while m < len(d) and d[m] == g[m]:
                m += 1
            keep.append(before[row] + 1 + m)  # the last accepted token and d[:m] stay in the cache
            last[i] = g[m]
            if _accept(out[i], d[:m] + [g[m]], eos, max_len):
                still.append(row)
                skip = 0 if g[m] in inserted else 1
                pointer[i] = _realign(sources[i], out[i], pointer[i] + m + skip, max_ngram)
        cache = cache.truncate(torch.tensor(keep, device=src.device))
        if len(still) < len(active):
            cache = cache.select(torch.tensor(still, dtype=torch.long, device=src.device))
            active = [active[row] for row in still]
    return AggressiveResult(out, passes)


def _accept(out: list[int], tokens: list[int], eos: int, max_len: int) -> bool:
    """Append accepted tokens to out up to eos or max_len; True while the source is unfinished."""
    for tok in tokens:
        if tok == eos:
            return False
        out.append(tok)
        if len(out) >= max_len:
            return False
    return True


def _realign(source: list[int], out: list[int], expected: int, max_ngram: int) -> int:
    """Source position to draft from next: end of the occurrence of out's longest suffix (<= max_ngram
    tokens) nearest to `expected`, else `expected` (clamped to the source length)."""
    for k in range(min(max_ngram, len(out)), 0, -1):
        suffix = out[-k:]
        ends = [j + k for j in range(len(source) - k + 1) if source[j : j + k] == suffix]
        if ends:
            return min(ends, key=lambda e: (abs(e - expected), e))
    return min(expected, len(source))
