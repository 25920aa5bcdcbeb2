"""`transduce data synth|score`: make a synthetic speech corpus; score hypotheses against a manifest.

`data synth --out DIR --hours H --seed S [--preset demo|broad] [--jobs N] [--max-utterances N]` writes
16 kHz WAVs and train/dev/test manifests (see `asr.data.synth` for the presets and the held-out
voices and sentences) and prints the throughput.
`data score REF_MANIFEST HYP_JSONL` prints WER and CER; hypotheses are JSONL rows with
`pred_text` (NeMo's name) or `text`, matched to references by `audio_filepath` when every row
has one, otherwise by line order. `--details` prints each utterance's alignment.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from transduce.asr.cli import Command, CommandError

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    synth = sub.add_parser("synth", help="synthesise English speech (espeak-ng, flite) into train/dev/test")
    synth.add_argument("--out", required=True, type=Path, help="output folder")
    synth.add_argument("--hours", type=float, help="total hours of audio over the three splits")
    synth.add_argument("--seed", type=int, default=0, help="random seed (same seed: same corpus)")
    synth.add_argument("--preset", choices=("demo", "broad"), default="demo",
                       help="demo: the demo model's corpus (espeak-ng, template text); broad: real prose "
                            "and held-out sentences, espeak-ng and flite, reverberation and noise")
    synth.add_argument("--jobs", type=int, default=2, help="synthesiser processes at a time (default 2)")
    synth.add_argument("--max-utterances", type=int, help="total utterances cap (quick runs, tests)")
    synth.add_argument("--dev-fraction", type=float, default=0.05)
    synth.add_argument("--test-fraction", type=float, default=0.05)
    synth.add_argument("--overwrite", action="store_true", help="replace an existing corpus in --out")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    score = sub.add_parser("score", help="WER/CER of hypotheses against a reference manifest")
    score.add_argument("reference", type=Path, metavar="REF_MANIFEST")
    score.add_argument("hypotheses", type=Path, metavar="HYP_JSONL")
    score.add_argument("--details", action="store_true", help="print every utterance's word alignment")


def _synth(args: argparse.Namespace) -> int:
    from transduce.asr.data.espeak import SynthesisError
    from transduce.asr.data.format_pairs import ProseSourceMissing
    from transduce.asr.data.synth import PRESETS, SynthConfig, synthesize_corpus

    if args.hours is None and args.max_utterances is None:
        raise CommandError("give --hours, --max-utterances or both")
    try:
        cfg = SynthConfig(hours=args.hours, max_utterances=args.max_utterances, seed=args.seed,
                          dev_fraction=args.dev_fraction, test_fraction=args.test_fraction,
                          **PRESETS[args.preset])
        report = synthesize_corpus(args.out, cfg, jobs=args.jobs, overwrite=args.overwrite,
                                   show_progress=not args.quiet)
    except (ValueError, FileExistsError, SynthesisError, ProseSourceMissing) as e:
        raise CommandError(str(e)) from None
    for split in report.utterances:
        print(f"{split}: {report.utterances[split]} utterances, {report.hours[split]:.4f} h "
              f"-> {Path(report.out) / (split + '.jsonl')}")
    total = sum(report.hours.values())
    print(f"made {total:.4f} h of audio in {report.wall_seconds:.1f} s with {report.jobs} jobs: "
          f"{report.audio_hours_per_wall_hour:.0f} audio hours per wall hour")
    return 0


def _read_hypotheses(path: Path) -> list[dict]:
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise CommandError(f"{path}: {e.strerror or e}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise CommandError(f"{path}:{number}: not valid JSON ({e.msg})") from None
        text = row.get("pred_text", row.get("text")) if isinstance(row, dict) else None
        if not isinstance(text, str):
            raise CommandError(f"{path}:{number}: needs a string 'pred_text' or 'text'")
        rows.append({"audio_filepath": row.get("audio_filepath"), "text": text})
    return rows


def _pair(reference: Path, hypotheses: Path) -> tuple[list[str], list[str]]:
    """Reference and hypothesis texts in reference order."""
    from transduce.asr.data.manifest import ManifestError, read_manifest

    try:
        refs = read_manifest(reference)
    except (ManifestError, OSError) as e:
        raise CommandError(str(e)) from None
    hyps = _read_hypotheses(hypotheses)
    if hyps and all(h["audio_filepath"] for h in hyps):
        by_path = {}
        for h in hyps:  # a relative path may be relative to either file's folder
            for folder in (reference.parent, hypotheses.parent):
                by_path.setdefault(os.path.abspath(folder / h["audio_filepath"]), h["text"])
        keys = [os.path.abspath(r.audio_filepath) for r in refs]
        missing = [k for k in keys if k not in by_path]
        if missing:
            raise CommandError(f"{len(missing)} reference utterances have no hypothesis, e.g. {missing[0]}")
        return [r.text for r in refs], [by_path[k] for k in keys]
    if len(hyps) != len(refs):
        raise CommandError(f"{len(refs)} references but {len(hyps)} hypotheses "
                           "(and no audio_filepath to match)")
    return [r.text for r in refs], [h["text"] for h in hyps]


def _score(args: argparse.Namespace) -> int:
    from transduce.asr.metrics import error_report

    refs, hyps = _pair(args.reference, args.hypotheses)
    word_report = error_report(refs, hyps, "word")
    if args.details:
        for i, a in enumerate(word_report.alignments):
            print(f"[{i}] {a.counts.errors} errors\n{a.format()}")
    print(f"WER {word_report.summary()}")
    print(f"CER {error_report(refs, hyps, 'char').summary()}")
    return 0


def _run(args: argparse.Namespace) -> int:
    return _synth(args) if args.data_command == "synth" else _score(args)


COMMAND = Command(
    name="data",
    help="Training data: synthesise the espeak-ng corpus (synth), score hypotheses (score).",
    add_arguments=_add_arguments,
    run=_run,
)
