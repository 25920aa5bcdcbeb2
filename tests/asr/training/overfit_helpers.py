"""Shared by the overfit tests: train a ~50k-parameter model on 6 spoken words until it knows them."""

from __future__ import annotations

import json
from pathlib import Path

from training_helpers import model_section, train_config
from transduce.asr.config import from_dict
from transduce.asr.training import TrainConfig, TrainResult, train
from transduce.streaming.evaluation import validate

STEPS = 90


def overfit(corpus: Path, out: Path, transducer: str, ctc: bool,
            loss: str = "full") -> tuple[TrainResult, list]:
    """Train to STEPS on `corpus`, validate (streaming) on the same utterances; (result, loss per step)."""
    data = train_config(corpus, out, corpus, max_steps=STEPS, checkpoint__every_n_steps=STEPS,
                        optim={"lr": 5e-3, "warmup_steps": 5, "schedule": "constant", "weight_decay": 0.0})
    data["model"] = model_section(transducer, ctc)
    data["model"]["loss"]["transducer_loss"] = loss
    result = train(from_dict(TrainConfig, data, "config"), echo=lambda line: None, validator=validate)
    records = [json.loads(s) for s in (out / "metrics.jsonl").read_text().splitlines()]
    return result, [r["loss"] for r in records if r.get("kind") != "validation"]


def overfit_summary(result: TrainResult, losses: list) -> dict:
    """What the overfit tests assert: steps logged, mean loss of the first and last 5 steps, and the
    streaming validation (utterances, WER, hypotheses vs references)."""
    v = result.validation
    return {"steps": len(losses), "first": sum(losses[:5]) / 5, "last": sum(losses[-5:]) / 5,
            "utterances": None if v is None else v.utterances, "wer": None if v is None else v.wer,
            "decoded": None if v is None else list(zip(v.references, v.hypotheses))}
