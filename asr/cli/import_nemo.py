"""`transduce import-nemo MODEL.nemo OUT_DIR`: convert a NeMo ASR checkpoint once into our model directory.

    transduce import-nemo stt_en_fastconformer_hybrid_large_streaming_multi.nemo models/fastconformer
    transduce serve --model models/fastconformer        # or --model the .nemo file itself

OUT_DIR gets config.json, model.safetensors and tokenizer/ (NeMo's SentencePiece model as it is), so
no NeMo, omegaconf or hydra is needed to run it. A checkpoint this importer does not support is
refused with one line naming the class, key or value (exit 2) and nothing is written.
"""

from __future__ import annotations

import argparse

from transduce.asr.cli import Command, CommandError

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="MODEL.nemo", help="a NeMo ASR checkpoint")
    parser.add_argument("out", metavar="OUT_DIR", help="directory to write the model to (must not exist or "
                                                       "be empty)")


def _run(args: argparse.Namespace) -> int:
    from transduce.asr.checkpoint import CheckpointError, save_model
    from transduce.asr.nemo import load_nemo

    try:
        model = load_nemo(args.source)
        out = save_model(model, args.out, model.tokenizer)
    except CheckpointError as e:
        raise CommandError(str(e)) from None
    cfg = model.cfg
    heads = "+".join(([cfg.transducer.upper()] if cfg.transducer != "none" else []) + ["CTC"] * cfg.ctc)
    print(f"wrote {out}: {sum(p.numel() for p in model.parameters()):,} parameters, {heads}, "
          f"{cfg.vocab_size - 1} pieces, contexts {[list(c) for c in cfg.encoder.att_context_size]}")
    return 0


COMMAND = Command(
    name="import-nemo",
    help="Convert a NeMo .nemo ASR checkpoint into a transduce model directory.",
    add_arguments=_add_arguments,
    run=_run,
)
