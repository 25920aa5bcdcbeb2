"""`transduce train CONFIG`: train an ASR model from a YAML/JSON TrainConfig, resuming where it stopped.

    transduce train asr/training/configs/demo_fastconformer_tdt.yaml
    transduce train my.yaml --set max_steps=2000 --set optim.lr=2e-3 --out-dir exp/run2
    torchrun --nproc-per-node 2 -m transduce.cli train my.yaml  # data-parallel (gloo on CPU, nccl on GPU)

Running it again with the same out_dir continues from the newest checkpoint there (see
transduce.asr.training.trainer); the dev set is validated through the streaming layer's served
path (transduce.streaming.evaluation.validate). `--set` takes dotted keys and YAML values, applied
before the config is checked.
"""

from __future__ import annotations

import argparse

from transduce.asr.cli import Command, CommandError

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="training config (YAML or JSON)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a setting, e.g. --set max_steps=100 --set data.num_workers=2")
    parser.add_argument("--out-dir", metavar="DIR", help="shortcut for --set checkpoint.out_dir=DIR")


def _run(args: argparse.Namespace) -> int:
    from transduce.asr.checkpoint import CheckpointError
    from transduce.asr.config import ConfigError
    from transduce.asr.training.config import load_train_config
    from transduce.asr.training.trainer import train
    from transduce.streaming.evaluation import validate

    overrides = list(args.overrides) + ([f"checkpoint.out_dir={args.out_dir}"] if args.out_dir else [])
    try:
        cfg = load_train_config(args.config, overrides)
        result = train(cfg, echo=lambda line: print(line, flush=True), validator=validate)
    except (ConfigError, CheckpointError) as e:
        raise CommandError(str(e)) from None
    if result.checkpoint is not None:
        print(f"done: step {result.step}, model in {result.checkpoint}", flush=True)
    return 0


COMMAND = Command(
    name="train",
    help="Train a CTC / RNN-T / TDT model from a YAML or JSON config (resumes from out_dir).",
    add_arguments=_add_arguments,
    run=_run,
)
