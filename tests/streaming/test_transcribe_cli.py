"""`transduce transcribe`: the console script on a tiny saved model, against the Python API as the oracle.

Oracle: `Recognizer.transcribe` of the same files in this process (itself checked against an offline
decoder in test_recognizer.py). Resume is checked by damaging --out the way a kill would (a missing
last row, a half-written last line) and by a real SIGKILL mid-run: every input must end up exactly once.
Tiny CTC model (fast start); audio is float WAV so the file holds the very samples.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
from stream_helpers import speechlike, tiny_model
from transduce.streaming import Recognizer

from transduce import asr
from transduce.cli import main as cli_main

SCRIPT = str(Path(sys.executable).parent / "transduce")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A folder with a saved model, audio/ (3 WAVs in two levels + a corrupt file) and a manifest."""
    root = tmp_path_factory.mktemp("job")
    asr.save_model(tiny_model("none", True, scale=3.0), root / "model")
    (root / "audio" / "sub").mkdir(parents=True)
    for i, (seconds, where) in enumerate(((1.3, "audio"), (0.6, "audio"), (1.9, "audio/sub"))):
        sf.write(root / where / f"{i}.wav", speechlike(seconds, seed=i), 16000, subtype="FLOAT")
    (root / "audio" / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    rows = [{"audio_filepath": "audio/0.wav", "duration": 1.3}, {"audio_filepath": "audio/1.wav"},
            {"audio_filepath": "audio/0.wav", "offset": 0.5, "duration": 0.4}]
    (root / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIPT, "transcribe", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _expected(root: Path, sources: list[str]) -> dict[str, dict]:
    r = Recognizer.load(root / "model")
    got = r.transcribe([root / s for s in sources], batch_size=1)
    return {s: {"text": t.text, "words": [[w.text, w.start_s, w.end_s, w.confidence] for w in t.words],
                "duration_s": t.duration_s, "failed": t.error is not None} for s, t in zip(sources, got)}


def _as_expected(row: dict) -> dict:
    words = [[w["text"], w["start_s"], w["end_s"], w["confidence"]] for w in row["words"]]
    failed = row["error"] is not None
    return {"text": row["text"], "words": words, "duration_s": row["duration_s"], "failed": failed}


AUDIO = ["audio/0.wav", "audio/1.wav", "audio/broken.wav", "audio/sub/2.wav"]


def test_rows_equal_the_python_api_and_a_bad_file_is_an_error_row(job, tmp_path):
    out = tmp_path / "out.jsonl"
    done = _run(job, "audio", "m.jsonl", "--model", "model", "--out", str(out), "--batch-size", "3")
    assert done.returncode == 1, done.stderr
    rows = _rows(out)
    segment = "audio/0.wav@0.5"
    assert sorted(r["source"] for r in rows) == sorted(AUDIO + [segment])  # manifest repeats dropped
    by_source = {r["source"]: r for r in rows}
    expected = _expected(job, AUDIO)
    assert sum(len(e["text"]) for e in expected.values()) > 20  # not a comparison of empty outputs
    for source in AUDIO:
        assert _as_expected(by_source[source]) == expected[source], source
    assert "broken.wav" in by_source["audio/broken.wav"]["error"]
    assert "offset" in by_source[segment]["error"] and by_source[segment]["text"] == ""
    assert "broken.wav" in done.stderr and "2 failed" in done.stderr


def _cli(*args: str) -> int:
    return cli_main(["transcribe", *args, "--no-progress"])


def test_resume_after_a_lost_row_or_a_half_written_line_gives_each_input_once(job, tmp_path, monkeypatch):
    monkeypatch.chdir(job)
    out = tmp_path / "out.jsonl"
    assert _cli("audio", "--model", "model", "--out", str(out)) == 1
    full = out.read_text().splitlines(keepends=True)
    assert len(full) == 4
    for damaged in ("".join(full[:-1]), "".join(full[:-1]) + full[-1][: len(full[-1]) // 2]):
        out.write_text(damaged)
        assert _cli("audio", "--model", "model", "--out", str(out), "--resume") == 1  # broken.wav failed
        rows = _rows(out)
        assert sorted(r["source"] for r in rows) == sorted(AUDIO)
        assert {r["source"]: r for r in rows} == {json.loads(x)["source"]: json.loads(x) for x in full}
    assert _cli("audio/0.wav", "audio/1.wav", "--model", "model", "--out", str(out), "--resume") == 0


def test_txt_srt_vtt_outputs_and_overwrite(job, tmp_path, monkeypatch):
    monkeypatch.chdir(job)
    expected = _expected(job, AUDIO)
    txt = tmp_path / "out.txt"
    assert _cli("audio", "--model", "model", "--out", str(txt), "--output-format", "txt") == 1
    lines = dict(line.split("\t", 1) for line in txt.read_text().splitlines())
    assert lines == {s: e["text"] for s, e in expected.items()}
    subs = tmp_path / "subs"
    assert _cli("audio", "--model", "model", "--out", str(subs), "--output-format", "srt") == 1
    assert sorted(p.name for p in subs.iterdir()) == ["0.srt", "1.srt", "2.srt"]  # no file for broken.wav
    blocks = (subs / "2.srt").read_text().strip().split("\n\n")
    words = expected["audio/sub/2.wav"]["words"]
    assert " ".join(b.split("\n")[2] for b in blocks) == " ".join(w[0] for w in words)
    ms = round(words[0][1] * 1000)
    assert blocks[0].split("\n")[1].startswith(f"00:00:{ms // 1000:02d},{ms % 1000:03d} --> ")
    vtt = tmp_path / "vtt"
    assert _cli("audio/sub/2.wav", "--model", "model", "--out", str(vtt), "--output-format", "vtt") == 0
    cues = (vtt / "2.vtt").read_text().strip().split("\n\n")
    assert cues[0] == "WEBVTT"
    assert [c.replace(".", ",") for c in cues[1:]] == [b.split("\n", 1)[1] for b in blocks]
    assert _cli("audio", "--model", "model", "--out", str(txt), "--output-format", "txt", "--overwrite") == 1
    assert len(txt.read_text().splitlines()) == len(AUDIO)  # replaced, not appended to


def test_sigkill_mid_run_then_resume_gives_each_input_once(tmp_path, job):
    many = tmp_path / "many"
    many.mkdir()
    for i in range(60):
        sf.write(many / f"{i:02d}.wav", speechlike(0.3 + 0.01 * i, seed=i), 16000, subtype="FLOAT")
    out = tmp_path / "out.jsonl"
    args = [SCRIPT, "transcribe", str(many), "--model", str(job / "model"), "--out", str(out),
            "--batch-size", "1", "--no-progress"]
    proc = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 3):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = out.read_text().count("\n")
    assert 3 <= before < 60, "the kill should land mid-run"
    done = subprocess.run(args + ["--resume"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    sources = [r["source"] for r in _rows(out)]
    assert sorted(sources) == sorted(str(p) for p in many.iterdir())


def test_usage_errors_exit_2_with_a_message(job, tmp_path, monkeypatch, capsys):
    done = _run(job, "audio", "--model", "no/such/model", "--out", str(tmp_path / "a.jsonl"))
    assert done.returncode == 2 and "no/such/model" in done.stderr
    assert not (tmp_path / "a.jsonl").exists()
    monkeypatch.chdir(job)
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no audio here")
    existing = tmp_path / "exists.jsonl"
    existing.write_text("")
    new = str(tmp_path / "new.jsonl")
    cases = [([str(tmp_path / "empty"), "--out", new], "no audio"), (["--out", new], "no inputs"),
             (["audio", "--out", str(existing)], "--resume"),
             (["audio", "--out", str(existing), "--output-format", "srt", "--resume"], "folder")]
    for argv, message in cases:
        assert _cli(*argv, "--model", "model") == 2
        assert message in capsys.readouterr().err, (argv, message)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"audio_filepath": "audio/0.wav"}\n{"duration": 1}\n')
    assert _cli(str(bad), "--model", "model", "--out", str(tmp_path / "b.jsonl")) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err


def test_missing_file_is_an_error_row_and_beam_settings_reach_the_recognizer(job, tmp_path, monkeypatch):
    monkeypatch.chdir(job)
    out = tmp_path / "beam.jsonl"
    argv = ["audio/sub/2.wav", "audio/nope.wav", "--model", "model", "--out", str(out)]
    assert _cli(*argv, "--decoding", "beam", "--beam-size", "8") == 1
    rows = {r["source"]: r for r in _rows(out)}
    assert "nope.wav" in rows["audio/nope.wav"]["error"] and rows["audio/nope.wav"]["text"] == ""
    beam = Recognizer.load(job / "model", decoding="beam", beam_size=8).transcribe("audio/sub/2.wav")[0]
    assert beam.text != Recognizer.load(job / "model").transcribe("audio/sub/2.wav")[0].text  # it matters
    assert rows["audio/sub/2.wav"]["text"] == beam.text
    assert [w["text"] for w in rows["audio/sub/2.wav"]["words"]] == [w.text for w in beam.words]


def test_format_adds_the_written_form_to_jsonl_and_writes_it_to_txt(job, tmp_path, text_model_dir,
                                                                   monkeypatch):
    monkeypatch.chdir(job)
    from transduce.asr.text.rewriter import TextRewriter

    rewriter = TextRewriter.load(text_model_dir)
    fmt = ["--format", "--format-model", str(text_model_dir)]
    out = tmp_path / "f.jsonl"
    assert _cli("audio", "--model", "model", "--out", str(out), *fmt) == 1  # broken.wav fails
    rows = {r["source"]: r for r in _rows(out)}
    good = [r for r in rows.values() if r["error"] is None]
    assert len(good) == 3 and [r["formatted_text"] for r in good] == rewriter([r["text"] for r in good])
    assert "formatted_text" not in rows["audio/broken.wav"]
    txt = tmp_path / "f.txt"
    assert _cli("audio", "--model", "model", "--out", str(txt), "--output-format", "txt", *fmt) == 1
    lines = dict(line.split("\t") for line in txt.read_text().splitlines())
    assert all(lines[r["source"]] == r["formatted_text"] for r in good)


def test_format_refuses_subtitles_and_non_text_models(job, tmp_path, text_model_dir, capsys, monkeypatch):
    monkeypatch.chdir(job)
    srt = ["--output-format", "srt", "--format", "--format-model", str(text_model_dir)]
    assert _cli("audio", "--model", "model", "--out", str(tmp_path / "subs"), *srt) == 2
    assert "--format writes jsonl or txt" in capsys.readouterr().err
    assert _cli("audio", "--model", "model", "--out", str(tmp_path / "x.jsonl"), "--format",
                "--format-model", "model") == 2
    assert "--format-model model: a TextRewriter needs a TextSeq2Seq" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


def test_lm_reranks_the_beam_and_bad_lms_exit_2(job, tmp_path, monkeypatch, capsys):
    from stream_helpers import taught_lm

    monkeypatch.chdir(job)
    beam = Recognizer.load(job / "model", decoding="beam", beam_size=8).transcribe("audio/sub/2.wav")[0]
    assert len({a.text for a in beam.alternatives}) > 1
    favourite = next(a.text for a in beam.alternatives if a.text != beam.text)
    asr.save_model(taught_lm([a.text for a in beam.alternatives], favourite), tmp_path / "lm")
    out = tmp_path / "lm.jsonl"
    argv = ["audio/sub/2.wav", "--model", "model", "--decoding", "beam", "--beam-size", "8"]
    assert _cli(*argv, "--out", str(out), "--lm", str(tmp_path / "lm"), "--lm-weight", "1000") == 0
    assert [r["text"] for r in _rows(out)] == [favourite]
    assert _cli(*argv, "--out", str(tmp_path / "x.jsonl"), "--lm", "model") == 2
    assert "not a TextLM" in capsys.readouterr().err
    lm = ["--lm", str(tmp_path / "lm")]
    assert _cli(*argv, "--out", str(tmp_path / "y.jsonl"), *lm, "--lm-weight", "-1") == 2
    assert "lm_weight" in capsys.readouterr().err
