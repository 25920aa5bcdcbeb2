"""Checkpoint averaging (`average_checkpoints`, `transduce average`) and the training checkpoint layout.

Oracles: the mean of known weights computed in float64 by hand; K copies of one model average to
that model; integer buffers come from the last checkpoint.
"""

from __future__ import annotations

import pytest
import torch
from transduce.asr import load_model, save_model
from transduce.asr.checkpoint import CheckpointError
from transduce.asr.encoders import ConformerConfig
from transduce.asr.models.asr_model import ASRModel, ASRModelConfig
from transduce.asr.tokenizers import CharTokenizer
from transduce.asr.training import average_checkpoints, average_state_dicts, last_checkpoints
from transduce.asr.training.checkpoints import (
    checkpoint_dir,
    clean_staging,
    latest_checkpoint,
    list_checkpoints,
    load_trainer_state,
    save_checkpoint,
)

from transduce.cli import main

ENC = ConformerConfig(n_layers=1, d_model=16, n_heads=2, subsampling_conv_channels=4, subsampling_factor=4,
                      subsampling="striding", conv_kernel_size=3)
TOK = CharTokenizer(list("ab"))


def _model(seed, tracked=0):
    torch.manual_seed(seed)
    model = ASRModel(ASRModelConfig(vocab_size=TOK.vocab_size, encoder=ENC, transducer="none"))
    for name, buf in model.named_buffers():
        if name.endswith("num_batches_tracked"):
            buf.fill_(tracked)
    model.tokenizer = TOK
    return model


def _float_mean(states):
    return {k: torch.stack([s[k].double() for s in states]).mean(0) for k in states[0]
            if states[0][k].is_floating_point()}


def test_average_of_copies_is_the_copy_and_of_two_is_their_mean():
    a, b = _model(0).state_dict(), _model(1).state_dict()
    same = average_state_dicts([a, a, a])
    assert all(torch.equal(same[k], a[k]) for k in a)
    mean = average_state_dicts([a, b])
    for key, expect in _float_mean([a, b]).items():
        torch.testing.assert_close(mean[key], expect.float(), rtol=0, atol=1e-7)
        assert mean[key].dtype == a[key].dtype
    ones, threes = {"w": torch.ones(3)}, {"w": torch.full((3,), 3.0)}
    assert torch.equal(average_state_dicts([ones, threes])["w"], torch.full((3,), 2.0))


def test_integer_buffers_come_from_the_last_state():
    states = [_model(i, tracked=10 * (i + 1)).state_dict() for i in range(3)]
    avg = average_state_dicts(states)
    tracked = [k for k in avg if k.endswith("num_batches_tracked")]
    assert tracked and all(int(avg[k]) == 30 and avg[k].dtype == torch.long for k in tracked)


def test_mismatched_states_are_refused_by_name():
    a = {"w": torch.zeros(2), "v": torch.zeros(1)}
    with pytest.raises(ValueError, match="differ in keys"):
        average_state_dicts([{"w": torch.zeros(2)}, a])
    with pytest.raises(ValueError, match="w has shape \\(3,\\) in state 0 but \\(2,\\)"):
        average_state_dicts([{"w": torch.zeros(3), "v": torch.zeros(1)}, a])
    with pytest.raises(ValueError, match="no state dicts"):
        average_state_dicts([])


def test_average_checkpoints_reads_model_directories(tmp_path):
    models = [_model(i) for i in range(3)]
    paths = [save_model(m, tmp_path / f"m{i}") for i, m in enumerate(models)]
    avg = average_checkpoints(paths)
    for key, expect in _float_mean([m.state_dict() for m in models]).items():
        torch.testing.assert_close(avg[key], expect.float(), rtol=0, atol=1e-7)


def _train_ckpt(out, step, model):
    state = {"format": 1, "step": step, "optimizer": {}, "rng": []}
    return save_checkpoint(out, step, model, model.tokenizer, state, keep_last=3)


def test_training_checkpoints_keep_the_last_k_and_ignore_partial_ones(tmp_path):
    for step in (10, 20, 30, 40):
        _train_ckpt(tmp_path, step, _model(step))
    assert [s for s, _ in list_checkpoints(tmp_path)] == [20, 30, 40]
    assert latest_checkpoint(tmp_path) == checkpoint_dir(tmp_path, 40)
    assert load_trainer_state(checkpoint_dir(tmp_path, 30))["step"] == 30
    assert torch.equal(load_model(checkpoint_dir(tmp_path, 40)).encoder.layers[0].norm_out.weight,
                       _model(40).encoder.layers[0].norm_out.weight)  # a plain model directory
    # what a kill during a write leaves: a staging directory and a step without its trainer state
    staging = tmp_path / "checkpoints" / ".step_00000050.staging"
    save_model(_model(50), staging)
    half = checkpoint_dir(tmp_path, 60)
    save_model(_model(60), half)
    assert latest_checkpoint(tmp_path) == checkpoint_dir(tmp_path, 40)
    clean_staging(tmp_path)
    assert not staging.exists()
    assert [p.name for p in last_checkpoints(tmp_path, 2)] == ["step_00000030", "step_00000040"]
    with pytest.raises(CheckpointError, match="no training checkpoints"):
        last_checkpoints(tmp_path / "nothing", 2)


def test_cli_average_paths_and_last_k(tmp_path, capsys):
    models = [_model(i) for i in range(2)]
    paths = [str(save_model(m, tmp_path / f"m{i}")) for i, m in enumerate(models)]
    assert main(["average", str(tmp_path / "avg"), *paths]) == 0
    avg = load_model(tmp_path / "avg")
    assert avg.tokenizer.chars == ["a", "b"]
    for key, expect in _float_mean([m.state_dict() for m in models]).items():
        torch.testing.assert_close(avg.state_dict()[key], expect.float(), rtol=0, atol=1e-7)

    run = tmp_path / "run"
    for step in (1, 2, 3):
        _train_ckpt(run, step, _model(step))
    assert main(["average", str(tmp_path / "last2"), "--last", "2", str(run)]) == 0
    expect = _float_mean([_model(2).state_dict(), _model(3).state_dict()])
    got = load_model(tmp_path / "last2").state_dict()
    assert all(torch.allclose(got[k], v.float(), rtol=0, atol=1e-7) for k, v in expect.items())
    assert "the average of 2 checkpoints" in capsys.readouterr().out

    assert main(["average", str(tmp_path / "x"), str(tmp_path / "missing")]) == 2
    assert "missing: no such checkpoint directory" in capsys.readouterr().err
    assert main(["average", str(tmp_path / "y"), "--last", "2", str(run), str(run)]) == 2
    assert "exactly one training out_dir" in capsys.readouterr().err
