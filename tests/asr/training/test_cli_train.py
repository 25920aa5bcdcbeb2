"""`transduce train` on the command line: exit 0 and a loadable model on success, exit 2 with one line
naming the problem on bad input (no traceback), overrides, and refusals to resume a different run."""

from __future__ import annotations

import json

import pytest
import yaml
from training_helpers import needs_espeak, train_config, write_corpus
from transduce.asr import load_model
from transduce.asr.data.espeak import espeak_available

from transduce.cli import main


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus")) if espeak_available() else None


def _config(tmp_path, corpus, **changes):
    data = train_config(corpus or tmp_path / "train.jsonl", tmp_path / "run", max_steps=2, **changes)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _fails(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert err.startswith("transduce train: error: ")


def test_config_problems_exit_2_with_the_reason(tmp_path, capsys):
    _fails(capsys, ["train", str(tmp_path / "none.yaml")], "none.yaml: no such config file")
    path = _config(tmp_path, None)
    data = yaml.safe_load(path.read_text())
    data["optim"]["lr_max"] = 1.0
    path.write_text(yaml.safe_dump(data))
    _fails(capsys, ["train", str(path)], "config.optim: unknown key(s) ['lr_max']")
    _fails(capsys, ["train", str(_config(tmp_path, None)), "--set", "max_steps=-1"], "max_steps must be >= 1")
    _fails(capsys, ["train", str(_config(tmp_path, None)), "--set", "oops"], "expected KEY=VALUE")
    _fails(capsys, ["train", str(_config(tmp_path, None))], "train.jsonl: no such manifest")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0 and "--out-dir" in capsys.readouterr().out


@needs_espeak
def test_a_run_exits_0_and_leaves_a_loadable_model(tmp_path, capsys, corpus):
    out = tmp_path / "elsewhere"
    assert main(["train", str(_config(tmp_path, corpus)), "--out-dir", str(out), "--set", "max_steps=3"]) == 0
    printed = capsys.readouterr().out
    assert "step 3/3" in printed and f"model in {out}" in printed
    model = load_model(out / "checkpoints" / "step_00000003")
    assert model.tokenizer.decode(model.tokenizer.encode("stop")) == "stop"
    assert json.loads((out / "train_config.json").read_text())["max_steps"] == 3
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3] and all(r["frames_per_s"] > 0 for r in records)

    # continuing the same out_dir with another model or other data is refused, not silently mixed
    _fails(capsys, ["train", str(_config(tmp_path, corpus)), "--out-dir", str(out), "--set", "max_steps=5",
                    "--set", "model.encoder.n_layers=3"], "the model settings differ from those of")
    _fails(capsys, ["train", str(_config(tmp_path, corpus)), "--out-dir", str(out), "--set", "max_steps=5",
                    "--set", "data.max_frames=150"], "batching settings or number of processes differ")
    assert main(["train", str(_config(tmp_path, corpus)), "--out-dir", str(out), "--set", "max_steps=4"]) == 0
    assert "resuming from" in capsys.readouterr().out
