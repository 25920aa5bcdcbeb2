"""ContextGraph: failure links, transitions and credit against brute-force string oracles."""

import random

import pytest
import torch
from transduce.asr.decoding.context_graph import ContextGraph
from transduce.asr.tokenizers import CharTokenizer


def _prefixes(phrases):
    return {tuple(p[:i]) for p in phrases for i in range(len(p) + 1)}


def _edge_boost(prefix, phrases, boosts):
    return max(b for p, b in zip(phrases, boosts) if tuple(p[: len(prefix)]) == prefix)


def _depth(prefix, phrases, boosts):
    return sum(_edge_boost(prefix[:i], phrases, boosts) for i in range(1, len(prefix) + 1))


def _longest_suffix_in_tree(text, phrases):
    pre = _prefixes(phrases)
    for i in range(len(text) + 1):
        if tuple(text[i:]) in pre:
            return tuple(text[i:])
    return ()


def _credit_oracle(text, phrases, boosts):
    """Completed occurrences (every phrase, every end position) + the open partial match."""
    ends = {tuple(p) for p in phrases}
    done = 0.0
    for j in range(1, len(text) + 1):
        for i in range(j):
            if tuple(text[i:j]) in ends:
                done += _depth(tuple(text[i:j]), phrases, boosts)
    s = _longest_suffix_in_tree(text, phrases)
    banked = max((len(s[:k]) for k in range(len(s) + 1) if s[:k] in ends), default=0)
    partial = _depth(s, phrases, boosts) - _depth(s[:banked], phrases, boosts)
    return done + partial, partial


def _node_path(graph, phrases):
    """path (token tuple) of every node, found by walking the phrases through goto edges."""
    paths = {0: ()}
    for p in phrases:
        node = 0
        for i, t in enumerate(p):
            node = graph._children[node][t]
            paths[node] = tuple(p[: i + 1])
    return paths


def _random_phrases(rng, n_tokens=4, n_phrases=4, max_len=4):
    return [[rng.randint(1, n_tokens) for _ in range(rng.randint(1, max_len))] for _ in range(n_phrases)]


@pytest.mark.parametrize("seed", range(30))
def test_failure_links_are_longest_proper_suffix_in_tree(seed):
    rng = random.Random(seed)
    phrases = _random_phrases(rng)
    g = ContextGraph(phrases, 1.0)
    paths = _node_path(g, phrases)
    pre = _prefixes(phrases)
    for node, path in paths.items():
        if node == 0:
            continue
        expect = next(path[i:] for i in range(1, len(path) + 1) if path[i:] in pre)
        assert paths[g.fail[node]] == expect


@pytest.mark.parametrize("seed", range(40))
def test_credit_matches_oracle_on_random_texts(seed):
    rng = random.Random(100 + seed)
    phrases = _random_phrases(rng, n_tokens=3)
    boosts = [rng.choice([0.5, 1.0, 2.5]) for _ in phrases]
    g = ContextGraph(phrases, boosts)
    paths = _node_path(g, phrases)
    text = [rng.randint(0, 4) for _ in range(12)]
    node, total, seen = 0, 0.0, []
    for tok in text:
        node, delta = g.step(node, tok)
        total += delta
        if tok != 0:
            seen.append(tok)
        assert paths[node] == _longest_suffix_in_tree(seen, phrases)
        credit, partial = _credit_oracle(seen, phrases, boosts)
        assert total == pytest.approx(credit)
        assert g.final_penalty(node) == pytest.approx(-partial)


def test_partial_match_is_taken_back_and_full_match_kept():
    g = ContextGraph([[2, 3, 4]], 1.5)
    node, d1 = g.step(0, 2)
    node, d2 = g.step(node, 3)
    _, back = g.step(node, 5)
    assert (d1, d2, back) == (1.5, 1.5, -3.0)
    node, total = 0, 0.0
    for tok in (2, 3, 4, 5, 6):
        node, d = g.step(node, tok)
        total += d
    assert total == pytest.approx(4.5) and node == 0


def test_failure_into_other_phrase_keeps_its_progress():
    # "a b" then "d": falls from "ab" (phrase abc) to "b" (phrase bd) and completes bd.
    g = ContextGraph([[2, 3, 4], [3, 5]], 1.0)
    node, total = 0, 0.0
    for tok in (2, 3, 5):
        node, d = g.step(node, tok)
        total += d
    assert total == pytest.approx(2.0)


def test_blank_changes_nothing():
    g = ContextGraph([[2, 3]], 1.0)
    node, _ = g.step(0, 2)
    assert g.step(node, 0) == (node, 0.0)


@pytest.mark.parametrize("seed", range(10))
def test_dense_tables_agree_with_step(seed):
    rng = random.Random(seed)
    phrases = _random_phrases(rng, n_tokens=5)
    g = ContextGraph(phrases, [rng.uniform(0.1, 3) for _ in phrases])
    v = 7
    nodes = torch.arange(g.num_nodes)
    bias = g.bias(nodes, v)
    for n in range(g.num_nodes):
        for tok in range(v):
            nxt, delta = g.step(n, tok)
            assert int(g.advance(torch.tensor([n]), torch.tensor([tok]), v)) == nxt
            assert float(bias[n, tok]) == pytest.approx(delta, abs=1e-5)


def test_from_texts_uses_the_tokenizer():
    tok = CharTokenizer(list("abc "))
    g = ContextGraph.from_texts(["ab c"], tok, 1.0)
    node, total = 0, 0.0
    for t in tok.encode("ab c"):
        node, d = g.step(node, t)
        total += d
    assert total == pytest.approx(4.0)


def test_bad_phrases_are_rejected():
    with pytest.raises(ValueError, match="empty"):
        ContextGraph([[]])
    with pytest.raises(ValueError, match="blank"):
        ContextGraph([[2, 0, 3]])
    with pytest.raises(ValueError, match="boosts"):
        ContextGraph([[2], [3]], [1.0])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        ContextGraph([[9]]).tables(5)
