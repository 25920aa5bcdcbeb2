"""MODEL_CARD.md for a model directory: architecture, tokenizer, data recipe, training, evaluation.

    write_model_card("asr/assets/models/demo", evaluation=result.to_json(),
                     run_dir="runs/demo1", train_command="transduce train ... --set ...")

Every input but the model directory is optional; what is not given is left as a visible
"_(to be filled in)_" so a card never claims what nobody measured. Sources: the model's
config.json, weights and tokenizer; the run's train_config.json and metrics.jsonl (last training
and validation records); the corpus's synth.json (found next to the run's train manifest unless
given); and the JSON of `transduce evaluate` (streaming.evaluation.EvaluationResult.to_json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transduce.asr.checkpoint import WEIGHTS_FILE, load_model
from transduce.asr.features.nemo_mel import NemoMelConfig
from transduce.streaming.lookahead import lookaheads_ms

__all__ = ["CARD_FILE", "TODO", "write_model_card", "render_model_card"]

CARD_FILE = "MODEL_CARD.md"
TODO = "_(to be filled in)_"


def _read_json(path: Path | None) -> Any:
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _records(run_dir: Path | None) -> list[dict[str, Any]]:
    """The records of the run's metrics.jsonl (lines cut short by a crash are skipped)."""
    path = run_dir / "metrics.jsonl" if run_dir else None
    if path is None or not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _heads(cfg: Any) -> str:
    """"TDT (predictor lstm 160, joiner 256, durations [...]) + CTC, loss weight CTC 0.3"."""
    heads = []
    if cfg.transducer != "none":
        durations = f", durations {list(cfg.joiner.durations)}" if cfg.joiner.durations else ""
        heads.append(f"{cfg.transducer.upper()} (predictor {cfg.predictor.kind} {cfg.predictor.hidden}, "
                     f"joiner {cfg.joiner.joint_dim}{durations})")
    if cfg.ctc:
        heads.append("CTC")
    weight = f", loss weight CTC {cfg.loss.ctc_weight}" if len(heads) > 1 else ""
    return " + ".join(heads) + weight


def _imported_from_nemo(model_dir: Path) -> bool:
    """Whether the model directory holds an imported NeMo model (its features are NeMo's mel)."""
    config = _read_json(model_dir / "config.json") or {}
    features = (config.get("config") or config).get("features") or {}
    return "window_size" in features


def _features(f: Any) -> str:
    """"80 log-mel bins, 10 ms shift, 16000 Hz; ..." for our fbank or an imported NeMo preprocessor."""
    common = f"{f.num_mel_bins} log-mel bins, {f.frame_shift_ms:g} ms shift, {f.sample_rate} Hz"
    if isinstance(f, NemoMelConfig):
        return (f"{common}; NeMo's mel spectrogram (window {f.window} {f.window_size * 1000:g} ms, n_fft "
                f"{f.fft_length}, normalize {f.normalize})")
    return f"{common}; kaldi fbank, normalisation statistics stored in the weights"


def _model_section(model_dir: Path) -> list[str]:
    model = load_model(model_dir)
    cfg, enc = model.cfg, model.cfg.encoder
    params = sum(p.numel() for p in model.parameters())
    size_mib = (model_dir / WEIGHTS_FILE).stat().st_size / 2**20
    dtypes = ", ".join(sorted({str(p.dtype).replace("torch.", "") for p in model.parameters()}))
    shift_ms = cfg.features.frame_shift_ms * enc.subsampling_factor
    contexts = ", ".join(f"[{a}, {b}] ({ms} ms look-ahead)"
                         for (a, b), ms in zip(enc.att_context_size, lookaheads_ms(model)))
    tok = getattr(model, "tokenizer", None)
    tok_line = f"{tok.type_name}, {tok.vocab_size} ids (blank 0, unk 1)" if tok is not None else "none"
    return [
        "## Model", "",
        f"- Encoder: {cfg.encoder_type}, {enc.n_layers} layers, d_model {enc.d_model}, {enc.n_heads} heads, "
        f"subsampling {enc.subsampling} x{enc.subsampling_factor} ({shift_ms:.0f} ms frames), "
        f"convolution context: {getattr(enc, 'conv_context_size', '-')}",
        f"- Attention contexts [left, right] in encoder frames ({enc.att_context_style}): {contexts}",
        f"- Heads: {_heads(cfg)}",
        f"- Parameters: {params:,} ({params / 1e6:.2f}M); weights {size_mib:.1f} MiB ({dtypes})",
        f"- Features: {_features(cfg.features)}",
        f"- Tokenizer: {tok_line}", "",
    ]


