"""TrainConfig: YAML/JSON files become the dataclasses, typos and bad values are refused by name.

Also the example config: a streaming FastConformer (TDT + CTC) small enough to ship (<= 22 MB).
"""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from transduce.asr.config import ConfigError, from_dict, to_dict
from transduce.asr.models.asr_model import ASRModel
from transduce.asr.training import example_config, load_train_config, model_config
from transduce.asr.training.config import TrainConfig, apply_overrides, text_model_config

BASE = {
    "model": {"encoder": {"n_layers": 1, "d_model": 16, "n_heads": 2, "subsampling_conv_channels": 4,
                          "causal_downsampling": True, "conv_context_size": "causal",
                          "att_context_size": [[8, 1], [8, 0]], "att_context_style": "chunked_limited"},
              "transducer": "rnnt",
              "predictor": {"embed_dim": 8, "kind": "stateless", "context_size": 2},
              "joiner": {"enc_dim": 16, "pred_dim": 8, "joint_dim": 8}},
    "data": {"train_manifest": "train.jsonl"},
}


def _write(tmp_path, data, suffix=".yaml"):
    path = tmp_path / f"cfg{suffix}"
    path.write_text(json.dumps(data) if suffix == ".json" else yaml.safe_dump(data))
    return path


def _with(**changes):
    data = json.loads(json.dumps(BASE))
    for dotted, value in changes.items():
        node, *parts = dotted.split("__")
        target = data
        for part in [node, *parts][:-1]:
            target = target.setdefault(part, {})
        target[[node, *parts][-1]] = value
    return data


def load_train_config_from(data):
    return from_dict(TrainConfig, data, "config")


def test_yaml_and_json_give_the_same_config_and_it_round_trips(tmp_path):
    a = load_train_config(_write(tmp_path, BASE, ".yaml"))
    b = load_train_config(_write(tmp_path, BASE, ".json"))
    assert a == b and isinstance(a, TrainConfig)
    again = load_train_config(_write(tmp_path, to_dict(a), ".json"))
    assert again == a
    assert a.optim.betas == (0.9, 0.98) and a.data.max_frames == 20000  # defaults filled in


def test_vocab_sizes_come_from_the_tokenizer():
    cfg = load_train_config_from(BASE)
    model = model_config(cfg, 37)
    assert model.vocab_size == model.predictor.vocab_size == model.joiner.vocab_size == 37
    with pytest.raises(ConfigError, match="model.vocab_size 12 does not match the tokenizer's 37"):
        model_config(load_train_config_from(_with(model__vocab_size=12)), 37)


@pytest.mark.parametrize(("changes", "message"), [
    ({"max_stepz": 3}, "unknown key(s) ['max_stepz'] for TrainConfig"),
    ({"optim__learning_rate": 1e-3}, "config.optim: unknown key(s) ['learning_rate']"),
    ({"model__encoder__d_modl": 8}, "model.encoder: unknown key(s) ['d_modl']"),
    ({"max_steps": 0}, "max_steps must be >= 1, got 0"),
    ({"precision": "fp16"}, "config.precision: 'fp16' is not one of ('fp32', 'bf16')"),
    ({"optim__lr": -1.0}, "optim.lr must be > 0, got -1.0"),
    ({"optim__schedule": "step"}, "config.optim.schedule: 'step' is not one of"),
    ({"validation__lookahead": 2}, "validation.lookahead 2 is out of range: the encoder has 2"),
    ({"checkpoint__keep_last": 2, "checkpoint__average_last": 3},
     "checkpoint.average_last must be in [0, keep_last=2]"),
    ({"tokenizer__vocab_size": 40}, "a char vocabulary is the alphabet"),
    ({"tokenizer__kind": "bpe"}, "tokenizer.vocab_size: bpe needs >= 3 ids, got 0"),
    ({"data__max_frames": "lots"}, "config.data.max_frames: expected int, got str"),
    ({"data__augment__speed_factors": [5.0]}, "speed_factors must be in [0.3, 3]"),
    ({"model__joiner__enc_dim": 15}, "joiner.enc_dim 15 != encoder.d_model 16"),
    ({"device": "tpu"}, "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ({"num_threads": -1}, "num_threads must be >= 0"),
])
def test_bad_settings_are_refused_with_a_message_naming_them(tmp_path, changes, message):
    with pytest.raises(ConfigError) as err:
        load_train_config(_write(tmp_path, _with(**changes)))
    assert message in str(err.value)


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_train_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_train_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level, got list"):
        load_train_config(tmp_path / "list.yaml")


def test_overrides_set_dotted_keys_with_yaml_values(tmp_path):
    cfg = load_train_config(_write(tmp_path, BASE), ["max_steps=7", "optim.lr=2e-3", "data.max_batch_size=4",
                                                     "model.encoder.att_context_size=[[4, 0]]"])
    assert cfg.max_steps == 7 and cfg.optim.lr == 2e-3 and cfg.data.max_batch_size == 4  # 2e-3: a float
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(BASE) + "optim: {lr: 1e-3, min_lr: 5E-7}\n")
    assert load_train_config(tmp_path / "e.yaml").optim.lr == 1e-3  # not PyYAML's string "1e-3"
    assert model_config(cfg, 5).encoder.att_context_size == ((4, 0),)
    assert apply_overrides({"a": {"b": 1}}, ["a.c=x"]) == {"a": {"b": 1, "c": "x"}}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_overrides({}, ["max_steps"])
    with pytest.raises(ConfigError, match="'max_steps' is not a section"):
        apply_overrides({"max_steps": 3}, ["max_steps.x=1"])


