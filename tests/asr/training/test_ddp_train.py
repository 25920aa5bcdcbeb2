"""Data parallel training: 2 gloo processes under torchrun train like 1 process with the same global batch.

Each rank trains on its share of every global batch (the sampler deals a global batch of 2 to 2
ranks); DDP averages the gradients, so every rank must end with the same weights, and those must
match a single process that takes each global batch whole (same loss curve; weights equal up to the
float differences Adam amplifies in parameters whose true gradient is zero, e.g. key biases).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import torch
import yaml
from training_helpers import needs_espeak, train_config, write_corpus
from transduce.asr import load_model
from transduce.asr.config import from_dict
from transduce.asr.training import TrainConfig, train

pytestmark = needs_espeak

_RANK_SCRIPT = textwrap.dedent("""
    import os, sys, torch
    from transduce.asr.training import load_train_config
    from transduce.asr.training.trainer import Trainer
    trainer = Trainer(load_train_config(sys.argv[1]))
    try:
        trainer.fit()
        torch.save(trainer.model.state_dict(), os.path.join(sys.argv[2], f"rank{trainer.dist.rank}.pt"))
    finally:
        trainer.close()
""")


def _config(corpus, out, per_rank_batch):
    data = train_config(corpus, out, max_steps=4, data__max_batch_size=per_rank_batch, data__max_frames=1000,
                        checkpoint__every_n_steps=2)
    # one look-ahead and layer-norm convolutions: nothing in a step depends on which rank holds what
    data["model"]["encoder"].update(att_context_size=[[16, 2]], conv_norm_type="layer_norm")
    return data


def _losses(out):
    return [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_two_gloo_ranks_agree_and_match_one_process(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(_config(corpus, tmp_path / "ddp", 1)))
    (tmp_path / "rank.py").write_text(_RANK_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(tmp_path / "rank.py"), str(tmp_path / "cfg.yaml"), str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 process(es)" in done.stdout and done.stdout.count("step 4/4") == 1  # rank 0 alone logs
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0), "ranks ended with different weights"

    single = tmp_path / "single"
    result = train(from_dict(TrainConfig, _config(corpus, single, 2), "config"), echo=lambda line: None)
    assert result.step == 4
    torch.testing.assert_close(_losses(single), _losses(tmp_path / "ddp"), rtol=1e-5, atol=0)
    assert _losses(tmp_path / "ddp")[-1] < 0.8 * _losses(tmp_path / "ddp")[0]  # it learns
    one = load_model(result.checkpoint).state_dict()
    assert one.keys() == rank0.keys()
    diffs = torch.cat([(one[k].double() - rank0[k].double()).abs().flatten()
                       for k in one if one[k].is_floating_point()])
    assert diffs.quantile(0.99) < 1e-5, f"99% of the weights should agree, got {diffs.quantile(0.99)}"