def _data_section(synth: dict[str, Any] | None, synth_path: Path | None) -> list[str]:
    lines = ["## Data", ""]
    if synth is None:
        return lines + [f"- Corpus recipe: {TODO}", ""]
    c, voices = synth["config"], synth["config"].get("voices", {})
    cmd = f"transduce data synth --out {synth_path.parent if synth_path else 'DIR'} --hours {c['hours']:g} " \
          f"--seed {c['seed']}" + (" --preset broad" if c.get("text") == "broad" else "")
    for key in ("dev_fraction", "test_fraction"):
        if c.get(key) not in (None, 0.05):
            cmd += f" --{key.replace('_', '-')} {c[key]}"
    engines = "espeak-ng and flite" if c.get("flite_share") else "espeak-ng"
    lines += [f"Synthetic English speech ({engines}, 16 kHz mono), made with", "", "    " + cmd, ""]
    for split in ("train", "dev", "test"):
        n, hours = synth.get("utterances", {}).get(split), synth.get("hours", {}).get(split, 0.0)
        names = ", ".join(voices.get(f"{split}_voices", []))
        variants = ", ".join(voices.get(f"{split}_variants", []))
        lines.append(f"- {split}: {n} utterances, {hours:.2f} h; voices {names}; variants {variants}")
    lines += ["- dev and test speakers (voice+variant pairs) never occur in train: test uses held-out voices "
              "and variants", ""]
    return lines


