"""`transduce train` killed with SIGKILL right after a checkpoint, then started again, ends like a run
that was never interrupted: the same final weights (bit for bit) and the same logged losses.

The killed process is a real console-script run (it cannot clean anything up); the oracle is an
uninterrupted in-process run with the same settings and thread count.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml
from training_helpers import needs_espeak, train_config, write_corpus
from transduce.asr import load_model
from transduce.asr.training import load_train_config, train
from transduce.asr.training.checkpoints import list_checkpoints

pytestmark = needs_espeak

STEPS = 6


def _losses(out):
    rows = [json.loads(s) for s in (out / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if r.get("kind") != "validation"}


def _wait_for_checkpoint(proc, out, timeout=240.0):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if list_checkpoints(out):
            return
        if proc.poll() is not None:
            output = proc.stdout.read()[-3000:]
            raise AssertionError(f"training exited early with {proc.returncode}: {output}")
        time.sleep(0.02)
    raise AssertionError("no checkpoint appeared")


def test_sigkill_then_restart_matches_an_uninterrupted_run(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    data = train_config(corpus, tmp_path / "ref", max_steps=STEPS, data__max_frames=120,
                        checkpoint__every_n_steps=2, num_threads=1)
    data["model"]["encoder"].update(dropout=0.1, dropout_att=0.1)
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(data))
    reference = train(load_train_config(config), echo=lambda line: None)

    killed = tmp_path / "killed"
    script = Path(sys.executable).with_name("transduce")
    cmd = [str(script), "train", str(config), "--out-dir", str(killed), "--set", "max_steps=100000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        _wait_for_checkpoint(proc, killed)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    # it may have written more checkpoints before the signal landed: keep the first one only, so the
    # restart resumes from step 2 (the later ones came from the same run and would resume alike)
    first, *later = list_checkpoints(killed)
    for _, path in later:
        shutil.rmtree(path)
    assert first[0] == 2

    lines = []
    resumed = train(load_train_config(config, [f"checkpoint.out_dir={killed}"]), echo=lines.append)
    assert any("resuming from" in line and "at step 2" in line for line in lines)
    assert resumed.step == STEPS
    a, b = load_model(reference.checkpoint).state_dict(), load_model(resumed.checkpoint).state_dict()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    assert _losses(killed) == _losses(tmp_path / "ref")
