"""`transduce demo` as a user runs it (a subprocess): with a model given by path, with the front end
only, and with whatever is bundled. The tiny model here is random, so the test checks the sections,
that streaming reports the offline result exactly, and that the printed WER fits the printed texts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transduce.asr import save_model
from transduce.asr.audio import sample_transcript
from transduce.asr.checkpoint import bundled_models
from transduce.asr.encoders import ConformerConfig
from transduce.asr.models.asr_model import ASRModel, ASRModelConfig, transducer_heads
from transduce.asr.text.rewriter import TextRewriter
from transduce.asr.tokenizers import CharTokenizer


def _transduce(*args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("transduce")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "transduce"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tok = CharTokenizer(list(" abcdefghijklmnopqrstuvwxyz"))
    enc = ConformerConfig(n_layers=1, d_model=32, n_heads=2, ff_expansion_factor=2, conv_kernel_size=5,
                          subsampling="dw_striding", subsampling_factor=8, subsampling_conv_channels=8,
                          causal_downsampling=True, conv_context_size="causal",
                          att_context_size=((8, 3), (8, 0)), att_context_style="chunked_limited")
    pred, joiner = transducer_heads(tok.vocab_size, 32, "rnnt", pred_dim=16, joint_dim=16)
    torch.manual_seed(0)
    model = ASRModel(ASRModelConfig(vocab_size=tok.vocab_size, encoder=enc, transducer="rnnt", predictor=pred,
                                    joiner=joiner))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return save_model(model, tmp_path_factory.mktemp("demo") / "tiny", tok)


def _word_errors(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        prev, row[0] = row[0], i
        for j in range(1, len(hyp) + 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ref[i - 1] != hyp[j - 1]))
    return row[-1]


def test_demo_with_a_model_shows_offline_and_streaming_transcripts(model_dir):
    run = _transduce("demo", "--model", str(model_dir), "--lookahead-ms", "240")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "look-ahead 240 ms = context [8, 3]: 320 ms chunks" in out  # 3 frames of 80 ms
    for section in ("reference", "offline", "streaming", "words (streaming", "1 torch thread"):
        assert section in out, section
    assert "streaming == offline" in out  # the encoder streams exactly
    ref = sample_transcript().split()
    for mode in ("offline", "streaming"):
        text, wer, rtf = re.search(rf"^  {mode} +'(.*)'  WER ([\d.]+)%  RTF ([\d.]+)", out, re.M).groups()
        assert float(wer) == pytest.approx(100 * _word_errors(ref, text.split()) / len(ref), abs=0.05)
        assert float(rtf) > 0
    assert re.search(r"^ +\d+\.\d\d- *\d+\.\d\d  [01]\.\d\d  \S", out, re.M)  # a word: times, confidence
    if "format" in bundled_models():  # the offline transcript in written form, by the bundled text model
        written = re.search(r"^  written +'(.*)'  \(the bundled text model 'format'", out, re.M).group(1)
        offline = re.search(r"^  offline +'(.*)'  WER", out, re.M).group(1)
        assert written == TextRewriter.load("format")([offline])[0]


def test_demo_refuses_a_look_ahead_the_model_does_not_have(model_dir):
    run = _transduce("demo", "--model", str(model_dir), "--lookahead-ms", "100")
    assert run.returncode == 2
    assert "lookahead_ms 100 is not one of the model's look-aheads [240, 0] (ms)" in run.stderr


def test_demo_features_only_shows_the_front_end():
    run = _transduce("demo", "--features-only")
    assert run.returncode == 0, run.stderr
    assert "audio front end" in run.stdout and "max |online - offline| = 0.00e+00" in run.stdout


def test_demo_runs_with_whatever_is_bundled():
    run = _transduce("demo")
    assert run.returncode == 0, run.stderr
    if "demo" in bundled_models():
        assert "transduce demo: model demo" in run.stdout and "streaming == offline" in run.stdout
    else:
        assert "no trained model is bundled" in run.stdout


def test_demo_with_a_missing_model_fails_clearly(tmp_path):
    run = _transduce("demo", "--model", str(tmp_path / "nothing"))
    assert run.returncode == 2 and "no such checkpoint directory" in run.stderr