def _training_section(run_dir: Path | None, command: str | None) -> list[str]:
    records = _records(run_dir)
    train = [r for r in records if r.get("kind", "train") == "train" and "loss" in r]
    valid = [r for r in records if r.get("kind") == "validation"]
    cfg = _read_json(run_dir / "train_config.json" if run_dir else None)
    lines = ["## Training", "", "Command:", "", "    " + (command or TODO), ""]
    if cfg:
        o = cfg.get("optim", {})
        lines.append(f"- Settings: max_steps {cfg.get('max_steps')}, {o.get('schedule')} lr {o.get('lr')} "
                     f"(warmup {o.get('warmup_steps')}), max_frames {cfg.get('data', {}).get('max_frames')}, "
                     f"seed {cfg.get('seed')}, device {cfg.get('device')}")
    if train:
        last = train[-1]
        heads = ", ".join(f"{k} {last[k]:.3f}" for k in ("ctc", "transducer") if k in last)
        heads = f" ({heads})" if heads else ""
        lines.append(f"- Steps: {last['step']} (epoch {last.get('epoch')}); final train loss "
                     f"{last['loss']:.3f}{heads}")
    else:
        lines.append(f"- Steps and final train loss: {TODO}")
    if valid:
        v = valid[-1]
        lines.append(f"- Final dev (streaming, look-ahead {v.get('lookahead')}, {v.get('utterances')} "
                     f"utterances, step {v['step']}): WER {100 * v['wer']:.2f}%, CER {100 * v['cer']:.2f}%")
    else:
        lines.append(f"- Final dev WER/CER: {TODO}")
    return lines + [""]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _evaluation_section(ev: dict[str, Any] | None) -> list[str]:
    lines = ["## Evaluation", ""]
    if ev is None:
        return lines + [f"{TODO} (`transduce evaluate MODEL TEST_MANIFEST --json eval.json`)", ""]
    m = ev["machine"]
    beam = f" (beam {ev['beam_size']})" if ev.get("beam_size") else ""
    batch = ev.get("batch_size", 1)
    streams = "one stream at a time" if batch == 1 else f"{batch} streams at a time"
    lines += [f"{ev['utterances']} utterances ({ev['audio_s'] / 3600:.2f} h) of `{ev['manifest']}`, "
              f"{ev['decoding']} decoding{beam}. RTF on {m['cpu']} with {m['torch_threads']} torch "
              f"thread(s), {streams}, features included.", "",
              "| look-ahead | context | chunk | streaming WER | CER | offline WER | CER | WER gap "
              "| transcripts differ | streaming RTF (RTFx) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for la in ev["lookaheads"]:
        s, o = la["streaming"], la["offline"]
        rtf = f"{s['rtf']:.3f} ({s['rtfx']:.0f}x)" if s else f"offline {o['rtf']:.3f}"
        ahead = f"{la['lookahead_ms']} ms" if "lookahead_ms" in la else la["index"]  # older JSON: an index
        lines.append(f"| {ahead} | {list(la['context'])} | {la['chunk_ms']:.0f} ms "
                     f"| {_pct(s['wer'] if s else None)} | {_pct(s['cer'] if s else None)} "
                     f"| {_pct(o['wer'])} | {_pct(o['cer'])} | {_pct(la['wer_gap'])} "
                     f"| {_pct(la['differing'])} | {rtf} |")
    return lines + [""]


def render_model_card(model_dir: str | Path, evaluation: dict[str, Any] | None = None,
                      run_dir: str | Path | None = None, train_command: str | None = None,
                      synth_json: str | Path | None = None, name: str | None = None) -> str:
    """The markdown of the card (see the module docstring for where each part comes from)."""
    model_dir = Path(model_dir)
    run = Path(run_dir) if run_dir else None
    synth_path = Path(synth_json) if synth_json else None
    if synth_path is None and run is not None:
        train_manifest = (_read_json(run / "train_config.json") or {}).get("data", {}).get("train_manifest")
        synth_path = Path(train_manifest).parent / "synth.json" if train_manifest else None
    synth = _read_json(synth_path)
    title = name or model_dir.name
    imported = _imported_from_nemo(model_dir)
    origin = ("imported from an NVIDIA NeMo checkpoint (`transduce import-nemo`); its training data and "
              "recipe are NeMo's" if imported else "trained by transduce on synthetic speech")
    lines = [f"# Model card: {title}", "",
             f"A speech recognition model {origin}. Load it with `transduce.load_model(...)`; try it with "
             "`transduce demo --model DIR`.", ""]
    lines += _model_section(model_dir)
    if not imported:
        lines += _data_section(synth, synth_path if synth else None) + _training_section(run, train_command)
    lines += _evaluation_section(evaluation)
    limits = ("See the original model's card for its data, languages and known limits; the figures above "
              "are those of the imported model as transduce runs it." if imported else
              "Trained and tested only on espeak-ng speech: expect much higher error rates on real "
              "recordings, other accents and noisy audio. English only, lower-case words without "
              "punctuation.")
    lines += ["## Limitations", "", limits, ""]
    return "\n".join(lines)


def write_model_card(model_dir: str | Path, evaluation: dict[str, Any] | None = None,
                     run_dir: str | Path | None = None, train_command: str | None = None,
                     synth_json: str | Path | None = None, out: str | Path | None = None,
                     name: str | None = None) -> Path:
    """Write the card to `out` (default: model_dir/MODEL_CARD.md) and return its path."""
    text = render_model_card(model_dir, evaluation, run_dir, train_command, synth_json, name)
    path = Path(out) if out else Path(model_dir) / CARD_FILE
    path.write_text(text, encoding="utf-8")
    return path
