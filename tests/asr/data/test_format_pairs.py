"""Formatting-model pairs: SWORD prose reader and filters, seeded builds, disjoint splits, category labels."""

import dataclasses
import json
import re
import struct
import zlib

import pytest
from transduce.asr.data import format_pairs as fp
from transduce.asr.data import verbalize as vb

SPOKEN = re.compile(r"[a-z']+( [a-z']+)*")
GENERATED = fp.PairsConfig(prose_fraction=0.0, joined_fraction=0.0)
needs_prose = pytest.mark.skipif(
    not fp.prose_available(),
    reason="public-domain prose not installed: apt-get install " + " ".join(fp.PROSE_MODULES.values()))

ENTRIES = [
    '<milestone type="x-importer"/> <title type="main">Preface</title> <div sID="g1" type="x-p"/>',
    '<w lemma="strong:H1">In</w> <w lemma="strong:H2">the</w> beginning, God created the heavens'
    '<note type="study">Or, sky. See 3:16.</note>.',
    " And the earth was empty. Mr. Smith went home. \u201cWho is there?\u201d Forty days passed.",
    '<div eID="g1" type="x-p"/><div sID="g2" type="x-p"/>He paid five pounds for it. '
    "I don\u2019t know, said Sarah. The LORD is good. What is man? Are you my brother Esau\u2019s son?",
    "<table><row><cell>An outline of the chapter.</cell></row></table>Praise the Lord, etc. Go home now!",
]
KEPT = ("In the beginning, God created the heavens.", "And the earth was empty.",
        "I don't know, said Sarah.", "What is man?", "Are you my brother Esau's son?")


def _fake_module(root, name, entries, wide_index):
    """A compressed SWORD module as Debian installs them: mods.d/NAME.conf plus ot.?zs/?zv/?zz files,
    one block; a blank record and a repeated entry like the real indexes have."""
    kind = "cz" if wide_index else "bz"
    data_dir = root / "modules" / name.lower()
    data_dir.mkdir(parents=True)
    (root / "mods.d").mkdir(exist_ok=True)
    (root / "mods.d" / f"{name.lower()}.conf").write_text(
        f"[{name}]\nDataPath=./modules/{name.lower()}/\nModDrv={'zCom4' if wide_index else 'zText'}\n")
    raw = [e.encode() for e in entries]
    block = b"".join(raw)
    packed = zlib.compress(block)
    (data_dir / f"ot.{kind}z").write_bytes(packed)
    (data_dir / f"ot.{kind}s").write_bytes(struct.pack("<III", 0, len(packed), len(block)))
    fmt, records, offset = ("<III" if wide_index else "<IIH"), [(0, 0, 0)], 0
    for r in raw:
        records.append((0, offset, len(r)))
        offset += len(r)
    records.append(records[1])
    (data_dir / f"ot.{kind}v").write_bytes(b"".join(struct.pack(fmt, *rec) for rec in records))
    for suffix in "szv":
        (data_dir / f"nt.{kind}{suffix}").write_bytes(b"")


@pytest.fixture()
def fake_sword(tmp_path):
    root = tmp_path / "sword"
    _fake_module(root, "Narrow", ENTRIES, wide_index=False)
    _fake_module(root, "Wide", [e.replace("Sarah", "Anna") for e in ENTRIES], wide_index=True)
    return root


def test_sword_modules_read_and_filtered_to_convention_true_sentences(fake_sword):
    cfg = dataclasses.replace(GENERATED, modules=("Narrow",))
    assert fp.prose_sentences(fake_sword, cfg) == KEPT
    both = dataclasses.replace(cfg, modules=("Narrow", "Wide"))
    assert fp.prose_sentences(fake_sword, both) == KEPT + ("I don't know, said Anna.",)
    assert fp.prose_available(fake_sword, both) and not fp.prose_available(fake_sword, GENERATED)


