"""`transduce data synth` and `transduce data score` through the real entry point."""

import json

import pytest
from transduce.asr.data.espeak import espeak_available
from transduce.asr.data.manifest import read_manifest

from transduce.cli import main


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_synth_command_writes_a_corpus_and_reports_throughput(tmp_path, capsys):
    args = ["data", "synth", "--out", str(tmp_path), "--max-utterances", "3", "--seed", "2", "--jobs", "2",
            "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "audio hours per wall hour" in out and "train: 1 utterances" in out
    for split in ("train", "dev", "test"):
        assert len(read_manifest(tmp_path / f"{split}.jsonl", check_audio=True)) == 1
    assert main(args) == 2  # the corpus exists: refused without --overwrite
    assert "exists" in capsys.readouterr().err


def test_synth_command_needs_a_size(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path)]) == 2
    assert "--hours" in capsys.readouterr().err


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_score_command_matches_by_path_and_prints_wer_and_cer(tmp_path, capsys):
    refs = [{"audio_filepath": "a.wav", "duration": 1.0, "text": "the cat sat"},
            {"audio_filepath": "b.wav", "duration": 1.0, "text": "on the mat"}]
    _jsonl(tmp_path / "ref.jsonl", refs)
    _jsonl(tmp_path / "hyp.jsonl", [{"audio_filepath": "b.wav", "pred_text": "on a mat"},
                                    {"audio_filepath": "a.wav", "pred_text": "the cat sat"}])
    assert main(["data", "score", str(tmp_path / "ref.jsonl"), str(tmp_path / "hyp.jsonl"), "--details"]) == 0
    out = capsys.readouterr().out
    assert "WER 16.67% (1 errors / 6 tokens: 1 sub, 0 del, 0 ins)" in out
    assert "REF: on THE mat\nHYP: on A   mat" in out
    _jsonl(tmp_path / "short.jsonl", [{"text": "the cat sat"}])
    assert main(["data", "score", str(tmp_path / "ref.jsonl"), str(tmp_path / "short.jsonl")]) == 2
    assert "2 references but 1 hypotheses" in capsys.readouterr().err
