"""Contextual biasing: a hotword/phrase automaton whose scores beam search adds to hypotheses.

Shapes: see NOTATION.md (V vocabulary incl. blank); num_nodes: automaton states, n: hypotheses
of one call.

The phrases (token-id sequences) form a prefix tree with Aho-Corasick failure links, so the
automaton state after any token sequence is the node of its longest suffix that is a tree path.
Each tree edge carries a boost (the phrase's boost per token; where phrases share a prefix, the
largest). The credit of a hypothesis is

    credit = sum of the full boosts of every phrase occurrence completed so far
           + the boosts gathered on the current partial match (since its last completed phrase),

so a partial match earns its boost token by token, a failing partial match gives the gathered
boost back (the state falls to a shorter suffix), and a completed phrase keeps its boost. The
score a decoder adds for one token is the change of this credit, `delta(node, token)`; blank
leaves the state and the credit unchanged. `partial(node)` is the part a decoder should take back
when ranking finished hypotheses (`final_penalty`). Idea: sherpa/icefall ContextGraph (Aho and
Corasick, 1975); the credit bookkeeping here is this project's own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from transduce.asr.tokenizers.base import BLANK_ID, Tokenizer

__all__ = ["ContextGraph"]


@dataclass
class _Tree:
    """The prefix tree under construction (lists indexed by node; node 0 is the root)."""

    children: list[dict[int, int]]
    boost: list[float]  # boost of the edge into the node
    parent: list[int]
    end: list[bool]


class ContextGraph:
    """Aho-Corasick automaton over token-id phrases with per-token boosts (see the module docstring).

    `boosts`: one per phrase, or one for all, in log-score units per matched token. Build it once
    per set of hotwords and share it between streams; it is immutable.
    """

    root = 0

    def __init__(self, phrases: Sequence[Sequence[int]], boosts: float | Sequence[float] = 2.0) -> None:
        phrases = [[int(t) for t in p] for p in phrases]
        per_phrase = [float(boosts)] * len(phrases) if isinstance(boosts, (int, float)) else list(boosts)
        if len(per_phrase) != len(phrases):
            raise ValueError(f"got {len(per_phrase)} boosts for {len(phrases)} phrases")
        tree = _build_tree(phrases, per_phrase)
        self._children = tree.children
        self.fail, order = _failure_links(tree.children)
        self._finish(tree, order)
        self._tables: dict[tuple[int, str], tuple[Tensor, Tensor, Tensor]] = {}

    @classmethod
    def from_texts(cls, texts: Sequence[str], tokenizer: Tokenizer, boosts: float | Sequence[float] = 2.0,
                   ) -> ContextGraph:
        """A graph of `texts` encoded by `tokenizer` (each text one phrase)."""
        return cls([tokenizer.encode(t) for t in texts], boosts)

    @property
    def num_nodes(self) -> int:
        return len(self._children)

    @property
    def max_token(self) -> int:
        """The largest token id of any phrase (-1 for an empty graph)."""
        return max((t for c in self._children for t in c), default=-1)

    def _finish(self, tree: _Tree, order: list[int]) -> None:
        """depth, partial and out_boost per node, in BFS order (parents and fail targets come first)."""
        n = len(tree.children)
        self.depth = [0.0] * n
        floor = [0.0] * n
        self.out_boost = [0.0] * n
        for node in order[1:]:
            self.depth[node] = self.depth[tree.parent[node]] + tree.boost[node]
            floor[node] = self.depth[node] if tree.end[node] else floor[tree.parent[node]]
            own = self.depth[node] if tree.end[node] else 0.0
            self.out_boost[node] = own + self.out_boost[self.fail[node]]
        self.partial = [d - f for d, f in zip(self.depth, floor)]
        self.is_end = list(tree.end)

    def next_node(self, node: int, token: int) -> int:
        """The state after `token` from `node` (goto, else follow failure links; blank stays)."""
        if token == BLANK_ID:
            return node
        while token not in self._children[node] and node != self.root:
            node = self.fail[node]
        return self._children[node].get(token, self.root)

    def step(self, node: int, token: int) -> tuple[int, float]:
        """(next state, credit change) for one emitted `token` from state `node`."""
        if token == BLANK_ID:
            return node, 0.0
        nxt = self.next_node(node, token)
        return nxt, self.out_boost[nxt] + self.partial[nxt] - self.partial[node]

    def final_penalty(self, node: int) -> float:
        """Minus the boost of an unfinished partial match at `node` (taken back at the end)."""
        return -self.partial[node]

    def tables(self, vocab_size: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor, Tensor]:
        """Dense automaton on `device`: next (num_nodes, V) long, gain and partial (num_nodes,) float32.

        delta(n, v) = gain[next[n, v]] - partial[n] for v != blank (blank: 0). Cached per (V, device).
        """
        key = (vocab_size, str(torch.device(device)))
        if key not in self._tables:
            if self.max_token >= vocab_size:
                raise ValueError(f"a hotword token id ({self.max_token}) is outside the vocabulary "
                                 f"[0, {vocab_size})")
            nxt = _dense_transitions(self._children, self.fail, vocab_size)
            gain = torch.tensor([o + p for o, p in zip(self.out_boost, self.partial)], dtype=torch.float32)
            partial = torch.tensor(self.partial, dtype=torch.float32)
            self._tables[key] = (nxt.to(device), gain.to(device), partial.to(device))
        return self._tables[key]

    def bias(self, nodes: Tensor, vocab_size: int) -> Tensor:
        """Credit change (n, V) of every next token from states `nodes` (n,); 0 for the blank."""
        nxt, gain, partial = self.tables(vocab_size, nodes.device)
        out = gain[nxt[nodes]] - partial[nodes][:, None]
        out[:, BLANK_ID] = 0.0
        return out

    def advance(self, nodes: Tensor, tokens: Tensor, vocab_size: int) -> Tensor:
        """States (n,) after `tokens` (n,) in [0, V) from `nodes` (n,) (blank keeps the state)."""
        nxt, _, _ = self.tables(vocab_size, nodes.device)
        return nxt[nodes, tokens]


def _build_tree(phrases: list[list[int]], boosts: list[float]) -> _Tree:
    tree = _Tree(children=[{}], boost=[0.0], parent=[0], end=[False])
    for phrase, boost in zip(phrases, boosts):
        if not phrase:
            raise ValueError("a hotword phrase is empty (no tokens)")
        if min(phrase) <= BLANK_ID:
            raise ValueError(f"hotword phrases must not contain the blank (id {BLANK_ID}) or negative ids: "
                             f"{phrase}")
        node = 0
        for token in phrase:
            child = tree.children[node].get(token)
            if child is None:
                child = len(tree.children)
                tree.children[node][token] = child
                tree.children.append({})
                tree.boost.append(boost)
                tree.parent.append(node)
                tree.end.append(False)
            else:
                tree.boost[child] = max(tree.boost[child], boost)
            node = child
        tree.end[node] = True
    return tree


def _failure_links(children: list[dict[int, int]]) -> tuple[list[int], list[int]]:
    """Failure link of every node (its longest proper suffix in the tree) and the BFS order."""
    fail = [0] * len(children)
    order = [0]
    queue = deque(children[0].values())
    while queue:
        node = queue.popleft()
        order.append(node)
        for token, child in children[node].items():
            f = fail[node]
            while token not in children[f] and f != 0:
                f = fail[f]
            target = children[f].get(token, 0)
            fail[child] = target if target != child else 0
            queue.append(child)
    return fail, order


def _dense_transitions(children: list[dict[int, int]], fail: list[int], vocab_size: int) -> Tensor:
    """next (num_nodes, V): goto with failures resolved; the blank column keeps each node."""
    n = len(children)
    nxt = torch.zeros(n, vocab_size, dtype=torch.long)
    order = [0]
    queue = deque(children[0].values())
    while queue:
        node = queue.popleft()
        order.append(node)
        queue.extend(children[node].values())
    for node in order:
        if node != 0:
            nxt[node] = nxt[fail[node]]
        for token, child in children[node].items():
            nxt[node, token] = child
    nxt[:, BLANK_ID] = torch.arange(n)
    return nxt
