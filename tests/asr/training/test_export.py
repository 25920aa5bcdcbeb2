"""`export_model` / `transduce export`: a clean float32 model directory from a real (tiny) training run.

Oracles: the mean of the last K checkpoints' weights computed here in float64; the newest
checkpoint itself for K = 1; the file listing of the result; the float64 weights rounded to float32.
"""

from __future__ import annotations

import pytest
import torch
from training_helpers import noisy_tone_corpus, train_config
from transduce.asr import load_model, save_model
from transduce.asr.checkpoint import CheckpointError
from transduce.asr.config import from_dict
from transduce.asr.training.config import TrainConfig
from transduce.asr.training.export import export_model
from transduce.asr.training.trainer import train

from transduce.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    cfg = train_config(noisy_tone_corpus(root), root / "run", max_steps=6,
                       checkpoint={"out_dir": str(root / "run"), "every_n_steps": 2, "keep_last": 3})
    train(from_dict(TrainConfig, cfg, "config"), echo=lambda line: None)
    return root / "run"


def _files(directory):
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_export_averages_the_last_k_checkpoints_in_float32(run_dir, tmp_path):
    ckpts = [run_dir / "checkpoints" / f"step_0000000{s}" for s in (4, 6)]
    states = [load_model(p).state_dict() for p in ckpts]
    report = export_model(run_dir, tmp_path / "avg", average_last=2)
    assert report.sources == tuple(ckpts)
    model = load_model(tmp_path / "avg")
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            expect = (states[0][key].double() + states[1][key].double()) / 2
            torch.testing.assert_close(value, expect.float(), rtol=0, atol=1e-6)
            assert value.dtype == torch.float32
    assert _files(tmp_path / "avg") == ["config.json", "model.safetensors", "tokenizer/tokenizer.json"]
    assert report.bytes == sum((tmp_path / "avg" / f).stat().st_size for f in _files(tmp_path / "avg"))
    assert model.tokenizer.decode(model.tokenizer.encode("abcd")) == "abcd"


def test_export_of_one_checkpoint_is_that_checkpoint(run_dir, tmp_path):
    export_model(run_dir, tmp_path / "last")
    newest = load_model(run_dir / "checkpoints" / "step_00000006").state_dict()
    got = load_model(tmp_path / "last").state_dict()
    assert newest.keys() == got.keys() and all(torch.equal(newest[k], got[k]) for k in got)


def test_a_float64_model_directory_is_written_in_float32(run_dir, tmp_path):
    model = load_model(run_dir / "checkpoints" / "step_00000006").double()
    save_model(model, tmp_path / "f64")
    export_model(tmp_path / "f64", tmp_path / "f32")
    got = load_model(tmp_path / "f32").state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(got[key], value.float() if value.is_floating_point() else value), key


def test_half_export_is_the_float32_export_rounded_and_half_the_weight_bytes(run_dir, tmp_path):
    full = export_model(run_dir, tmp_path / "f32", average_last=2)
    half = export_model(run_dir, tmp_path / "f16", average_last=2, dtype=torch.float16)
    expect = load_model(tmp_path / "f32").state_dict()
    for key, value in load_model(tmp_path / "f16").state_dict().items():
        rounded = expect[key].half() if expect[key].is_floating_point() else expect[key]
        assert torch.equal(value, rounded), key
    weights = [(r.out / "model.safetensors").stat().st_size for r in (full, half)]
    assert weights[1] < 0.6 * weights[0]
    with pytest.raises(ValueError, match="float32 or float16"):
        export_model(run_dir, tmp_path / "bf16", dtype=torch.bfloat16)
    assert main(["export", str(run_dir), str(tmp_path / "cli16"), "--half"]) == 0


def test_cli_prints_the_size_and_refuses_bad_requests(run_dir, tmp_path, capsys):
    assert main(["export", str(run_dir), str(tmp_path / "m"), "--average-last", "3"]) == 0
    out = capsys.readouterr().out
    assert "the mean of 3 checkpoints (step_00000002, step_00000004, step_00000006)" in out and "MiB" in out
    assert main(["export", str(run_dir), str(tmp_path / "m2"), "--average-last", "4"]) == 2
    assert "has 3" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "m"), str(tmp_path / "m3"), "--average-last", "2"]) == 2
    assert "needs a training run" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing"), str(tmp_path / "m4")]) == 2
    assert "neither a training run" in capsys.readouterr().err
    with pytest.raises(CheckpointError):
        export_model(run_dir, tmp_path / "m5", average_last=0)
