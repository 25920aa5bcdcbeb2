"""`write_model_card` and `transduce evaluate --model-card`: every figure comes from its source file,
and whatever was not given shows as "to be filled in" rather than as a made-up number.

Oracles: the parameter count read straight from the safetensors file; the last records of a
hand-written metrics.jsonl; a hand-written synth.json; the evaluation JSON the card is given.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transduce.asr import load_model, save_model
from transduce.asr.audio import load_audio, sample_path, sample_transcript
from transduce.asr.data.manifest import ManifestEntry, write_manifest
from transduce.asr.encoders import ConformerConfig
from transduce.asr.models.asr_model import ASRModel, ASRModelConfig
from transduce.asr.tokenizers import CharTokenizer
from transduce.streaming.evaluation import EvalConfig, evaluate
from transduce.streaming.model_card import TODO, render_model_card, write_model_card

from transduce.cli import main

SYNTH = {
    "config": {"hours": 10.0, "seed": 1, "dev_fraction": 0.05, "test_fraction": 0.05,
               "voices": {"train_voices": ["en-us", "en-gb"], "dev_voices": ["en-us-nyc"],
                          "test_voices": ["en-gb-x-gbcwmd"], "train_variants": ["m1", "f1"],
                          "dev_variants": ["m6"], "test_variants": ["m3", "f2"]}},
    "utterances": {"train": 9116, "dev": 508, "test": 504},
    "hours": {"train": 9.000212, "dev": 0.50022, "test": 0.50121},
}
RECORDS = [
    {"step": 500, "epoch": 0, "lr": 1e-3, "loss": 20.0, "ctc": 30.0, "grad_norm": 1.0, "frames_per_s": 1.0},
    {"step": 500, "kind": "validation", "wer": 0.5, "cer": 0.3, "utterances": 100, "lookahead": 2},
    {"step": 1500, "epoch": 2, "lr": 1e-4, "loss": 3.25, "ctc": 4.5, "grad_norm": 1.0, "frames_per_s": 1.0},
    {"step": 1500, "kind": "validation", "wer": 0.0812, "cer": 0.0301, "utterances": 100, "lookahead": 2},
]


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def setup(tmp_path):
    tok = CharTokenizer(list(" abcdefghijklmnopqrstuvwxyz"))
    enc = ConformerConfig(n_layers=1, d_model=16, n_heads=2, subsampling_conv_channels=4,
                          subsampling_factor=8, conv_kernel_size=3, causal_downsampling=True,
                          conv_context_size="causal",
                          att_context_size=((8, 1), (8, 0)), att_context_style="chunked_limited")
    model = ASRModel(ASRModelConfig(vocab_size=tok.vocab_size, encoder=enc, transducer="none"))
    model_dir = save_model(model, tmp_path / "model", tok)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "synth.json").write_text(json.dumps(SYNTH))
    run = tmp_path / "run"
    run.mkdir()
    (run / "train_config.json").write_text(json.dumps(
        {"data": {"train_manifest": str(corpus / "train.jsonl"), "max_frames": 12000}, "max_steps": 1500,
         "optim": {"lr": 1.0, "schedule": "noam", "warmup_steps": 400}, "seed": 0, "device": "auto"}))
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS) + '{"step": 16')
    manifest = tmp_path / "test.jsonl"
    write_manifest(manifest, [ManifestEntry(str(sample_path()), len(load_audio(sample_path())) / 16000,
                                            sample_transcript())])
    return model_dir, run, corpus, manifest


def test_the_card_reports_each_source(setup):
    model_dir, run, corpus, manifest = setup
    result = evaluate(load_model(model_dir), [ManifestEntry(str(sample_path()), 4.78, sample_transcript())],
                      EvalConfig(), "tiny", str(manifest))
    ev = result.to_json()
    card = write_model_card(model_dir, ev, run, "transduce train x.yaml --set max_steps=1500")
    text = card.read_text()
    assert card == model_dir / "MODEL_CARD.md"
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        params = sum(f.get_tensor(k).numel() for k in f.keys() if f.get_tensor(k).is_floating_point())
    buffers = sum(b.numel() for b in load_model(model_dir).buffers() if b.is_floating_point())
    assert f"- Parameters: {params - buffers:,}" in text
    assert "char, 29 ids" in text and "[8, 1] (80 ms look-ahead)" in text
    assert f"transduce data synth --out {corpus} --hours 10 --seed 1" in text
    assert "- test: 504 utterances, 0.50 h; voices en-gb-x-gbcwmd; variants m3, f2" in text
    assert "    transduce train x.yaml --set max_steps=1500" in text
    assert "- Steps: 1500 (epoch 2); final train loss 3.250 (ctc 4.500)" in text
    assert "step 1500): WER 8.12%, CER 3.01%" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "ms |" in line]
    assert len(rows) == 2
    for row, la in zip(rows, ev["lookaheads"]):
        assert row.startswith(f"| {la['lookahead_ms']} ms | {la['context']} | {la['chunk_ms']:.0f} ms ")
        assert f"| {100 * la['streaming']['wer']:.2f}% |" in row
    assert TODO not in text


def test_missing_inputs_are_left_to_fill_in(setup):
    model_dir = setup[0]
    text = render_model_card(model_dir)
    sections = text.split("## ")
    for name in ("Data", "Training", "Evaluation"):
        assert TODO in next(s for s in sections if s.startswith(name)), name
    assert "- Steps:" not in text and "Final dev (" not in text and "| look-ahead |" not in text


def test_evaluate_cli_writes_the_card(setup, tmp_path, capsys):
    model_dir, run, _, manifest = setup
    out = tmp_path / "CARD.md"
    assert main(["evaluate", str(model_dir), str(manifest), "--lookahead-ms", "0", "--model-card", str(out),
                 "--run-dir", str(run), "--train-command", "transduce train demo.yaml"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    text = out.read_text()
    assert "    transduce train demo.yaml" in text and "| 0 ms | [8, 0] | 80 ms |" in text


def test_the_card_of_an_imported_nemo_model_says_where_it_comes_from(tmp_path):
    from transduce.asr.nemo import import_nemo

    fixture = Path(__file__).resolve().parents[1] / "fixtures/nemo/models/hybrid_cache_aware.nemo"
    text = render_model_card(import_nemo(fixture, tmp_path / "imported"))
    assert "imported from an NVIDIA NeMo checkpoint" in text and "espeak-ng" not in text
    assert "[14, 6] (480 ms look-ahead), [14, 1] (80 ms look-ahead)" in text
    assert "NeMo's mel spectrogram (window hann 25 ms, n_fft 512, normalize NA)" in text
    assert "nemo_bpe, 49 ids" in text and "## Training" not in text
