"""`transduce evaluate MODEL MANIFEST`: streaming and offline WER/CER per look-ahead, their gap, and RTF.

    transduce evaluate demo data/synth/test.jsonl
    transduce evaluate runs/x/averaged test.jsonl --lookahead-ms 0 --lookahead-ms 480 --json eval.json
    transduce evaluate demo test.jsonl --decoding beam --beam-size 4 --max-utterances 100
    transduce evaluate demo test.jsonl --model-card asr/assets/models/demo/MODEL_CARD.md \\
        --run-dir runs/demo1 --train-command "transduce train ..."

MODEL is a checkpoint directory or the name of a bundled model. See streaming.evaluation for what each
figure means; RTF is measured with the torch thread count printed (--threads, default 1).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transduce.asr.cli import Command, CommandError

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="checkpoint directory or bundled model name")
    parser.add_argument("manifest", metavar="MANIFEST", type=Path, help="JSONL manifest to score")
    parser.add_argument("--lookahead-ms", type=int, action="append", metavar="MS",
                        help="a look-ahead of the model in ms (repeatable; default: all it has)")
    parser.add_argument("--decoding", choices=("greedy", "beam"), default="greedy")
    parser.add_argument("--beam-size", type=int, default=4, metavar="N")
    parser.add_argument("--lm", metavar="PATH|NAME",
                        help="with --decoding beam: re-rank each final's n-best with this language model "
                             "(a TextLM; 'bundled': the model's lm folder); reported as beam+lm")
    parser.add_argument("--lm-weight", type=float, default=0.3, metavar="W")
    parser.add_argument("--length-bonus", type=float, default=0.0, metavar="B", help="added per word")
    parser.add_argument("--max-utterances", type=int, metavar="N", help="only the first N utterances")
    parser.add_argument("--batch-size", type=int, default=1, metavar="B",
                        help="streams decoded together (default 1: the RTF of one stream)")
    parser.add_argument("--threads", type=int, default=1, metavar="N",
                        help="torch threads (default 1: steady timings on a shared CPU; 0: torch's default)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON")
    card = parser.add_argument_group("model card (streaming.model_card)")
    card.add_argument("--model-card", type=Path, metavar="OUT.md", help="write a MODEL_CARD.md here")
    card.add_argument("--run-dir", type=Path, help="the training run (train_config.json, metrics.jsonl)")
    card.add_argument("--train-command", help="the exact training command, for the card")
    card.add_argument("--synth-json", type=Path, help="the corpus's synth.json (default: found via the run)")


def _load(model_arg: str, manifest: Path) -> tuple[object, list]:
    from transduce.asr.checkpoint import CheckpointError, load_model
    from transduce.asr.data.manifest import ManifestError, read_manifest
    from transduce.asr.models import ASRModel

    try:
        model = load_model(model_arg)
    except CheckpointError as e:
        raise CommandError(str(e)) from None
    if not isinstance(model, ASRModel) or model.tokenizer is None:
        raise CommandError(f"{model_arg}: not a speech recognition model with a tokenizer "
                           f"(got {type(model).__name__})")
    if not manifest.is_file():
        raise CommandError(f"{manifest}: no such manifest file")
    try:
        entries = read_manifest(manifest, check_audio=True)
    except (ManifestError, UnicodeDecodeError) as e:
        raise CommandError(f"bad manifest: {e}") from None
    if not entries:
        raise CommandError(f"{manifest}: the manifest has no utterances")
    return model, entries


def _language_model(args: argparse.Namespace) -> object:
    """The TextLM of --lm (None without one); usage errors exit 2."""
    if args.lm is None:
        return None
    from transduce.asr.checkpoint import CheckpointError
    from transduce.streaming.errors import SessionConfigError
    from transduce.streaming.lm import load_lm

    if args.decoding != "beam":
        raise CommandError("--lm re-ranks the n-best of beam search: add --decoding beam")
    if args.lm_weight < 0:
        raise CommandError(f"--lm-weight must be >= 0, got {args.lm_weight}")
    try:
        return load_lm(True if args.lm == "bundled" else args.lm, args.model)
    except (CheckpointError, SessionConfigError) as e:
        raise CommandError(f"--lm {args.lm}: {e}") from None


def _run(args: argparse.Namespace) -> int:
    import torch
    from transduce.asr.audio import AudioError
    from transduce.streaming.evaluation import EvalConfig, evaluate, format_table

    if args.threads:
        torch.set_num_threads(args.threads)
    model, entries = _load(args.model, args.manifest)
    lm = _language_model(args)
    cfg = EvalConfig(tuple(args.lookahead_ms) if args.lookahead_ms else None, args.decoding, args.beam_size,
                     args.max_utterances, args.batch_size, lm_weight=args.lm_weight,
                     length_bonus=args.length_bonus)
    try:
        result = evaluate(model, entries, cfg, str(args.model), str(args.manifest), lm=lm)
    except (ValueError, AudioError, FileNotFoundError) as e:
        raise CommandError(str(e)) from None
    print(format_table(result))
    report = result.to_json()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    if args.model_card:
        _write_card(args, report)
    return 0


def _write_card(args: argparse.Namespace, report: dict) -> None:
    from transduce.asr.checkpoint import bundled_model_path, bundled_models
    from transduce.streaming.model_card import write_model_card

    model_dir = Path(args.model)
    if not model_dir.is_dir() and args.model in bundled_models():
        model_dir = bundled_model_path(args.model)
    path = write_model_card(model_dir, report, args.run_dir, args.train_command, args.synth_json,
                            out=args.model_card)
    print(f"wrote {path}")


COMMAND = Command(
    name="evaluate",
    help="Streaming and offline WER/CER per look-ahead, their gap and RTF of a model on a manifest.",
    add_arguments=_add_arguments,
    run=_run,
)
