"""`streaming.evaluation`, `transduce evaluate`: streaming == offline on exact encoders, consistent figures.

Oracles: the offline whole-utterance forward under the same attention mask (the encoders stream
exactly, so every transcript must match); word error rates recomputed here with a plain-loop
Levenshtein distance; the audio duration from the WAV files; the chunk sizes from the config.
Untrained models get larger weights so that they emit many tokens (a mismatch would show).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from stream_helpers import offline_hypothesis
from transduce.asr.audio import load_audio, sample_path, sample_transcript
from transduce.asr.data.manifest import ManifestEntry, write_manifest
from transduce.asr.decoding import to_result
from transduce.asr.encoders import ConformerConfig
from transduce.asr.losses import TDTLossConfig
from transduce.asr.models.asr_model import ASRModel, ASRModelConfig, LossConfig, transducer_heads
from transduce.asr.tokenizers import CharTokenizer
from transduce.streaming import EndpointConfig, Recognizer
from transduce.streaming.evaluation import EvalConfig, evaluate

from transduce import save_model
from transduce.cli import main

TOK = CharTokenizer(list(" abcdefghijklmnopqrstuvwxyz'"))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model(transducer="tdt", contexts=((16, 2), (16, 0), (8, 1)), style="chunked_limited", seed=0):
    enc = ConformerConfig(n_layers=2, d_model=32, n_heads=2, ff_expansion_factor=2, conv_kernel_size=5,
                          subsampling="dw_striding", subsampling_factor=8, subsampling_conv_channels=8,
                          causal_downsampling=True, conv_context_size="causal", att_context_size=contexts,
                          att_context_style=style, dropout=0.0, dropout_pre_encoder=0.0, dropout_att=0.0)
    pred = joiner = None
    if transducer != "none":
        pred, joiner = transducer_heads(TOK.vocab_size, 32, transducer, pred_dim=32, joint_dim=32)
    cfg = ASRModelConfig(vocab_size=TOK.vocab_size, encoder=enc, transducer=transducer, predictor=pred,
                         joiner=joiner, loss=LossConfig(tdt=TDTLossConfig(durations=(0, 1, 2, 3, 4))))
    torch.manual_seed(seed)
    model = ASRModel(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
        model.normalizer.mean.uniform_(-1, 1)
    model.tokenizer = TOK
    return model


def _corpus(root):
    """The bundled sample plus two noisy chirps (texts made up); the manifest path and the durations."""
    rng = np.random.default_rng(0)
    entries = [ManifestEntry(str(sample_path()), len(load_audio(sample_path())) / 16000, sample_transcript())]
    for i, (seconds, text) in enumerate([(1.3, "go left"), (2.13, "stop right now")]):
        t = np.arange(int(16000 * seconds)) / 16000
        x = 0.3 * np.sin(2 * np.pi * (150 + 400 * t) * t) + 0.05 * rng.standard_normal(len(t))
        path = root / f"chirp_{i}.wav"
        sf.write(path, x.astype(np.float32), 16000, subtype="PCM_16")
        entries.append(ManifestEntry(str(path), len(t) / 16000, text))
    manifest = root / "test.jsonl"
    write_manifest(manifest, entries)
    return manifest, entries


def _levenshtein(a, b):
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, row[0] = row[0], i
        for j in range(1, len(b) + 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
    return row[-1]


def _wer(refs, hyps):
    errors = sum(_levenshtein(r.split(), h.split()) for r, h in zip(refs, hyps))
    return errors / sum(len(r.split()) for r in refs)


@pytest.mark.parametrize("transducer", ["tdt", "rnnt", "none"])
def test_streaming_transcripts_equal_offline_ones(tmp_path, transducer):
    model = _model(transducer)
    entries = _corpus(tmp_path)[1][1:]  # the chirps: untrained RNN-T emits a lot on the long sample
    result = evaluate(model, entries, EvalConfig(batch_size=2))
    refs = [e.text for e in entries]
    assert [la.index for la in result.lookaheads] == [0, 1, 2]
    assert [la.lookahead_ms for la in result.lookaheads] == [160, 0, 80]  # right frames x 80 ms
    for la in result.lookaheads:
        oracle = [to_result(offline_hypothesis(model, load_audio(e.audio_filepath), la.index, "greedy"), TOK,
                            model.frame_shift_s).text for e in entries]
        assert la.offline.hypotheses == tuple(oracle)
        assert la.streaming.hypotheses == la.offline.hypotheses
        assert la.differing == 0.0 and la.wer_gap == 0.0
        assert sum(len(h) for h in la.offline.hypotheses) > 10  # not a comparison of empty outputs
        for mode in (la.streaming, la.offline):
            assert mode.wer == pytest.approx(_wer(refs, mode.hypotheses))
            assert mode.rtf > 0 and mode.rtfx == pytest.approx(1 / mode.rtf)
    one = evaluate(model, entries, EvalConfig(lookaheads_ms=(0,), batch_size=1))
    assert one.lookaheads[0].streaming.hypotheses == result.lookaheads[1].streaming.hypotheses


def test_beam_search_streams_like_it_decodes_offline(tmp_path):
    _, entries = _corpus(tmp_path)
    cfg = EvalConfig(lookaheads_ms=(160,), decoding="beam", beam_size=2)
    result = evaluate(_model("tdt"), entries[1:], cfg)
    la = result.lookaheads[0]
    assert result.beam_size == 2 and la.streaming.hypotheses == la.offline.hypotheses


def test_beam_with_an_lm_streams_like_it_decodes_offline_and_follows_the_lm(tmp_path):
    """beam+lm: the n-best of every final re-ranked; with a large weight the LM's favourite wins, and
    streaming still equals offline."""
    from stream_helpers import taught_lm
    from transduce.streaming import RecognizerConfig

    _, entries = _corpus(tmp_path)
    model = _model("tdt")
    chirp = entries[2]
    recognizer = Recognizer(model, RecognizerConfig("beam", 4, lookahead_ms=160))
    beam = recognizer.transcribe(chirp.audio_filepath)[0]
    favourite = next(a.text for a in beam.alternatives if a.text != beam.text)
    lm = taught_lm([a.text for a in beam.alternatives], favourite)
    cfg = EvalConfig(lookaheads_ms=(160,), decoding="beam", beam_size=4, lm_weight=1000.0)
    result = evaluate(model, [chirp], cfg, lm=lm)
    la = result.lookaheads[0]
    assert result.decoding == "beam+lm"
    assert la.offline.hypotheses == la.streaming.hypotheses == (favourite,)
    plain = evaluate(model, [chirp], EvalConfig(lookaheads_ms=(160,), decoding="beam", beam_size=4))
    assert plain.lookaheads[0].offline.hypotheses == (beam.text,) and plain.decoding == "beam"


def test_a_context_that_cannot_stream_is_scored_offline_only(tmp_path):
    _, entries = _corpus(tmp_path)
    result = evaluate(_model("tdt", ((-1, -1),), "regular"), entries[1:])
    la = result.lookaheads[0]
    assert la.streaming is None and la.wer_gap is None and 0 <= la.offline.wer
    assert result.to_json()["lookaheads"][0]["streaming"] is None


def test_a_stream_equals_offline_for_any_audio_chunking():
    """Recognizer.stream (the served path) against the offline oracle, chunk boundaries included."""
    model = _model("tdt")
    first, later = model.encoder.chunk_frames(0)
    audio = load_audio(sample_path())
    # a length whose frames end exactly on a chunk boundary (the final chunk is empty), and one
    # whose last encoder frames wait for look-ahead that never comes (only the end finishes them)
    exact = audio[:400 + 160 * (first + 3 * later - 1)]
    ragged = audio[:400 + 160 * (first + 3 * later + 9)]
    recognizer = Recognizer(model)
    for samples in (audio, exact, ragged):
        expect = to_result(offline_hypothesis(model, samples, 0), TOK, model.frame_shift_s)
        assert len(expect.tokens) > 5
        for chunk in (160, 1000, 4321, len(samples)):
            with recognizer.stream(16000, EndpointConfig(enabled=False), interim_results=False) as s:
                results = [r for i in range(0, len(samples), chunk) for r in s.feed(samples[i:i + chunk])]
                (final,) = results + s.finish()
            assert final.tokens == tuple(expect.tokens), chunk
            assert [(w.start_s, w.end_s) for w in final.words] == [(w.start_s, w.end_s) for w in expect.words]


def test_cli_writes_consistent_json(tmp_path, capsys):
    model = _model("tdt")
    model_dir = save_model(model, tmp_path / "model")
    manifest, entries = _corpus(tmp_path)
    out = tmp_path / "eval.json"
    args = ["evaluate", str(model_dir), str(manifest), "--lookahead-ms", "80", "--lookahead-ms", "160",
            "--max-utterances", "2", "--json", str(out), "--threads", "1"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "stream WER" in printed and "1 torch thread" in printed
    report = json.loads(out.read_text())
    assert report["utterances"] == 2 and report["machine"]["torch_threads"] == 1
    assert report["audio_s"] == pytest.approx(sum(e.duration for e in entries[:2]), abs=1e-3)
    assert [la["index"] for la in report["lookaheads"]] == [2, 0]
    assert [la["lookahead_ms"] for la in report["lookaheads"]] == [80, 160]
    for la in report["lookaheads"]:
        contexts = model.cfg.encoder.att_context_size
        assert la["context"] == list(contexts[la["index"]])
        assert la["chunk_ms"] == 10 * 8 * (contexts[la["index"]][1] + 1)
        for mode in ("streaming", "offline"):
            m = la[mode]
            assert 0 <= m["wer"] < float("inf") and m["rtf"] > 0
            errors = m["substitutions"] + m["deletions"] + m["insertions"]
            assert m["wer"] == pytest.approx(errors / m["reference_words"])
            assert m["reference_words"] == sum(len(e.text.split()) for e in entries[:2])
        assert la["wer_gap"] == 0.0 and la["differing"] == 0.0


def test_cli_bad_inputs_exit_non_zero_with_a_clear_message(tmp_path, capsys):
    model_dir = save_model(_model("tdt"), tmp_path / "model")
    manifest, _ = _corpus(tmp_path)
    assert main(["evaluate", str(tmp_path / "nope"), str(manifest)]) == 2
    assert "no such checkpoint directory" in capsys.readouterr().err
    assert main(["evaluate", str(model_dir), str(tmp_path / "missing.jsonl")]) == 2
    assert "no such manifest file" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"audio_filepath": "x.wav", "duration": 1.0}\n')
    assert main(["evaluate", str(model_dir), str(bad)]) == 2
    assert "bad manifest" in capsys.readouterr().err
    gone = tmp_path / "gone.jsonl"
    gone.write_text(json.dumps({"audio_filepath": "gone.wav", "duration": 1.0, "text": "a"}) + "\n")
    assert main(["evaluate", str(model_dir), str(gone)]) == 2
    assert "audio file not found" in capsys.readouterr().err
    assert main(["evaluate", str(model_dir), str(manifest), "--lookahead-ms", "7"]) == 2
    assert "lookahead_ms 7 is not one of the model's look-aheads [160, 0, 80]" in capsys.readouterr().err
