"""Batch transcription at scale: frame-budgeted batches, reader threads, rank parts and torchrun.

Oracles: `plan_batches` against its contract on random durations; `Recognizer.transcribe` one file at
a time (batch_size=1, no threads) for every batching/threading setting; a 1-process CLI run for the
2-rank torchrun run. Rank-part merging is checked on parts damaged the way a kill leaves them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from stream_helpers import speechlike, tiny_model
from transduce.streaming import Recognizer
from transduce.streaming._batch_io import merge_parts, rank_part, rank_parts
from transduce.streaming.transcripts import plan_batches

from transduce import asr
from transduce.cli import main as cli_main

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("seed", range(20))
def test_plan_batches_keeps_every_input_once_within_both_budgets(seed):
    rng = np.random.default_rng(seed)
    durations = rng.uniform(0.0, 20.0, int(rng.integers(0, 60))).round(2).tolist()
    batch_size = int(rng.integers(1, 9))
    budget = None if seed % 4 == 0 else int(rng.integers(100, 4000))
    batches = plan_batches(durations, batch_size, budget)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(durations)))
    assert [durations[i] for i in flat] == sorted(durations)  # shortest first, across and within batches
    for b in batches:
        assert 1 <= len(b) <= batch_size
        if budget is not None and len(b) > 1:
            assert len(b) * max(durations[i] for i in b) * 100 <= budget + 1e-6
    if budget is None:
        assert all(len(b) == batch_size for b in batches[:-1])  # no budget: full batches


def test_a_recording_longer_than_the_budget_gets_a_batch_of_its_own():
    assert plan_batches([1.0, 30.0, 0.5, 0.6], 4, max_batch_frames=110) == [[2], [3], [0], [1]]
    assert plan_batches([1.0, 30.0, 0.5, 0.6], 4, max_batch_frames=120) == [[2, 3], [0], [1]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A saved tiny model and 13 float WAVs of different lengths (one corrupt file besides)."""
    root = tmp_path_factory.mktemp("ranks")
    asr.save_model(tiny_model("tdt", True, scale=3.0), root / "model")
    audio = root / "audio"
    audio.mkdir()
    for i in range(13):
        sf.write(audio / f"{i:02d}.wav", speechlike(0.4 + 0.13 * i, seed=i), 16000, subtype="FLOAT")
    (audio / "zz_broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    return root


def test_frame_budget_and_reader_threads_change_no_transcript(corpus):
    r = Recognizer.load(corpus / "model")
    paths = sorted((corpus / "audio").iterdir())
    alone = r.transcribe(paths, batch_size=1)
    assert sum(len(t.text) for t in alone) > 40 and alone[-1].error is not None
    for kw in ({"batch_size": 5, "max_batch_frames": 300}, {"batch_size": 4, "workers": 1},
               {"batch_size": 3, "max_batch_frames": 800, "workers": 3}):
        got = r.transcribe(paths, **kw)
        assert [(t.source, t.text, t.words, t.error is None) for t in got] == \
               [(t.source, t.text, t.words, t.error is None) for t in alone], kw
    with pytest.raises(ValueError, match="max_batch_frames"):
        r.transcribe(paths, max_batch_frames=0)
    with pytest.raises(ValueError, match="workers"):
        r.transcribe(paths, workers=-1)


def _rows(path: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    by_source = {r["source"]: r for r in rows}
    assert len(by_source) == len(rows), "a source was written twice"
    return by_source


def test_resume_merges_rank_parts_left_by_a_killed_job_once(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(corpus)
    full = tmp_path / "full.jsonl"
    assert cli_main(["transcribe", "audio", "--model", "model", "--out", str(full), "--no-progress"]) == 1
    lines = full.read_text().splitlines(keepends=True)
    out = tmp_path / "out.jsonl"
    out.write_text("".join(lines[:3]))  # merged before the kill
    rank_part(out, 0).write_text("".join(lines[2:6]))  # one row both merged and in its part
    rank_part(out, 1).write_text("".join(lines[6:8]) + lines[8][:10])  # a half-written last line
    assert [p.name for p in rank_parts(out)] == ["out.jsonl.rank0.part", "out.jsonl.rank1.part"]
    assert cli_main(["transcribe", "audio", "--model", "model", "--out", str(out), "--resume",
                     "--no-progress"]) == 1
    assert _rows(out) == _rows(full) and not rank_parts(out)
    merge_parts(out, "jsonl")  # nothing left to merge: a no-op
    assert _rows(out) == _rows(full)


def test_parts_make_out_exist_for_the_overwrite_rule(corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(corpus)
    out = tmp_path / "out.txt"
    rank_part(out, 3).write_text("audio/00.wav\tx\n")
    assert cli_main(["transcribe", "audio", "--model", "model", "--out", str(out), "--output-format", "txt",
                     "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert cli_main(["transcribe", "audio", "--model", "model", "--out", str(out), "--output-format", "txt",
                     "--overwrite", "--no-progress"]) == 1
    assert not rank_parts(out) and len(out.read_text().splitlines()) == 14


@pytest.mark.slow
def test_two_rank_torchrun_gives_the_one_process_result_set(corpus, tmp_path):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    common = ["audio", "--model", "model", "--batch-size", "3", "--no-progress"]
    done = subprocess.run([str(BIN / "transduce"), "transcribe", *common, "--out", str(one)],
                          cwd=corpus, capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stderr  # the broken file
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                "-m", "transduce.cli", "transcribe", *common, "--out", str(two)]
    done = subprocess.run(torchrun, cwd=corpus, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode != 0, done.stderr  # every rank reports the failed file
    assert "14 inputs" in done.stderr and "1 failed" in done.stderr and "2 processes" in done.stderr
    assert _rows(two) == _rows(one) and not rank_parts(two)
