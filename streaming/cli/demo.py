"""`transduce demo`: the main job on the bundled sample.

With a model (the bundled "demo" when it ships, or `--model PATH`), the demo transcribes the
bundled recording twice through the Python API, which runs what the server runs: offline
(`Recognizer.transcribe`, one forward over the whole utterance) and streaming (`Recognizer.stream`:
audio in chunks of the model's look-ahead through the online front end, the cache-aware encoder step
and the resumable greedy decoder). It prints both transcripts, the reference, WER, word times and
confidences and the real-time factor, and says whether streaming gave exactly the offline result.
Without a model it shows the audio front end: offline and streaming log-mel features of the same
audio, and that they agree.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from transduce.asr.audio import load_audio, sample_path, sample_transcript
from transduce.asr.cli import Command, CommandError
from transduce.asr.features import FbankConfig, OnlineFbank, compute_fbank

__all__ = ["COMMAND"]

_CHUNK_MS = 160
_BUNDLED = "demo"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="PATH",
                        help=f"model directory or bundled name (default: the bundled {_BUNDLED!r}, if any)")
    parser.add_argument("--lookahead-ms", type=int, metavar="MS",
                        help="one of the model's look-aheads in ms (default: the model's default)")
    parser.add_argument("--threads", type=int, default=1, metavar="N",
                        help="torch threads (default 1: enough for one stream; 0: torch's default)")
    parser.add_argument("--features-only", action="store_true", help="show only the audio front end")
    parser.add_argument("--chunk-ms", type=int, default=_CHUNK_MS, help="front-end demo: chunk size (ms)")


# ------------------------------------------------------------------------------- with a model
def _load(name: str):  # -> ASRModel
    from transduce.asr.checkpoint import CheckpointError, load_model
    from transduce.asr.models import ASRModel

    try:
        model = load_model(name)
    except CheckpointError as e:
        raise CommandError(str(e)) from None
    if not isinstance(model, ASRModel) or model.tokenizer is None:
        raise CommandError(f"{name}: not a speech recognition model with a tokenizer")
    return model


def _transcribe(recognizer, audio: np.ndarray) -> dict:
    """Offline and streaming results of `audio` with their wall times and the chunks streamed."""
    from transduce.streaming import EndpointConfig

    model = recognizer.model
    rate = recognizer.sample_rate
    chunk = model.encoder.chunk_frames(recognizer.lookahead)[1] * model.cfg.features.frame_shift

    def stream(samples: np.ndarray) -> tuple[list, int]:
        with recognizer.stream(rate, EndpointConfig(enabled=False), interim_results=False) as s:
            starts = range(0, len(samples), chunk)
            results = [r for start in starts for r in s.feed(samples[start:start + chunk])]
            return [r for r in results + s.finish() if r.is_final], len(starts)

    warm = audio[:rate]  # first calls pay one-off set-up costs: not timed
    recognizer.transcribe([warm])
    stream(warm)
    start = time.perf_counter()
    offline = recognizer.transcribe([audio])[0]
    mid = time.perf_counter()
    finals, chunks = stream(audio)
    end = time.perf_counter()
    return {"offline": offline, "streaming": finals, "offline_s": mid - start, "streaming_s": end - mid,
            "chunks": chunks, "chunk_ms": 1000 * chunk / rate}


def _describe(recognizer, name: str) -> str:
    model = recognizer.model
    cfg = model.cfg
    heads = [cfg.transducer.upper()] if cfg.transducer != "none" else []
    heads = "+".join(heads + (["CTC"] if cfg.ctc else []))
    left, right = model.encoder.contexts[recognizer.lookahead]
    chunk_ms = model.encoder.chunk_frames(recognizer.lookahead)[1] * cfg.features.frame_shift_ms
    params = sum(p.numel() for p in model.parameters())
    return (f"transduce demo: model {name} ({params:,} parameters, {cfg.encoder_type} + {heads}), "
            f"look-ahead {recognizer.lookahead_ms} ms = context [{left}, {right}]: {chunk_ms:.0f} ms chunks")


def _same_result(offline, finals: list) -> bool:
    """One final with the offline transcript's tokens and word times."""
    if len(finals) != 1:
        return False
    a, b = offline, finals[0]
    times = [(w.text, w.start_s, w.end_s) for w in a.words] == [(w.text, w.start_s, w.end_s) for w in b.words]
    return a.tokens == b.tokens and times


