"""The trainer on the text_seq2seq task: loss goes down, exact resume, export, config checks."""

from __future__ import annotations

import copy
import json
import random

import pytest
import torch
from training_helpers import with_overrides
from transduce.asr.config import ConfigError, from_dict
from transduce.asr.data.format_pairs import PairsConfig, build_pairs
from transduce.asr.text.models import TextSeq2Seq
from transduce.asr.training import TrainConfig, example_config, load_train_config, train
from transduce.asr.training.checkpoints import list_checkpoints
from transduce.asr.training.export import export_model

import transduce

MODEL = {"vocab_size": 0, "d_model": 32, "n_heads": 2, "encoder_layers": 1, "decoder_layers": 1,
         "ff_expansion": 2, "dropout": 0.1}


def _copy_pairs(path, n=48, seed=0):
    r = random.Random(seed)
    words = "red green blue one two three cat dog sun moon".split()
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            text = " ".join(r.choice(words) for _ in range(r.randint(1, 4)))
            f.write(json.dumps({"src": text, "tgt": text}) + "\n")
    return path


def _config(train_path, out, dev=None, **top):
    data = {
        "task": "text_seq2seq", "model": copy.deepcopy(MODEL),
        "data": {"train_manifest": str(train_path), "dev_manifest": str(dev) if dev else None,
                 "max_tokens": 64, "num_buckets": 2},
        "tokenizer": {"kind": "text_bpe", "vocab_size": 24},
        "optim": {"lr": 3e-3, "warmup_steps": 5, "schedule": "inverse_sqrt", "weight_decay": 0.0},
        "max_steps": 40, "grad_clip": 5.0, "label_smoothing": 0.1,
        "checkpoint": {"out_dir": str(out), "every_n_steps": 20, "keep_last": 3},
        "validation": {"every_n_steps": 0, "max_utterances": 8},
        "log_every_n_steps": 1, "seed": 0, "device": "cpu",
    }
    return from_dict(TrainConfig, with_overrides(data, **top), "config")


def _records(out):
    return [json.loads(s) for s in (out / "metrics.jsonl").read_text().splitlines()]


def _losses(out):
    return {r["step"]: r["loss"] for r in _records(out) if r.get("kind") != "validation"}


class _Crash(Exception):
    pass


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return _copy_pairs(tmp_path_factory.mktemp("pairs") / "train.jsonl")


@pytest.fixture(scope="module")
def uninterrupted(pairs, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "a"
    result = train(_config(pairs, out, pairs, max_steps=12, checkpoint__every_n_steps=4,
                           validation__every_n_steps=4), echo=lambda line: None)
    assert result.step == 12
    return out


def test_copy_task_loss_goes_down_and_validation_is_logged(pairs, tmp_path):
    out = tmp_path / "run"
    lines = []
    result = train(_config(pairs, out, pairs, checkpoint__average_last=2), echo=lines.append)
    losses = _losses(out)
    first, last = sum(losses[s] for s in range(1, 6)) / 5, sum(losses[s] for s in range(36, 41)) / 5
    assert last < 0.7 * first, (first, last)
    assert any("tokens/s" in line for line in lines) and all(
        r["tokens_per_s"] > 0 for r in _records(out) if r.get("kind") != "validation")
    validation = [r for r in _records(out) if r.get("kind") == "validation"]
    assert [r["step"] for r in validation] == [40] and 0 <= validation[0]["token_accuracy"] <= 1
    assert result.validation.utterances == 8 and any("exact match" in line for line in lines)
    assert (out / "averaged").is_dir()


def test_format_pairs_train(tmp_path):
    build_pairs(tmp_path / "pairs", 64, 8, 8, seed=0, cfg=PairsConfig(prose_fraction=0))
    out = tmp_path / "run"
    cfg = _config(tmp_path / "pairs" / "train.jsonl", out, tmp_path / "pairs" / "dev.jsonl", max_steps=30,
                  data__max_tokens=256, tokenizer={"kind": "text_bpe", "vocab_size": 100})
    train(cfg, echo=lambda line: None)
    losses = _losses(out)
    assert sum(losses[s] for s in range(26, 31)) < sum(losses[s] for s in range(1, 6))


def test_interrupted_then_resumed_matches_uninterrupted(pairs, uninterrupted, tmp_path):
    out = tmp_path / "b"
    cfg = _config(pairs, out, pairs, max_steps=12, checkpoint__every_n_steps=4, validation__every_n_steps=4)

    def crash(line):
        if line.startswith("step 7/"):
            raise _Crash(line)

    with pytest.raises(_Crash):
        train(cfg, echo=crash)
    assert [s for s, _ in list_checkpoints(out)] == [4]
    train(cfg, echo=lambda line: None)
    wa = transduce.load_model(list_checkpoints(uninterrupted)[-1][1]).state_dict()
    wb = transduce.load_model(list_checkpoints(out)[-1][1]).state_dict()
    assert wa.keys() == wb.keys()
    assert not [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert _losses(uninterrupted) == _losses(out) and sorted(_losses(out)) == list(range(1, 13))


def test_export_loads_with_transduce_load_model(uninterrupted, tmp_path):
    report = export_model(uninterrupted, tmp_path / "model", average_last=2)
    model = transduce.load_model(report.out)
    assert isinstance(model, TextSeq2Seq) and model.tokenizer.bos_id == 2
    assert len(report.sources) == 2


def test_init_from_starts_from_the_given_weights_and_tokenizer(pairs, uninterrupted, tmp_path):
    """Fine-tuning: the run starts where the source model ended (its first loss is the source's last,
    not a fresh model's first) with the source's tokenizer, whatever the tokenizer section says."""
    source = list_checkpoints(uninterrupted)[-1][1]
    out = tmp_path / "tuned"
    cfg = _config(pairs, out, max_steps=3, init_from=str(source), tokenizer__vocab_size=30,
                  checkpoint__every_n_steps=3)
    train(cfg, echo=lambda line: None)
    tuned, fresh = _losses(out), _losses(uninterrupted)
    assert abs(tuned[1] - fresh[12]) < 0.5 * (fresh[1] - fresh[12]), (tuned, fresh)
    source_tok = transduce.load_model(source).tokenizer
    tuned_tok = transduce.load_model(list_checkpoints(out)[-1][1]).tokenizer
    assert tuned_tok.vocab_size == source_tok.vocab_size != 30
    assert tuned_tok.encode("red cat one") == source_tok.encode("red cat one")
    with pytest.raises(ConfigError, match="differ from those of init_from"):
        train(_config(pairs, tmp_path / "other", init_from=str(source), model__d_model=48),
              echo=lambda line: None)


def test_unknown_task_is_refused(pairs, tmp_path):
    with pytest.raises(ConfigError, match="unknown task 'translate'.*asr, text_seq2seq"):
        _config(pairs, tmp_path, task="translate")


def test_text_task_needs_a_text_tokenizer(pairs, tmp_path):
    with pytest.raises(ConfigError, match="text_bpe"):
        train(_config(pairs, tmp_path / "r", tokenizer={"kind": "char"}), echo=lambda line: None)


def test_example_config_builds_a_small_model():
    cfg = load_train_config(example_config("format_seq2seq"))
    assert cfg.task == "text_seq2seq"
    from transduce.asr.training.config import text_model_config

    model = TextSeq2Seq(text_model_config(cfg, cfg.tokenizer.vocab_size))
    n = sum(p.numel() for p in model.parameters())
    assert 5e6 <= n <= 10e6, n
