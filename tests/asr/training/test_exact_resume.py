"""Exact resume: a run interrupted after a checkpoint and restarted ends with the same weights and losses.

The oracle is the uninterrupted run with the same settings (CPU, same thread count). The run is
cut in the middle of an epoch, between two checkpoints, so the restart must restore the optimizer,
the data position, the RNGs (dropout, look-ahead choice) and drop the metrics of the lost steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from training_helpers import needs_espeak, train_config, write_corpus
from transduce.asr import load_model
from transduce.asr.config import from_dict
from transduce.asr.training import TrainConfig, train
from transduce.asr.training.checkpoints import list_checkpoints
from transduce.streaming.evaluation import validate

pytestmark = needs_espeak


class _Crash(Exception):
    pass


def _config(corpus, out, **top):
    # dropout on and two look-aheads: the restart must restore torch's and python's RNGs
    # validation every 2 steps, right after each checkpoint: it must not move any RNG either
    data = train_config(corpus, out, corpus, max_steps=6, data__max_frames=120, checkpoint__every_n_steps=2,
                        validation__every_n_steps=2, validation__max_utterances=2, **top)
    data["model"]["encoder"].update(dropout=0.1, dropout_att=0.1)
    return from_dict(TrainConfig, data, "config")


def _crash_at(step):
    def echo(line):
        if line.startswith(f"step {step}/"):
            raise _Crash(line)
    return echo


def _losses(out):
    lines = (json.loads(s) for s in (out / "metrics.jsonl").read_text().splitlines())
    return {r["step"]: r["loss"] for r in lines if r.get("kind") != "validation"}


def _weights(out):
    return load_model(list_checkpoints(out)[-1][1]).state_dict()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def uninterrupted(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "a"
    result = train(_config(corpus, out), echo=lambda line: None, validator=validate)
    assert result.step == 6
    return out


def _assert_same(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    differ = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not differ, f"weights differ after resume: {differ[:5]}"
    assert _losses(a) == _losses(b)


def test_interrupted_mid_epoch_then_resumed_matches_uninterrupted(corpus, uninterrupted, tmp_path):
    out = tmp_path / "b"
    with pytest.raises(_Crash):
        train(_config(corpus, out), echo=_crash_at(4), validator=validate)  # checkpoint 2 is mid-epoch
    assert [s for s, _ in list_checkpoints(out)] == [2]
    assert max(_losses(out)) == 3  # step 3 was logged, then lost; step 4 crashed before its record
    result = train(_config(corpus, out), echo=lambda line: None, validator=validate)
    assert result.step == 6
    _assert_same(uninterrupted, out)
    assert sorted(_losses(out)) == list(range(1, 7))  # lost steps' records replaced, not duplicated
    records = [json.loads(s) for s in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r.get("kind") == "validation"] == [2, 4, 6]


def test_worker_processes_change_nothing_and_resume_exactly(corpus, uninterrupted, tmp_path):
    out = tmp_path / "w"
    with pytest.raises(_Crash):
        train(_config(corpus, out, data__num_workers=2), echo=_crash_at(4), validator=validate)
    train(_config(corpus, out, data__num_workers=2), echo=lambda line: None, validator=validate)
    _assert_same(uninterrupted, out)


def test_a_finished_run_is_not_trained_again(corpus, uninterrupted):
    before = _weights(uninterrupted)
    lines = []
    result = train(_config(corpus, uninterrupted), echo=lines.append, validator=validate)
    assert result.step == 6 and any("already trained to step 6" in line for line in lines)
    after = _weights(uninterrupted)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_cpu_losses_leave_torch_thread_count_alone():
    """The first numba-parallel loss call starts numba's OpenMP pool, which resets the OpenMP thread
    count shared with torch; a changed count changes float results in the last bits (no exact resume)."""
    code = ("import torch; from transduce import kernels; torch.set_num_threads(1); "
            "x = torch.randn(2, 5, 3, 4, requires_grad=True); "
            "kernels.rnnt_loss(x, torch.ones(2, 2, dtype=torch.long), torch.tensor([5, 4]), "
            "torch.tensor([2, 1]), 0).backward(); print(torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**env, "NUMBA_NUM_THREADS": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "1"