def test_missing_prose_is_a_clear_error(tmp_path):
    with pytest.raises(fp.ProseSourceMissing, match="apt-get install sword-text-web sword-comm-mhcc"):
        fp.build_pairs(tmp_path / "out", 10, 2, 2, seed=0, source_dir=tmp_path / "nothing")
    assert fp.build_pairs(tmp_path / "out", 10, 2, 2, seed=0, source_dir=tmp_path / "nothing",
                          cfg=GENERATED)["train"] == 10


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_generated_build_is_seeded_disjoint_and_in_the_recogniser_alphabet(tmp_path):
    counts = fp.build_pairs(tmp_path / "a", 600, 100, 150, seed=5, cfg=GENERATED)
    sizes = {"train": 600, "dev": 100, "test": 150}
    expected = {}
    for split, n in sizes.items():
        expected.update({split: n, f"{split}_prose": 0, f"{split}_generated": n, f"{split}_joined": 0,
                         f"{split}_spliced": 0})
    assert counts == expected
    fp.build_pairs(tmp_path / "b", 600, 100, 150, seed=5, cfg=GENERATED)
    fp.build_pairs(tmp_path / "c", 600, 100, 150, seed=6, cfg=GENERATED)
    for split in fp.SPLITS:
        assert _lines(tmp_path / "a" / f"{split}.jsonl") == _lines(tmp_path / "b" / f"{split}.jsonl")
        assert _lines(tmp_path / "a" / f"{split}.jsonl") != _lines(tmp_path / "c" / f"{split}.jsonl")
    targets = {s: [w for _, w in fp.read_pairs(tmp_path / "a", s)] for s in fp.SPLITS}
    assert all(len(set(t)) == len(t) for t in targets.values())
    train, dev, test = (set(targets[s]) for s in fp.SPLITS)
    assert not train & test and not train & dev and not dev & test
    for split in fp.SPLITS:
        for spoken, written in fp.read_pairs(tmp_path / "a", split):
            assert SPOKEN.fullmatch(spoken) and spoken in vb.spoken_variants(written, GENERATED.style)
    summary = json.loads((tmp_path / "a" / "format_pairs.json").read_text())
    assert summary["counts"] == counts and summary["prose_modules"] == {}


def _two_of(written: str, sentences: set[str]) -> bool:
    return any(written[:i] in sentences and written[i + 1:] in sentences
               for i, c in enumerate(written) if c == " ")


def test_joined_rows_are_two_sentences_of_their_own_split(tmp_path):
    cfg = dataclasses.replace(GENERATED, joined_fraction=0.1)
    counts = fp.build_pairs(tmp_path, 300, 50, 80, seed=4, cfg=cfg)
    joined = (counts["train_joined"], counts["dev_joined"], counts["test_joined"])
    assert counts["train"] == 330 and joined == (30, 5, 8)
    targets = {s: [w for _, w in fp.read_pairs(tmp_path, s)] for s in fp.SPLITS}
    for split, written in targets.items():
        assert sum(_two_of(w, set(written)) for w in written) == counts[f"{split}_joined"]
        assert all(SPOKEN.fullmatch(spoken) for spoken, _ in fp.read_pairs(tmp_path, split))
    train = set(targets["train"])
    assert not train & set(targets["test"]) and not train & set(targets["dev"])


def _inserted(written: str, prose: str) -> bool:
    """Whether `written` is `prose` with a number phrase ("on March 3", "for $5") put after one of its
    words, the end mark kept."""
    if written[-1] != prose[-1]:
        return False
    ww, pw = written.rstrip(".?!").split(), prose[:-1].split()
    k = len(ww) - len(pw)
    return any(ww[:i] == pw[:i] and ww[i + k:] == pw[i:] and re.search(r"\d", " ".join(ww[i:i + k]))
               and ww[i] in {"on", "in", "at", "for", "by", "with", "until"} for i in range(1, len(pw) + 1))


def test_spliced_rows_put_a_number_phrase_into_a_prose_sentence_of_their_split(fake_sword, tmp_path):
    cfg = dataclasses.replace(fp.PairsConfig(prose_fraction=1.0, joined_fraction=0.0, spliced_fraction=1.0),
                              modules=("Narrow", "Wide"))
    counts = fp.build_pairs(tmp_path, 4, 1, 1, seed=3, source_dir=fake_sword, cfg=cfg)
    assert [counts[f"{s}_spliced"] for s in fp.SPLITS] == [4, 1, 1] and counts["train"] == 8
    for split in fp.SPLITS:
        pairs = fp.read_pairs(tmp_path, split)
        prose = {w for w in (w for _, w in pairs) if w in KEPT + ("I don't know, said Anna.",)}
        spliced = [(s, w) for s, w in pairs if w not in prose]
        assert len(prose) == counts[f"{split}_prose"] and len(spliced) == counts[f"{split}_spliced"]
        origins = fp.read_origins(tmp_path, split)
        assert [o for (_, w), o in zip(pairs, origins) if w not in prose] == ["spliced"] * len(spliced)
        for spoken, written in spliced:
            assert any(_inserted(written, p) for p in prose), written
            assert SPOKEN.fullmatch(spoken)
            assert spoken in vb.spoken_variants(written, cfg.style)
    with pytest.raises(ValueError, match="spliced_fraction must be in"):
        fp.PairsConfig(spliced_fraction=1.5)