def test_the_demo_config_is_a_small_cache_aware_streaming_tdt_ctc_model():
    cfg = load_train_config(example_config("demo_fastconformer_tdt"))
    assert cfg.tokenizer.kind == "char" and cfg.ctc_only_steps > 0
    model_cfg = model_config(cfg, 29)  # blank, unk, space, apostrophe and a-z
    enc = model_cfg.encoder
    assert (enc.subsampling, enc.causal_downsampling) == ("dw_striding", True)
    assert enc.conv_context_size == "causal" and enc.att_context_style == "chunked_limited"
    assert len(enc.att_context_size) > 1 and all(left > 0 for left, _ in enc.att_context_size)
    assert model_cfg.transducer == "tdt" and model_cfg.joiner.durations == (0, 1, 2, 3, 4)
    assert model_cfg.ctc and 0 < model_cfg.loss.ctc_weight < 1
    with torch.device("meta"):
        model = ASRModel(model_cfg)
    assert sum(p.numel() for p in model.parameters()) <= 10e6  # the issue's budget
    size = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    assert size <= 25e6, f"{size / 1e6:.1f} MB of float32 weights"
    state = ASRModel(model_cfg).encoder.init_state(2, lookahead=2)  # streamable at every look-ahead
    assert state.batch_size == 2
    with pytest.raises(FileNotFoundError, match="bundled: .*demo_fastconformer_tdt"):
        example_config("nope")


def test_the_broad_config_fits_the_issue_budget_and_streams():
    """Issue 17: at most 30M parameters, bundled weights (float16) at most 60 MB, 160 ms chunks."""
    cfg = load_train_config(example_config("broad_fastconformer_tdt"))
    model = ASRModel(model_config(cfg, 29))
    params = sum(p.numel() for p in model.parameters())
    assert 5e6 < params <= 30e6 and 2 * params <= 60e6
    assert cfg.data.augment.reverb_prob > 0 and cfg.data.train_manifest.endswith("broad/train.jsonl")
    assert any(right == 3 for _, right in model.cfg.encoder.att_context_size)  # 160 ms chunks
    assert model.encoder.init_state(1, lookahead=2).batch_size == 1


def test_the_broad_lm_config_is_a_text_lm_on_the_broad_train_transcripts():
    cfg = load_train_config(example_config("broad_lm"))
    assert cfg.task == "text_lm" and cfg.data.train_manifest.endswith("broad/train.jsonl")
    lm_cfg = text_model_config(cfg, 1000)
    assert type(lm_cfg).__name__ == "TextLMConfig" and lm_cfg.pos == "rotary"
