"""`transduce demo`: the main job on the bundled sample.

With a model (the bundled "demo" when it ships, or `--model PATH`), the demo transcribes the
bundled recording twice: offline (one forward over the whole utterance) and streaming, the way a
server does it (audio in chunks of the model's look-ahead through the online front end,
`encoder.stream_step` and the resumable greedy decoder). It prints both transcripts, the
reference, WER, word times and confidences and the real-time factor, and says whether streaming
gave exactly the offline result. Without a model it shows the audio front end: offline and
streaming log-mel features of the same audio, and that they agree.
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
    parser.add_argument("--lookahead", type=int, default=0, metavar="I",
                        help="index into the model's att_context_size (default 0, the model's default)")
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


def _transcribe(model, audio: np.ndarray, lookahead: int) -> dict:
    """Offline and streaming hypotheses of `audio` with their wall times and the streaming steps."""
    from transduce.asr.encoders.state import StreamingError
    from transduce.asr.stream_decode import greedy_decoder, offline_hypotheses, stream_waveform

    try:
        model.encoder.init_state(1, lookahead)
    except (StreamingError, ValueError) as e:
        raise CommandError(f"look-ahead {lookahead}: {e}") from None
    warm = audio[:model.cfg.features.sample_rate]  # first calls pay one-off set-up costs: not timed
    stream_waveform(model, warm, lookahead, greedy_decoder(model))
    start = time.perf_counter()
    feats = compute_fbank(audio, model.cfg.features)
    offline = offline_hypotheses(model, feats[None], torch.tensor([feats.shape[0]]), lookahead,
                                 greedy_decoder(model))[0]
    mid = time.perf_counter()
    streaming, steps, _ = stream_waveform(model, audio, lookahead, greedy_decoder(model))
    end = time.perf_counter()
    return {"offline": offline, "streaming": streaming, "offline_s": mid - start, "streaming_s": end - mid,
            "steps": steps}


def _describe(model, lookahead: int, name: str) -> str:
    cfg = model.cfg
    heads = [cfg.transducer.upper()] if cfg.transducer != "none" else []
    heads = "+".join(heads + (["CTC"] if cfg.ctc else []))
    left, right = cfg.encoder.att_context_size[lookahead]
    chunk_ms = model.encoder.chunk_frames(lookahead)[1] * cfg.features.frame_shift_ms
    params = sum(p.numel() for p in model.parameters())
    return (f"transduce demo: model {name} ({params:,} parameters, {cfg.encoder_type} + {heads}), "
            f"look-ahead {lookahead} = context [{left}, {right}]: {chunk_ms:.0f} ms chunks")


def _print_report(model, name: str, lookahead: int, audio: np.ndarray, out: dict) -> None:
    from transduce.asr.decoding import to_result
    from transduce.asr.metrics import wer

    rate, ref = model.cfg.features.sample_rate, sample_transcript()
    seconds = len(audio) / rate
    off = to_result(out["offline"], model.tokenizer, model.frame_shift_s)
    st = to_result(out["streaming"], model.tokenizer, model.frame_shift_s)
    print(_describe(model, lookahead, name))
    print(f"  sample      {sample_path().name}: {seconds:.2f} s at {rate} Hz")
    print(f"  reference   {ref!r}")
    print(f"  offline     {off.text!r}  WER {100 * wer([ref], [off.text]):.1f}%  "
          f"RTF {out['offline_s'] / seconds:.3f}")
    print(f"  streaming   {st.text!r}  WER {100 * wer([ref], [st.text]):.1f}%  "
          f"RTF {out['streaming_s'] / seconds:.3f} ({out['steps']} encoder steps: OnlineFbank -> "
          f"stream_step -> greedy decoder)")
    a, b = out["offline"], out["streaming"]
    if a.tokens == b.tokens and a.frames == b.frames:
        print("  streaming == offline: the same tokens at the same encoder frames")
    else:
        print("  streaming != offline: the transcripts or token times differ")
    print(f"  words (streaming; start-end seconds, confidence; {torch.get_num_threads()} torch thread(s)):")
    for w in st.words:
        print(f"    {w.start_s:6.2f}-{w.end_s:5.2f}  {w.confidence:.2f}  {w.text}")
    if not st.words:
        print("    (none)")


def _model_demo(name: str, lookahead: int) -> int:
    model = _load(name)
    audio = load_audio(sample_path(), model.cfg.features.sample_rate)
    _print_report(model, name, lookahead, audio, _transcribe(model, audio, lookahead))
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
    return _model_demo(name, args.lookahead)


COMMAND = Command(name="demo", help="Run the main job on the bundled sample.", add_arguments=_add_arguments,
                  run=_run)
