"""Manifests: NeMo JSONL rows, paths relative to the manifest folder, line-numbered errors, lenient scan."""

import json
import os

import pytest
from transduce.asr.data.manifest import (
    ManifestEntry,
    ManifestError,
    read_manifest,
    scan_manifest,
    write_manifest,
)


def _write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_relative_paths_resolve_against_the_manifest_folder(tmp_path, monkeypatch):
    (tmp_path / "corpus" / "wav").mkdir(parents=True)
    (tmp_path / "corpus" / "wav" / "a.wav").write_bytes(b"x")
    absolute = str(tmp_path / "elsewhere.wav")
    rows = [{"audio_filepath": "wav/a.wav", "duration": 1.5, "text": "hello", "speaker": "s1"},
            {"audio_filepath": absolute, "duration": 2, "text": "world", "offset": 0.25}]
    _write_lines(tmp_path / "corpus" / "m.jsonl", [json.dumps(r) for r in rows])
    monkeypatch.chdir(tmp_path / "corpus" / "wav")  # the working directory must not matter
    entries = read_manifest(tmp_path / "corpus" / "m.jsonl")
    assert os.path.samefile(entries[0].audio_filepath, tmp_path / "corpus" / "wav" / "a.wav")
    assert entries[0].extra == {"speaker": "s1"} and entries[0].offset == 0.0
    assert entries[1].audio_filepath == absolute and entries[1].duration == 2.0 and entries[1].offset == 0.25


def test_write_then_read_round_trip_with_relative_paths(tmp_path):
    audio = tmp_path / "out" / "wav" / "u1.wav"
    entries = [ManifestEntry(str(audio), 1.25, "one two", 0.0, {"voice": "en-us"}),
               ManifestEntry("/data/x.flac", 3.0, "three", 0.5)]
    write_manifest(tmp_path / "out" / "train.jsonl", entries)
    rows = [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert rows[0]["audio_filepath"] == "wav/u1.wav" and rows[0]["voice"] == "en-us"
    assert rows[1] == {"audio_filepath": "/data/x.flac", "duration": 3.0, "text": "three", "offset": 0.5}
    back = read_manifest(tmp_path / "out" / "train.jsonl")
    assert [(os.path.abspath(e.audio_filepath), e.duration, e.text, e.offset) for e in back] == [
        (str(audio), 1.25, "one two", 0.0), ("/data/x.flac", 3.0, "three", 0.5)]


@pytest.mark.parametrize("row, problem", [
    ('{"audio_filepath": "a.wav", "duration": 1.0, "text": "hi"', "not valid JSON"),
    ('["a.wav", 1.0, "hi"]', "expected a JSON object"),
    ('{"duration": 1.0, "text": "hi"}', "audio_filepath"),
    ('{"audio_filepath": "a.wav", "text": "hi"}', "missing key 'duration'"),
    ('{"audio_filepath": "a.wav", "duration": 0, "text": "hi"}', "'duration' must be > 0"),
    ('{"audio_filepath": "a.wav", "duration": "2", "text": "hi"}', "finite number"),
    ('{"audio_filepath": "a.wav", "duration": NaN, "text": "hi"}', "finite number"),
    ('{"audio_filepath": "a.wav", "duration": 1.0, "text": "  "}', "'text' is empty"),
    ('{"audio_filepath": "a.wav", "duration": 1.0}', "'text' must be a string"),
    ('{"audio_filepath": "a.wav", "duration": 1.0, "text": "hi", "offset": -1}', "'offset' must be >= 0"),
])
def test_errors_name_the_file_and_line(tmp_path, row, problem):
    good = json.dumps({"audio_filepath": "a.wav", "duration": 1.0, "text": "ok"})
    path = tmp_path / "m.jsonl"
    _write_lines(path, [good, "", row, good])  # the blank line 2 still counts
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    assert info.value.line == 3 and f"{path}:3:" in str(info.value) and problem in str(info.value)


def test_scan_reports_and_skips_bad_rows(tmp_path):
    (tmp_path / "ok1.wav").write_bytes(b"x")
    (tmp_path / "ok2.wav").write_bytes(b"x")
    rows = [
        {"audio_filepath": "ok1.wav", "duration": 1.0, "text": "first"},
        {"audio_filepath": "missing.wav", "duration": 1.0, "text": "gone"},
        {"audio_filepath": "ok1.wav", "duration": 0.0, "text": "zero"},
        {"audio_filepath": "ok2.wav", "duration": 1.0, "text": ""},
        {"audio_filepath": "ok2.wav", "duration": 2.0, "text": "last"},
    ]
    path = tmp_path / "m.jsonl"
    _write_lines(path, [json.dumps(r) for r in rows])
    entries, problems = scan_manifest(path)
    assert [e.text for e in entries] == ["first", "last"]
    assert [p.line for p in problems] == [2, 3, 4]
    assert "audio file not found" in problems[0].problem and "missing.wav" in str(problems[0])
    assert "duration" in problems[1].problem and "empty" in problems[2].problem
    with pytest.raises(ManifestError, match=r"m\.jsonl:2: audio file not found"):
        read_manifest(path, check_audio=True)
    with pytest.raises(ManifestError, match=r"m\.jsonl:3: 'duration' must be > 0"):
        read_manifest(path)  # without the audio check the first bad row is line 3