def _print_report(recognizer, name: str, audio: np.ndarray, out: dict) -> None:
    from transduce.asr.metrics import wer
    from transduce.streaming.formatting import FORMAT_MODEL

    rate, ref = recognizer.sample_rate, sample_transcript()
    seconds = len(audio) / rate
    off, finals = out["offline"], out["streaming"]
    text = " ".join(r.text for r in finals)
    print(_describe(recognizer, name))
    print(f"  sample      {sample_path().name}: {seconds:.2f} s at {rate} Hz")
    print(f"  reference   {ref!r}")
    print(f"  offline     {off.text!r}  WER {100 * wer([ref], [off.text]):.1f}%  "
          f"RTF {out['offline_s'] / seconds:.3f}")
    print(f"  streaming   {text!r}  WER {100 * wer([ref], [text]):.1f}%  "
          f"RTF {out['streaming_s'] / seconds:.3f} ({out['chunks']} chunks of {out['chunk_ms']:.0f} ms: "
          f"online features -> encoder stream step -> greedy decoder)")
    if out.get("written") is not None:
        print(f"  written     {out['written']!r}  (the bundled text model {FORMAT_MODEL!r}: "
              "offline transcript -> written form)")
    if _same_result(off, finals):
        print("  streaming == offline: the same tokens at the same times")
    else:
        print("  streaming != offline: the transcripts or token times differ")
    print(f"  words (streaming; start-end seconds, confidence; {torch.get_num_threads()} torch thread(s)):")
    words = [w for r in finals for w in r.words]
    for w in words:
        print(f"    {w.start_s:6.2f}-{w.end_s:5.2f}  {w.confidence:.2f}  {w.text}")
    if not words:
        print("    (none)")


def _model_demo(name: str, lookahead_ms: int | None) -> int:
    from transduce.asr.checkpoint import bundled_models
    from transduce.streaming import Recognizer, RecognizerConfig, SessionConfigError
    from transduce.streaming.formatting import FORMAT_MODEL, format_transcripts, load_formatter

    model = _load(name)
    try:
        recognizer = Recognizer(model, RecognizerConfig(lookahead_ms=lookahead_ms))
    except SessionConfigError as e:
        raise CommandError(str(e)) from None
    audio = load_audio(sample_path(), recognizer.sample_rate)
    out = _transcribe(recognizer, audio)
    if FORMAT_MODEL in bundled_models():  # after the timed runs: RTF is the recogniser's alone
        out["written"] = format_transcripts(load_formatter(True), [out["offline"]])[0].formatted_text
    _print_report(recognizer, name, audio, out)
    return 0


# ------------------------------------------------------------------------ front end only
def _stream_features(audio: np.ndarray, cfg: FbankConfig, chunk: int) -> tuple[torch.Tensor, int]:
    """Features of `audio` fed to the online front end `chunk` samples at a time."""
    online = OnlineFbank(cfg)
    frames = []
    for start in range(0, len(audio), chunk):
        online.accept_waveform(audio[start : start + chunk])
        frames.append(online.pop_frames())
    online.input_finished()
    frames.append(online.pop_frames())
    return torch.cat(frames), len(frames) - 1


def _features_demo(chunk_ms: int, reason: str) -> int:
    cfg = FbankConfig()
    path = sample_path()
    audio = load_audio(path)
    offline = compute_fbank(audio, cfg)
    online, chunks = _stream_features(audio, cfg, cfg.sample_rate * chunk_ms // 1000)
    gap = (offline - online).abs().max().item()
    print(f"transduce demo: {reason}, so this shows the audio front end.")
    print(f"  sample      {path.name}: {len(audio) / cfg.sample_rate:.2f} s at {cfg.sample_rate} Hz")
    print(f"  transcript  {sample_transcript()!r}")
    print(f"  offline     log-mel features {tuple(offline.shape)} (frames x mel bins), "
          f"range [{offline.min():.2f}, {offline.max():.2f}], mean {offline.mean():.2f}")
    print(f"  streaming   {chunks} chunks of {chunk_ms} ms -> {tuple(online.shape)}, "
          f"max |online - offline| = {gap:.2e}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from transduce.asr.checkpoint import bundled_models

    if args.threads:
        torch.set_num_threads(args.threads)
    name = args.model or (_BUNDLED if _BUNDLED in bundled_models() else None)
    if args.features_only or name is None:
        reason = "--features-only" if args.features_only else "no trained model is bundled"
        return _features_demo(args.chunk_ms, reason)
    return _model_demo(name, args.lookahead_ms)


COMMAND = Command(name="demo", help="Run the main job on the bundled sample.", add_arguments=_add_arguments,
                  run=_run)
