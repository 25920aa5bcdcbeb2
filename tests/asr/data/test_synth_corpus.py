"""Synthetic corpus: reproducible bytes, readable manifests, held-out speakers, silence padding; the broad
preset: flite voices held out whole, held-out sentences, reverberation and noise, still reproducible."""

import dataclasses
import filecmp
import json

import numpy as np
import pytest
import soundfile as sf
from transduce.asr.data.broad_text import sentence_split
from transduce.asr.data.espeak import espeak, espeak_available
from transduce.asr.data.flite import flite_available
from transduce.asr.data.format_pairs import prose_available
from transduce.asr.data.manifest import read_manifest
from transduce.asr.data.synth import (
    PRESETS,
    SPLITS,
    SynthConfig,
    VoiceSplits,
    plan_utterance,
    synthesize_corpus,
)
from transduce.asr.data.textgen import TRANSCRIPT_ALPHABET

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
needs_broad = pytest.mark.skipif(not (espeak_available() and flite_available() and prose_available()),
                                 reason="espeak-ng, flite or the prose packages are not installed")
TINY = SynthConfig(hours=None, max_utterances=6, seed=3)
BROAD = SynthConfig(hours=None, max_utterances=20, seed=5, dev_fraction=0.2, test_fraction=0.2,
                    **{**PRESETS["broad"], "flite_share": 0.5, "reverb_prob": 0.5, "noise_prob": 0.5})


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@needs_espeak
def test_same_seed_same_bytes_whatever_the_jobs(tmp_path):
    a = synthesize_corpus(tmp_path / "a", TINY, jobs=1, show_progress=False)
    b = synthesize_corpus(tmp_path / "b", TINY, jobs=3, show_progress=False)
    assert a.utterances == b.utterances == {"train": 4, "dev": 1, "test": 1}
    names = _files(tmp_path / "a")
    assert names == _files(tmp_path / "b") and len([n for n in names if n.endswith(".wav")]) == 6
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert mismatch == [] and errors == []
    c = synthesize_corpus(tmp_path / "c", dataclasses.replace(TINY, seed=4), jobs=2, show_progress=False)
    texts = lambda root: [e.text for s in SPLITS for e in read_manifest(root / f"{s}.jsonl")]
    assert texts(tmp_path / "c") != texts(tmp_path / "a") and c.utterances == a.utterances


@needs_espeak
def test_manifests_are_readable_and_durations_match_the_files(tmp_path):
    synthesize_corpus(tmp_path, TINY, jobs=2, show_progress=False)
    summary = json.loads((tmp_path / "synth.json").read_text())
    assert summary["utterances"] == {"train": 4, "dev": 1, "test": 1}
    for split in SPLITS:
        rows = [json.loads(line) for line in (tmp_path / f"{split}.jsonl").read_text().splitlines()]
        assert all(r["audio_filepath"].startswith(f"wav/{split}/") for r in rows)  # relative paths
        for e in read_manifest(tmp_path / f"{split}.jsonl", check_audio=True):
            info = sf.info(e.audio_filepath)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert e.duration == info.frames / 16000 and 0.5 < e.duration < 20
            assert set(e.text) <= set(TRANSCRIPT_ALPHABET) and e.text == " ".join(e.text.split())
            x, _ = sf.read(e.audio_filepath, dtype="int16")
            spec = plan_utterance(TINY, split, int(e.audio_filepath[-10:-4]))
            lead, trail = round(spec.lead_s * 16000), round(spec.trail_s * 16000)
            assert not x[:lead].any() and not x[len(x) - trail:].any()  # the silence gaps
            assert x[lead:len(x) - trail].any()
            peak = 20 * np.log10(np.abs(x.astype(np.float64)).max() / 32767)
            assert peak == pytest.approx(spec.peak_dbfs, abs=0.01)
            assert e.extra["speaker"] == f"{spec.voice}+{spec.variant}" and e.text == spec.text


def test_dev_and_test_speakers_never_occur_in_train():
    cfg = SynthConfig(hours=1.0, seed=0)
    vs = cfg.voices
    speakers = {s: {(u.voice, u.variant) for u in (plan_utterance(cfg, s, i) for i in range(400))}
                for s in SPLITS}
    assert not speakers["train"] & speakers["dev"] and not speakers["train"] & speakers["test"]
    assert not speakers["dev"] & speakers["test"]
    assert all(v in vs.train_voices and w in vs.train_variants for v, w in speakers["train"])
    for split, voices, variants in (("dev", vs.dev_voices, vs.dev_variants),
                                    ("test", vs.test_voices, vs.test_variants)):
        assert all(v in voices or w in variants for v, w in speakers[split])
        assert {v for v, _ in speakers[split]} & set(voices)  # the held-out accent really occurs
    with pytest.raises(ValueError, match="disjoint"):
        VoiceSplits(test_voices=("en-us",))


