"""Utterances with more tokens than encoder frames (no CTC alignment exists) are left out of training
with a note, counted against the largest speed perturbation; the others all train."""

from __future__ import annotations

import json

from training_helpers import noisy_tone_corpus, train_config
from transduce.asr.config import from_dict
from transduce.asr.data.manifest import ManifestEntry, read_manifest, write_manifest
from transduce.asr.tokenizers import CharTokenizer
from transduce.asr.training import TrainConfig, train
from transduce.asr.training.build import build_model, ctc_reachable

TOK = CharTokenizer(list(" abcdefghijklmnopqrstuvwxyz'"))


def test_reachability_counts_tokens_and_repeats_against_frames_at_the_fastest_speed(tmp_path):
    cfg = from_dict(TrainConfig, train_config(tmp_path / "m.jsonl", tmp_path / "run"), "config")
    model = build_model(cfg, TOK)
    frames = lambda seconds, fastest=1.0: int(seconds / fastest / model.frame_shift_s)  # noqa: E731
    def distinct(k: int) -> str:  # k tokens, no two neighbours equal
        return ("ab" * k)[:k]

    n = frames(1.0)
    entries = [ManifestEntry("a.wav", 1.0, distinct(n)),               # n tokens in n frames: fits
               ManifestEntry("b.wav", 1.0, distinct(n) + "c"),         # one token too many
               ManifestEntry("c.wav", 1.0, "a" * ((n + 1) // 2 + 1)),  # repeats need a blank between them
               ManifestEntry("d.wav", 1.0, distinct(frames(1.0, 1.1)))]
    assert ctc_reachable(entries, TOK, model) == [True, False, False, True]
    assert ctc_reachable(entries, TOK, model, fastest=1.1) == [False, False, False, True]


def test_training_leaves_unreachable_utterances_out_with_a_note(tmp_path):
    manifest = noisy_tone_corpus(tmp_path, n=4)
    entries = read_manifest(manifest)
    too_fast = ManifestEntry(entries[0].audio_filepath, entries[0].duration, "abcdefghij" * 10)
    write_manifest(tmp_path / "mixed.jsonl", [*entries, too_fast])
    lines = []
    cfg = train_config(tmp_path / "mixed.jsonl", tmp_path / "run", max_steps=4)
    result = train(from_dict(TrainConfig, cfg, "config"), echo=lines.append)
    assert result.step == 4
    assert any("1 training utterances have more tokens than encoder frames" in line for line in lines)
    announced = [line for line in lines if line.startswith("training ")]
    assert any(f"{len(entries)} training utterances" in line for line in announced)
    records = [json.loads(s) for s in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["ctc"] < float("inf") for r in records if "ctc" in r)
