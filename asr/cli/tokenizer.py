"""`transduce tokenizer train|encode|decode`: make a tokenizer from text files and try it.

    transduce tokenizer train --kind bpe --input a.txt b.txt --vocab-size 256 --out tok/
    transduce tokenizer train --kind char --input a.txt --out tok/
    transduce tokenizer encode tok/ "hello world"        -> 12 7 ...
    transduce tokenizer decode tok/ 12 7 ...              -> hello world

The directory is what `Tokenizer.save` writes and `load_tokenizer` (and a checkpoint's
`tokenizer/` folder) reads. Ids follow the shared convention: 0 blank, 1 unk, tokens from 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from transduce.asr.cli import Command, CommandError
from transduce.asr.tokenizers import BpeTokenizer, CharTokenizer, Tokenizer, TokenizerError, load_tokenizer

__all__ = ["COMMAND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train a tokenizer from UTF-8 text files (one sentence per line)",
                           description="Train a tokenizer from UTF-8 text files (one sentence per line).")
    train.add_argument("--kind", choices=("bpe", "char"), required=True, help="BPE (sentencepiece) or chars")
    train.add_argument("--input", nargs="+", required=True, metavar="TEXT_FILE", help="training text")
    train.add_argument("--vocab-size", type=int, metavar="N",
                       help="number of ids, blank and unk included (bpe only; char uses the text's alphabet)")
    train.add_argument("--out", required=True, metavar="DIR", help="directory to write the tokenizer into")
    train.add_argument("--force", action="store_true", help="overwrite a tokenizer already in DIR")
    encode = sub.add_parser("encode", help="print the ids of TEXT", description="Print the ids of TEXT.")
    encode.add_argument("directory", metavar="DIR", help="tokenizer directory")
    encode.add_argument("text", metavar="TEXT")
    encode.add_argument("--pieces", action="store_true", help="print the pieces instead of the ids")
    decode = sub.add_parser("decode", help="print the text of IDs", description="Print the text of IDs.")
    decode.add_argument("directory", metavar="DIR", help="tokenizer directory")
    decode.add_argument("ids", nargs="+", type=int, metavar="ID")


def _read_texts(paths: list[str]) -> list[str]:
    """The contents of `paths`; CommandError naming a file that is missing or not UTF-8 text."""
    texts = []
    for name in paths:
        try:
            texts.append(Path(name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CommandError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise CommandError(f"{name}: is a directory, expected a text file") from None
        except UnicodeDecodeError as e:
            raise CommandError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        except OSError as e:
            raise CommandError(f"{name}: {e.strerror or e}") from None
    if not any(t.strip() for t in texts):
        raise CommandError(f"no training text: {', '.join(paths)} hold(s) only blank lines")
    return texts


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CommandError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise CommandError(f"{out}: directory is not empty (use --force to overwrite a tokenizer there)")


def _train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _check_out(out, args.force)
    texts = _read_texts(args.input)
    if args.kind == "char":
        if args.vocab_size is not None:
            raise CommandError("--vocab-size applies to --kind bpe only (a char vocabulary is the text's "
                               "alphabet plus blank and unk)")
        tok: Tokenizer = CharTokenizer.train(line for text in texts for line in text.splitlines())
        tok.save(out)
    else:
        if args.vocab_size is None:
            raise CommandError("--kind bpe needs --vocab-size N")
        tok = BpeTokenizer.train(texts, args.vocab_size, directory=out)
    print(f"wrote a {args.kind} tokenizer with {tok.vocab_size} ids (0 blank, 1 unk) to {out}")
    return 0


def _encode(args: argparse.Namespace) -> int:
    tok = load_tokenizer(args.directory)
    ids = tok.encode(args.text)
    print(" ".join(tok.id_to_piece(i) for i in ids) if args.pieces else " ".join(map(str, ids)))
    return 0


def _decode(args: argparse.Namespace) -> int:
    tok = load_tokenizer(args.directory)
    try:
        print(tok.decode(args.ids))
    except IndexError as e:
        raise CommandError(str(e)) from None
    return 0


def _run(args: argparse.Namespace) -> int:
    actions = {"train": _train, "encode": _encode, "decode": _decode}
    try:
        return actions[args.action](args)
    except TokenizerError as e:
        raise CommandError(str(e)) from None


COMMAND = Command(
    name="tokenizer",
    help="Train a BPE or character tokenizer, encode and decode with it.",
    add_arguments=_add_arguments,
    run=_run,
)