def test_every_category_occurs_and_speaking_settings_stay_in_range():
    cfg = SynthConfig(hours=1.0, seed=1)
    plans = [plan_utterance(cfg, "train", i) for i in range(600)]
    assert {p.category for p in plans} == {"prose", "everyday", "number", "date", "time", "money", "address"}
    assert all(130 <= p.speed <= 200 and 30 <= p.pitch <= 70 and 0 <= p.word_gap <= 6 for p in plans)
    assert len({p.text for p in plans}) > 450
    assert plans[17] == plan_utterance(cfg, "train", 17)


def test_split_limits_from_hours_and_counts():
    limits = SynthConfig(hours=2.0, max_utterances=100, dev_fraction=0.1, test_fraction=0.05).split_limits()
    assert limits["train"] == pytest.approx((2 * 3600 * 0.85, 85))
    assert limits["dev"] == pytest.approx((720.0, 10)) and limits["test"] == pytest.approx((360.0, 5))
    with pytest.raises(ValueError, match="max_utterances"):
        SynthConfig(hours=None)
    with pytest.raises(ValueError, match=">= 3"):
        SynthConfig(max_utterances=2)


@needs_espeak
def test_every_configured_variant_really_changes_the_voice():
    """espeak-ng silently falls back to the plain voice for an unknown variant name."""
    vs = VoiceSplits()
    base = espeak("hello there", "en-us")[0]
    outputs = {}
    for variant in vs.train_variants + vs.dev_variants + vs.test_variants:
        out = espeak("hello there", "en-us", variant)[0]
        assert len(out) != len(base) or not np.array_equal(out, base), variant
        outputs[variant] = out.tobytes()
    assert len(set(outputs.values())) == len(outputs)  # no two names are one voice
    for voice in vs.train_voices + vs.dev_voices + vs.test_voices:
        assert len(espeak("hello there", voice)[0]) > 1000


@needs_espeak
def test_existing_corpus_is_not_overwritten_by_accident(tmp_path):
    synthesize_corpus(tmp_path, TINY, show_progress=False)
    with pytest.raises(FileExistsError, match="train.jsonl"):
        synthesize_corpus(tmp_path, TINY, show_progress=False)
    small = dataclasses.replace(TINY, max_utterances=3)
    synthesize_corpus(tmp_path, small, overwrite=True, show_progress=False)
    assert len(list((tmp_path / "wav").rglob("*.wav"))) == 3  # stale files of the old run are gone


@needs_broad
def test_broad_plans_hold_out_flite_voices_and_sentences():
    vs = BROAD.voices
    plans = {s: [plan_utterance(BROAD, s, i) for i in range(120)] for s in SPLITS}
    for split, allowed in (("train", vs.flite_train), ("dev", vs.flite_dev), ("test", vs.flite_test)):
        flite_voices = {p.voice for p in plans[split] if p.engine == "flite"}
        assert flite_voices and flite_voices <= set(allowed)
        assert all(sentence_split(p.written, BROAD.heldout_share, BROAD.heldout_share) == split
                   for p in plans[split])
        assert all(p.engine == "espeak" or (not p.variant and 80 <= p.speed <= 125 and 88 <= p.pitch <= 112)
                   for p in plans[split])
    train = plans["train"]
    assert 0.35 < sum(p.rt60_s is not None for p in train) / len(train) < 0.65
    assert 0.35 < sum(p.snr_db is not None for p in train) / len(train) < 0.65
    assert {p.noise for p in train if p.noise} == {"white", "pink"}
    with pytest.raises(ValueError, match="flite voices"):
        VoiceSplits(flite_test=("awb",))


@needs_broad
def test_broad_corpus_is_reproducible_and_its_manifests_say_how_each_utterance_was_made(tmp_path):
    a = synthesize_corpus(tmp_path / "a", BROAD, jobs=1, show_progress=False)
    b = synthesize_corpus(tmp_path / "b", BROAD, jobs=2, show_progress=False)
    names = _files(tmp_path / "a")
    assert a.utterances == b.utterances == {"train": 12, "dev": 4, "test": 4}
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert mismatch == [] and errors == []
    engines = set()
    for split in SPLITS:
        for e in read_manifest(tmp_path / "a" / f"{split}.jsonl", check_audio=True):
            spec = plan_utterance(BROAD, split, int(e.audio_filepath[-10:-4]))
            x, rate = sf.read(e.audio_filepath, dtype="int16")
            assert rate == 16000 and 0.5 < len(x) / rate < 40
            peak = 20 * np.log10(np.abs(x.astype(np.float64)).max() / 32767)
            assert peak == pytest.approx(spec.peak_dbfs, abs=0.01)
            lead = round(spec.lead_s * 16000)
            assert x[:lead].any() == (spec.snr_db is not None)  # noise covers the silences too
            extra = e.extra
            made = (extra["engine"], extra["rt60_s"], extra["snr_db"])
            assert made == (spec.engine, spec.rt60_s, spec.snr_db)
            assert extra["written"] == spec.written and e.text == spec.text
            engines.add(extra["engine"])
    assert engines == {"espeak", "flite"}
    summary = json.loads((tmp_path / "a" / "synth.json").read_text())
    assert "flite:slt" in summary["speakers"]["test"] and "flite:slt" not in summary["speakers"]["train"]
