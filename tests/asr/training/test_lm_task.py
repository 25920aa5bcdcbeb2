"""The trainer on the text_lm task: a TextLM learns lines of text (speech manifests, pairs or plain
text), validation reports perplexity, runs resume exactly, exports load, bad data is refused."""

from __future__ import annotations

import copy
import json
import math
import random

import pytest
import torch
from training_helpers import with_overrides
from transduce.asr.config import ConfigError, from_dict
from transduce.asr.text.models import TextLM
from transduce.asr.training import TrainConfig, train
from transduce.asr.training.checkpoints import list_checkpoints
from transduce.asr.training.export import export_model
from transduce.asr.training.lm_task import read_lines

import transduce

MODEL = {"vocab_size": 0, "d_model": 32, "n_heads": 2, "n_layers": 2, "ff_expansion": 2, "dropout": 0.0}


def _grammar_lines(r: random.Random, n: int) -> list[str]:
    """A language an LM can learn: 'the <noun> <verb> on the <noun>' and a few variations."""
    nouns, verbs = ("cat", "dog", "sun", "mat"), ("sat", "ran", "slept")
    return [f"the {r.choice(nouns)} {r.choice(verbs)} on the {r.choice(nouns)}"
            + (" and the dog ran" if r.random() < 0.3 else "") for _ in range(n)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A speech-manifest-like JSONL (train) and a plain text file (dev) of the same language."""
    root = tmp_path_factory.mktemp("lm")
    r = random.Random(0)
    with open(root / "train.jsonl", "w", encoding="utf-8") as f:
        for i, line in enumerate(_grammar_lines(r, 200)):
            f.write(json.dumps({"audio_filepath": f"wav/{i}.wav", "duration": 1.0, "text": line}) + "\n")
    (root / "dev.txt").write_text("\n".join(_grammar_lines(r, 20)) + "\n", encoding="utf-8")
    return root


def _config(corpus, out, **top):
    data = {
        "task": "text_lm", "model": copy.deepcopy(MODEL),
        "data": {"train_manifest": str(corpus / "train.jsonl"), "dev_manifest": str(corpus / "dev.txt"),
                 "max_tokens": 256, "num_buckets": 2},
        "tokenizer": {"kind": "text_bpe", "vocab_size": 30},
        "optim": {"lr": 3e-3, "warmup_steps": 5, "schedule": "inverse_sqrt", "weight_decay": 0.0},
        "max_steps": 60, "grad_clip": 5.0, "label_smoothing": 0.0,
        "checkpoint": {"out_dir": str(out), "every_n_steps": 30, "keep_last": 3},
        "validation": {"every_n_steps": 30, "max_utterances": 20},
        "log_every_n_steps": 1, "seed": 0, "device": "cpu",
    }
    return from_dict(TrainConfig, with_overrides(data, **top), "config")


def _records(out):
    return [json.loads(s) for s in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "a"
    lines = []
    train(_config(corpus, out), echo=lines.append)
    return out, lines


def test_the_lm_learns_the_language_and_reports_perplexity(corpus, trained) -> None:
    out, lines = trained
    validation = [r for r in _records(out) if r.get("kind") == "validation"]
    assert [r["step"] for r in validation] == [30, 60]
    assert validation[1]["perplexity"] < validation[0]["perplexity"]
    assert any("perplexity" in line for line in lines)
    model = transduce.load_model(list_checkpoints(out)[-1][1]).eval()
    tok = model.tokenizer

    def score(text: str) -> float:
        ids = tok.encode(text)
        with torch.no_grad():
            return float(model.score(torch.tensor([ids]), torch.tensor([len(ids)])))

    # a sentence of the language is far likelier than the same words out of order
    assert score("the cat sat on the mat") > score("mat the on sat cat the") + 5.0
    # the logged perplexity is the final model's per-token likelihood of the dev lines, eos included
    dev = read_lines(str(corpus / "dev.txt"))
    nll = -sum(score(line) for line in dev) / sum(len(tok.encode(line)) + 1 for line in dev)
    assert validation[1]["nll_per_token"] == pytest.approx(nll, rel=1e-5)
    assert validation[1]["perplexity"] == pytest.approx(math.exp(nll), rel=1e-5)


def test_interrupted_then_resumed_matches_uninterrupted(corpus, trained, tmp_path) -> None:
    out = tmp_path / "b"
    cfg = _config(corpus, out)

    class Crash(Exception):
        pass

    def crash(line: str) -> None:
        if line.startswith("step 41/"):
            raise Crash(line)

    with pytest.raises(Crash):
        train(cfg, echo=crash)
    train(cfg, echo=lambda line: None)
    wa = transduce.load_model(list_checkpoints(trained[0])[-1][1]).state_dict()
    wb = transduce.load_model(list_checkpoints(out)[-1][1]).state_dict()
    assert not [k for k in wa if not torch.equal(wa[k], wb[k])]


def test_export_loads_as_a_text_lm(trained, tmp_path) -> None:
    report = export_model(trained[0], tmp_path / "lm")
    model = transduce.load_model(report.out)
    assert isinstance(model, TextLM) and model.tokenizer.eos_id == 3


def test_read_lines_takes_text_or_tgt_or_plain_lines_and_refuses_empty_files(tmp_path) -> None:
    (tmp_path / "a.jsonl").write_text('{"text": "one two"}\n{"tgt": "Three."}\n{"src": "x"}\nnot json\n')
    warnings = []
    assert read_lines(str(tmp_path / "a.jsonl"), warnings.append) == ["one two", "Three."]
    assert "2 rows" in warnings[0]
    (tmp_path / "b.txt").write_text("  first line \n\nsecond\n")
    assert read_lines(str(tmp_path / "b.txt")) == ["first line", "second"]
    (tmp_path / "c.jsonl").write_text('{"src": "x"}\n')
    with pytest.raises(ConfigError, match="no usable text"):
        read_lines(str(tmp_path / "c.jsonl"), warnings.append)
    with pytest.raises(ConfigError, match="no such"):
        read_lines(str(tmp_path / "missing.txt"))


def test_lm_task_needs_a_text_tokenizer_and_an_lm_model_section(corpus, tmp_path) -> None:
    with pytest.raises(ConfigError, match="text_bpe"):
        train(_config(corpus, tmp_path / "x", tokenizer={"kind": "char"}), echo=lambda line: None)
    with pytest.raises(ConfigError, match="encoder_layers"):
        _config(corpus, tmp_path / "y", model={**MODEL, "encoder_layers": 2})
