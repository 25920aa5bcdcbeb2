"""`transduce tokenizer ...` and `transduce --help` through the installed console script.

Oracles: a char tokenizer's ids are 2 + the character's rank in the sorted alphabet of the
training text (0 blank, 1 unk); BPE pieces spell the text back with "▁" for spaces.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "transduce"
ALPHABET = "abcdefghijklmnop ,.'"
BPE_VOCAB = 48


def _start(*args: str | Path) -> subprocess.Popen:
    assert SCRIPT.is_file(), f"{SCRIPT} is missing: run `.venv/bin/pip install -e .`"
    return subprocess.Popen([str(SCRIPT), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _run_all(*commands: tuple) -> list[subprocess.CompletedProcess]:
    """Run the commands concurrently (each is a tuple of arguments) and collect their results."""
    procs = [(_start(*c), c) for c in commands]
    done = []
    for p, c in procs:
        out, err = p.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(c, p.returncode, out, err))
    return done


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"{result.args}: exit {result.returncode}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("tok")
    rng = random.Random(0)
    words = ["".join(rng.choice(ALPHABET[:16]) for _ in range(rng.randint(2, 6))) for _ in range(40)]
    lines = [" ".join(rng.choices(words, k=rng.randint(3, 9))) + rng.choice(".,'") for _ in range(200)]
    (root / "a.txt").write_text("\n".join(lines[:120]) + "\n", encoding="utf-8")
    (root / "b.txt").write_text("\n".join(lines[120:]) + "\n", encoding="utf-8")
    inputs = (root / "a.txt", root / "b.txt")
    char, bpe = _run_all(
        ("tokenizer", "train", "--kind", "char", "--input", *inputs, "--out", root / "char"),
        ("tokenizer", "train", "--kind", "bpe", "--input", *inputs, "--vocab-size", BPE_VOCAB, "--out",
         root / "bpe"),
    )
    assert "wrote a char tokenizer" in _ok(char) and f"with {BPE_VOCAB} ids" in _ok(bpe)
    return {"root": root, "lines": lines, "words": words, "inputs": inputs}


def test_char_encode_decode_against_the_alphabet(trained):
    root = trained["root"]
    alphabet = sorted(set("".join(trained["lines"])) | {" "})
    text = " ".join(trained["words"][:5]) + ", zoo."
    expected = [2 + alphabet.index(c) if c in alphabet else 1 for c in text]
    enc, pieces = _run_all(("tokenizer", "encode", root / "char", text),
                           ("tokenizer", "encode", "--pieces", root / "char", "ab cd"))
    assert [int(i) for i in _ok(enc).split()] == expected
    assert expected[-4] == 1, "'z' is outside the alphabet: unk"
    assert _ok(pieces).split() == ["a", "b", "c", "d"]  # the space piece prints as a separator
    (dec,) = _run_all(("tokenizer", "decode", root / "char", "0", *map(str, expected), "0"))
    assert _ok(dec).rstrip("\n") == text.replace("z", "\u2047")


def test_bpe_encode_decode_round_trip(trained):
    root = trained["root"]
    text = " ".join(trained["words"][5:12])
    enc, pieces = _run_all(("tokenizer", "encode", root / "bpe", text),
                           ("tokenizer", "encode", "--pieces", root / "bpe", text))
    ids = _ok(enc).split()
    assert all(2 <= int(i) < BPE_VOCAB for i in ids) and len(ids) < len(text)
    assert "".join(_ok(pieces).split()).replace("\u2581", " ").strip() == text
    (dec,) = _run_all(("tokenizer", "decode", root / "bpe", *ids))
    assert _ok(dec).rstrip("\n") == text
    meta = json.loads((root / "bpe" / "tokenizer.json").read_text())
    assert meta["type"] == "bpe" and meta["vocab_size"] == BPE_VOCAB


def test_bad_input_gives_a_message_and_no_traceback(trained, tmp_path):
    root, inputs = trained["root"], trained["inputs"]
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    (tmp_path / "blank.txt").write_text("\n  \n")
    char, bpe, out = ("train", "--kind", "char", "--input"), ("train", "--kind", "bpe", "--input"), "--out"
    cases = {
        (*char, tmp_path / "none.txt", out, tmp_path / "o1"): "none.txt: no such file",
        (*bpe, *inputs, out, tmp_path / "o2"): "--kind bpe needs --vocab-size",
        (*char, *inputs, "--vocab-size", "9", out, tmp_path / "o3"): "--vocab-size applies to --kind bpe",
        (*bpe, *inputs, "--vocab-size", "5000", out, tmp_path / "o4"): "Vocabulary size too high (5000)",
        (*char, tmp_path / "latin1.txt", out, tmp_path / "o5"): "latin1.txt: not UTF-8 text",
        (*char, tmp_path / "blank.txt", out, tmp_path / "o6"): "no training text",
        (*char, *inputs, out, root / "bpe"): "directory is not empty",
        ("train", "--kind", "rune", "--input", *inputs, out, tmp_path / "o7"): "invalid choice: 'rune'",
        ("encode", tmp_path, "text"): "tokenizer.json: no such file (not a tokenizer directory)",
        ("decode", root / "char", "3", "4000"): "token id 4000 is outside the vocabulary",
        ("decode", root / "char", "3", "x"): "invalid int value: 'x'",
    }
    results = _run_all(*[("tokenizer", *args) for args in cases])
    for result, expected in zip(results, cases.values()):
        assert result.returncode != 0, result.args
        assert expected in result.stderr, (result.args, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.txt", "latin1.txt"], "failures write nothing"
    assert sorted(p.name for p in (root / "bpe").iterdir()) == ["bpe.model", "tokenizer.json"]


def test_help_lists_only_working_subcommands():
    (top,) = _run_all(("--help",))
    listed = re.findall(r"^ {4}(\S+)", _ok(top).split("positional arguments:")[1], flags=re.M)
    assert {"demo", "features", "tokenizer"} <= set(listed), listed
    nested = [("tokenizer", action, "--help") for action in ("train", "encode", "decode")]
    results = _run_all(*[(name, "--help") for name in listed], *nested)
    for result in results:
        assert f"usage: transduce {' '.join(result.args[:-1])}" in _ok(result)