def test_excluded_sentences_are_never_drawn(tmp_path):
    """Fine-tuning data: the sentences an earlier model trained on stay out of every new split."""
    fp.build_pairs(tmp_path / "first", 300, 10, 10, seed=8, cfg=GENERATED)
    seen = {w for _, w in fp.read_pairs(tmp_path / "first", "train")}
    fp.build_pairs(tmp_path / "second", 300, 50, 50, seed=8, cfg=GENERATED, exclude=seen)
    second = {w for split in fp.SPLITS for _, w in fp.read_pairs(tmp_path / "second", split)}
    assert len(second) == 400 and not second & seen
    fp.build_pairs(tmp_path / "again", 300, 50, 50, seed=8, cfg=GENERATED)
    assert {w for split in fp.SPLITS for _, w in fp.read_pairs(tmp_path / "again", split)} & seen


def test_test_split_does_not_move_when_train_grows(tmp_path):
    fp.build_pairs(tmp_path / "small", 50, 20, 40, seed=2, cfg=GENERATED)
    fp.build_pairs(tmp_path / "big", 400, 20, 40, seed=2, cfg=GENERATED)
    assert _lines(tmp_path / "small" / "test.jsonl") == _lines(tmp_path / "big" / "test.jsonl")


def test_category_labels_name_the_conventions_rows(tmp_path):
    fp.build_pairs(tmp_path, 10, 10, 400, seed=1, cfg=GENERATED)
    labels = fp.category_labels(tmp_path)
    assert len(labels) == len(_lines(tmp_path / "test.jsonl")) == 400
    seen = {label for line in labels for label in line}
    assert seen == set(fp.CATEGORIES) and all("sentence_case" in line for line in labels)
    assert fp.categories("On March 3, 2024, I paid $12.50 for Anna's 21st birthday at 7 a.m.?") == (
        "apostrophe", "comma", "date", "money", "names", "ordinal", "pronoun_i", "question", "sentence_case",
        "time", "year")
    assert fp.categories("We sold 2,500 tickets, not three.") == (
        "cardinal", "comma", "sentence_case", "small_cardinal", "statement")
    assert fp.categories("No one left at half past seven!") == ("exclamation", "sentence_case", "time_words")


def test_mixed_build_keeps_prose_and_generated_apart_per_split(fake_sword, tmp_path):
    cfg = dataclasses.replace(fp.PairsConfig(prose_fraction=0.5), modules=("Narrow", "Wide"))
    counts = fp.build_pairs(tmp_path, 4, 2, 2, seed=3, source_dir=fake_sword, cfg=cfg)
    assert (counts["train_prose"], counts["dev_prose"], counts["test_prose"]) == (2, 1, 1)
    written = {w for s in fp.SPLITS for _, w in fp.read_pairs(tmp_path, s)}
    assert len(written & set(KEPT + ("I don't know, said Anna.",))) == 4
    with pytest.raises(ValueError, match="only 6 exist"):
        fp.build_pairs(tmp_path, 20, 2, 2, seed=3, source_dir=fake_sword, cfg=cfg)


@needs_prose
def test_installed_prose_is_large_and_convention_true():
    sentences = fp.prose_sentences()
    vocabulary = {w for s in sentences for w in re.findall(r"[a-z]+(?:'[a-z]+)*", s.lower())}
    assert len(sentences) > 50_000 and len(vocabulary) >= 20_000
    for s in sentences[::97]:
        assert re.fullmatch(r"[A-Z][A-Za-z ,']*[A-Za-z][.?!]", s) and 3 <= len(s.split()) <= 40
        spoken = vb.verbalize(s)
        assert SPOKEN.fullmatch(spoken) and not re.search(r"\b(?:twenty|hundred|third|percent)\b", spoken)


@needs_prose
def test_prose_build_splits_are_disjoint(tmp_path):
    counts = fp.build_pairs(tmp_path, 3000, 300, 300, seed=9)
    assert counts["test_prose"] == counts["test_generated"] == 150 and counts["train_prose"] == 1500
    targets = {s: {w for _, w in fp.read_pairs(tmp_path, s)} for s in fp.SPLITS}
    assert not targets["train"] & (targets["dev"] | targets["test"]) and not targets["dev"] & targets["test"]
    summary = json.loads((tmp_path / "format_pairs.json").read_text())
    assert summary["prose_modules"] == fp.PROSE_MODULES
