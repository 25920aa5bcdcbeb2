"""ctc_only_steps: during the first N updates of a hybrid only the CTC loss trains the model.

Invariant: the transducer heads (predictor, joiner) get exactly zero gradient in those steps, so
AdamW's moment estimates for them stay zero and their weights only decay; from step N + 1 they
train. The transducer loss is still computed and logged throughout.
"""

from __future__ import annotations

import json

import pytest
from training_helpers import needs_espeak, train_config, write_corpus
from transduce.asr import load_model
from transduce.asr.config import ConfigError, from_dict
from transduce.asr.training import TrainConfig, train
from transduce.asr.training.checkpoints import list_checkpoints, load_trainer_state

pytestmark = needs_espeak


def _config(corpus, out, **top):
    data = train_config(corpus, out, max_steps=4, checkpoint__every_n_steps=2, **top)
    return from_dict(TrainConfig, data, "config")


def _head_moments(checkpoint):
    """Max |exp_avg| of the predictor+joiner parameters and of the encoder's, from the optimizer state."""
    model = load_model(checkpoint)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    state = load_trainer_state(checkpoint)["optimizer"]["state"]
    order = [n for group in (
        [n for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2],
        [n for n, p in model.named_parameters() if p.requires_grad and p.ndim < 2]) for n in group]
    assert sorted(order) == sorted(names)
    heads = [state[i]["exp_avg"].abs().max().item() for i, n in enumerate(order)
             if n.startswith(("predictor.", "joiner."))]
    encoder = [state[i]["exp_avg"].abs().max().item() for i, n in enumerate(order)
               if n.startswith("encoder.")]
    return max(heads), max(encoder)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus"))


def test_transducer_heads_get_no_gradient_until_ctc_only_steps_end(corpus, tmp_path):
    out = tmp_path / "run"
    train(_config(corpus, out, ctc_only_steps=2), echo=lambda _: None)
    (_, first), (_, second) = list_checkpoints(out)
    heads, encoder = _head_moments(first)  # after steps 1-2: CTC only
    assert heads == 0.0 and encoder > 0.0
    heads, _ = _head_moments(second)  # after steps 3-4: the hybrid loss
    assert heads > 0.0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    by_step = {r["step"]: r for r in rows}
    assert by_step[1]["loss"] == pytest.approx(by_step[1]["ctc"], rel=1e-6)  # what was optimised
    assert by_step[1]["transducer"] > 0  # still computed and logged
    hybrid = 0.7 * by_step[3]["transducer"] + 0.3 * by_step[3]["ctc"]
    assert by_step[3]["loss"] == pytest.approx(hybrid, rel=1e-5)


def test_ctc_only_steps_without_a_hybrid_is_refused(corpus, tmp_path):
    data = train_config(corpus, tmp_path, ctc_only_steps=5)
    data["model"]["ctc"] = False
    with pytest.raises(ConfigError, match="ctc_only_steps needs a hybrid"):
        from_dict(TrainConfig, data, "config")
    with pytest.raises(ConfigError, match="ctc_only_steps must be >= 0"):
        from_dict(TrainConfig, train_config(corpus, tmp_path, ctc_only_steps=-1), "config")
