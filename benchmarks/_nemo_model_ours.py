"""Our worker of nemo_model.py (dev venv): the .nemo model loaded by transduce.asr.nemo.load_nemo.

B: streams, T: feature frames, F: mel bins, T': encoder frames, D: encoder width.

Streaming (per look-ahead index i, per number of streams B): one batched step is what the engine's
`streaming.batch.run_step` computes for B sessions, on features given as a tensor:
model.normalizer (identity for NeMo's normalize "NA"), ONE model.encoder.stream_step over (B, n, F)
with the state of model.encoder.init_state(B, i), then ONE decode_chunk of the greedy RNN-T decoder
that sessions use (`streaming.decoders.decoder_for(model, SessionConfig(lookahead=i))`). Not
included (the engine does them per step): online feature extraction, stacking/splitting of the
per-session states, partial-result text.
Engine (ours only, for reference): the same streams fed as audio to streaming.Session objects
(endpointing off, partial results on) and stepped by streaming.decode_sessions, i.e. online log-mel
features + the batched step above + state stacking/splitting + partial-result text, as the server
runs it. Each timed step: every session accepts one chunk of audio, then one decode_sessions call.
Offline: streaming.Recognizer(model, lookahead_ms=...).transcribe(paths, batch_size=B).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import apply_threads, write_result  # noqa: E402
from transduce.asr.nemo import load_nemo  # noqa: E402
from transduce.streaming import Recognizer, Session, decode_sessions  # noqa: E402
from transduce.streaming.config import EndpointConfig, SessionConfig  # noqa: E402
from transduce.streaming.decoders import decoder_for  # noqa: E402
from transduce.streaming.lookahead import lookaheads_ms  # noqa: E402
from transduce.streaming.recognizer import RecognizerConfig  # noqa: E402


@torch.inference_mode()
def stream(model, feats: torch.Tensor, lookahead: int, warm: int, timed: int) -> dict:
    """B = feats.shape[0] streams of features (B, T, F): `warm` untimed steps, then `timed` timed ones."""
    batch = feats.shape[0]
    first, later = model.encoder.chunk_frames(lookahead)
    decoder = decoder_for(model, SessionConfig(lookahead=lookahead))
    state = model.encoder.init_state(batch, lookahead)
    dstate = decoder.init_state(batch, feats.device)
    pos, times = 0, []
    for step in range(warm + timed):
        n = first if step == 0 else later
        assert pos + n < feats.shape[1], "the features ran out before the timed steps ended"
        chunk = feats[:, pos: pos + n]
        t0 = time.perf_counter()
        lens = torch.full((batch,), n, dtype=torch.long)
        x = model.normalizer(chunk, lens)
        out, out_lens, state = model.encoder.stream_step(x, lens, state, final=False)
        dstate = decoder.decode_chunk(out, out_lens, dstate)
        dt = time.perf_counter() - t0
        if step >= warm:
            times.append(dt)
        pos += n
    tokens = [[t - 1 for t in h.tokens] for h in decoder.best(dstate)]  # NeMo ids: ours - 1 (blank 0)
    median = statistics.median(times)
    return {"batch": batch, "steps": timed, "step_times_ms": [t * 1000 for t in times],
            "step_ms": median * 1000, "audio_s_per_s": batch * later * 0.01 / median,
            "tokens": tokens, "first": first, "later": later}


@torch.inference_mode()
def engine(model, audio: torch.Tensor, offsets: list[int], batch: int, lookahead: int, warm: int,
           timed: int) -> dict:
    """The streaming engine on `batch` streams of audio[offsets[b]:]; see the module docstring."""
    hop = round(model.cfg.features.window_stride * model.cfg.features.sample_rate)
    first, later = model.encoder.chunk_frames(lookahead)
    cfg = SessionConfig(lookahead=lookahead, endpoint=EndpointConfig(enabled=False), interim_results=True)
    sessions = [Session(model, cfg) for _ in range(batch)]
    x = audio.numpy()
    pos = (first + (warm - 1) * later) * hop
    for s, o in zip(sessions, offsets):
        s.accept(x[o: o + pos])
    decode_sessions(model, sessions)
    times = []
    for _ in range(timed):
        t0 = time.perf_counter()
        for s, o in zip(sessions, offsets):
            s.accept(x[o + pos: o + pos + later * hop])
        decode_sessions(model, sessions)
        for s in sessions:
            s.pop_results()
        times.append(time.perf_counter() - t0)
        pos += later * hop
    median, step_audio_s = statistics.median(times), batch * later * hop / model.cfg.features.sample_rate
    return {"batch": batch, "steps": timed, "step_times_ms": [t * 1000 for t in times],
            "step_ms": median * 1000, "audio_s_per_s": step_audio_s / median}


def transcribe(rec: Recognizer, wavs: list[str], batch: int, repeats: int) -> dict:
    """rec.transcribe(wavs, batch_size=batch) timed `repeats` times after one untimed warm-up."""
    rec.transcribe(wavs[:batch], batch_size=batch)
    times, out = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = rec.transcribe(wavs, batch_size=batch)
        times.append(time.perf_counter() - t0)
    errors = [t.error for t in out if t.error]
    assert not errors, errors
    return {"batch": batch, "times_s": times, "tokens": [[i - 1 for i in t.tokens] for t in out],
            "texts": [t.text for t in out]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    threads = apply_threads(args.threads)
    data = torch.load(args.inputs, weights_only=True)
    plan = data["plan"]
    t0 = time.perf_counter()
    model = load_nemo(args.model)
    res = {"name": "transduce (load_nemo)", "load_s": time.perf_counter() - t0,
           "n_params": sum(p.numel() for p in model.parameters()),
           "contexts": [list(c) for c in model.encoder.contexts], "lookaheads_ms": lookaheads_ms(model),
           "stream": {}, "threads": threads, "torch": torch.__version__}
    for i in plan["lookaheads"]:
        feats = data["stream_feats"][str(i)]
        runs = [stream(model, feats[:b], i, plan["warm"][str(i)], plan["timed"]) for b in plan["batches"]]
        eng = [engine(model, data["audio"], plan["audio_offsets"], b, i, plan["warm"][str(i)], plan["timed"])
               for b in plan["batches"]]
        res["stream"][str(i)] = {"chunk_frames": list(model.encoder.chunk_frames(i)), "runs": runs,
                                 "engine": eng}
    index = res["contexts"].index(list(plan["offline_context"]))
    rec = Recognizer(model, RecognizerConfig(lookahead_ms=res["lookaheads_ms"][index]))
    assert rec.lookahead == index, (rec.lookahead, index)
    res["offline_context"] = res["contexts"][index]
    res["offline"] = [transcribe(rec, plan["wavs"], b, plan["repeats"]) for b in plan["offline_batches"]]
    write_result(args.out, res)


if __name__ == "__main__":
    main()
