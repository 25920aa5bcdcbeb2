"""Benchmark: ONE NeMo .nemo model run by transduce (load_nemo) and by NeMo itself, same audio, CPU.

B: streams, T: feature frames (10 ms), F: mel bins, T': encoder frames (80 ms), V: vocabulary.

1. Model: unless --nemo-model is given, NeMo (in its venv) builds a random-weight cache-aware
   FastConformer hybrid RNN-T + CTC (EncDecHybridRNNTCTCBPEModel: 16 layers, d_model 176, 4 heads,
   dw_striding 8x causal, causal conv kernel 9, layer_norm, att_context_size [[70,13],[70,1]]
   chunked_limited, LSTM predictor 320, joint 320, a SentencePiece BPE tokenizer of 128 pieces
   trained by NeMo on English text) and saves it with save_to() into a temp dir; its RNN-T head is
   set to emit ~0.4 tokens per encoder frame (see _nemo_model_peer.py). Both sides load that file.
2. Streaming step throughput (audio seconds per wall second) at 1, 8 and 32 concurrent streams for
   each look-ahead: ours = encoder.stream_step + greedy RNN-T decode_chunk (what the engine's batched
   step computes, _nemo_model_ours.py); NeMo = model.conformer_stream_step (encoder + greedy_batch
   RNN-T decoding with partial hypotheses, as speech_to_text_cache_aware_streaming_infer.py), chunks
   cut by NeMo's CacheAwareStreamingAudioBuffer. The same log-mel features (ours, computed once
   here) go to both; warm-up steps fill the caches, then the timed steps.
3. Offline RTFx, greedy RNN-T, default look-ahead: NeMo model.transcribe(paths, batch_size=B) vs ours
   Recognizer(model).transcribe(paths, batch_size=B) on the same WAV files (sample.wav pieces +
   noise); model loading excluded, audio reading + features included; one untimed warm-up batch.
4. Agreement: the greedy token ids of both sides, file by file (offline) and stream by stream.

Each side runs in its own subprocess (NeMo in its venv) with the same thread count.

    .venv/bin/python benchmarks/nemo_model.py              # 4-8 min on 2 cores
    .venv/bin/python benchmarks/nemo_model.py --quick      # smoke run (< 2 min)
    .venv/bin/python benchmarks/nemo_model.py --nemo-model some.nemo
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time

import numpy as np
import soundfile as sf
import torch
from _common import fmt, fmt_ratio, print_table, run_worker

__all__ = ["main", "make_wavs"]

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SR = 16000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 6 files, 1 and 4 streams, few steps")
    ap.add_argument("--threads", type=int, default=2, help="torch threads, both sides")
    ap.add_argument("--nemo-model", default=None, help="a .nemo file to measure instead of building one")
    ap.add_argument("--nemo-python", default=os.environ.get("NEMO_PYTHON", "/work/nemo_venv/bin/python"))
    ap.add_argument("--layers", type=int, default=16, help="encoder layers of the built model")
    ap.add_argument("--files", type=int, default=None, help="WAV files, 4-12 s each (default 16, quick 6)")
    ap.add_argument("--batches", default=None, help="streams per batched step (default 1,8,32; quick 1,4)")
    ap.add_argument("--timed", type=int, default=None, help="timed streaming steps (default 15, quick 3)")
    ap.add_argument("--offline-batches", default=None, help="transcribe batch sizes (default 1,8; quick 1,4)")
    ap.add_argument("--repeats", type=int, default=None, help="timed transcribe passes (default 3, quick 1)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="runs of both workers, alternating who goes first; the best round is reported "
                         "(default 2, quick 1)")
    ap.add_argument("--lookahead", default=None, help="look-ahead indices to stream (default all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    q = args.quick
    args.files = args.files or (6 if q else 16)
    args.batches = [int(b) for b in (args.batches or ("1,4" if q else "1,8,32")).split(",")]
    args.timed = args.timed or (3 if q else 15)
    args.offline_batches = [int(b) for b in (args.offline_batches or ("1,4" if q else "1,8")).split(",")]
    args.repeats = args.repeats or (1 if q else 3)
    args.rounds = args.rounds or (1 if q else 2)
    return args


NOTES = """
What each side runs (streaming; features given, the same tensor to both; times of the model calls only):
- ours: model.normalizer (identity for normalize "NA") + ONE encoder.stream_step over the B streams
  + ONE decode_chunk of the greedy RNN-T decoder the sessions share (max 10 symbols per frame): what
  the engine's batched step (streaming.batch.run_step) computes, without stacking/splitting the
  per-session states and without partial-result text.
- NeMo: model.conformer_stream_step (encoder.cache_aware_stream_step + rnnt_decoder_predictions_tensor
  with greedy_batch, max_symbols 10, partial hypotheses carried over, which also turns each
  hypothesis into text every step), chunks cut by CacheAwareStreamingAudioBuffer (later chunks carry
  pre_encode_cache_size[1] frames of history; drop_extra_pre_encoded after the first).
- ours engine (no NeMo counterpart): the streams as audio through streaming.Session +
  decode_sessions: online log-mel features, the batched step, state stack/select, partial results.
Per-step figures are medians over the timed steps (the machine is shared; a median ignores steps
that another process slowed down); audio s/s = B x chunk seconds / median step time. With --rounds
R > 1 both workers run R times (ours, NeMo, NeMo, ours, ...) and each figure is the best round's.
Offline: NeMo model.transcribe(paths, batch_size=B, num_workers=0, return_hypotheses=True): writes a
temporary manifest, reads audio with its dataloader (lhotse), mel preprocessor, encoder, greedy_batch,
hypotheses with text; inputs batched in the given order. Ours Recognizer.transcribe(paths,
batch_size=B): reads the file headers and batches by duration (less padding), reads audio, mel
features, encoder forward under the look-ahead's attention mask, greedy RNN-T decoding, words +
confidences + text. Token ids compared as NeMo ids (ours - 1: our blank is 0, NeMo's is V)."""


# ---------------------------------------------------------------------------------------- inputs
def make_wavs(out_dir: str, n: int, seed: int) -> list[str]:
    """n PCM-16 WAV files of 4-12 s: random pieces of asr/assets/sample.wav (random gains, pauses)
    plus white or low-passed noise at 5-30 dB SNR."""
    x, sr = sf.read(os.path.join(REPO, "asr", "assets", "sample.wav"), dtype="float32")
    assert sr == SR, sr
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        total = int(rng.uniform(4, 12) * SR)
        parts, have = [], 0
        while have < total:
            a = int(rng.integers(0, len(x) - SR))
            piece = x[a: a + int(rng.uniform(1.0, 3.5) * SR)] * rng.uniform(0.4, 1.2)
            pause = np.zeros(int(rng.uniform(0.05, 0.6) * SR), np.float32)
            parts += [piece, pause]
            have += len(piece) + len(pause)
        y = np.concatenate(parts)[:total]
        noise = rng.standard_normal(total).astype(np.float32)
        if i % 2:
            noise = np.convolve(noise, np.ones(3, np.float32) / 3, mode="same")
        snr_db = rng.uniform(5, 30)
        y = y + noise * (np.sqrt(np.mean(y ** 2)) / 10 ** (snr_db / 20) / noise.std())
        path = os.path.join(out_dir, f"utt{i:02d}.wav")
        sf.write(path, np.clip(y, -1, 1), SR, subtype="PCM_16")
        paths.append(path)
    return paths


def make_inputs(args: argparse.Namespace, model_path: str, wavs: list[str], path: str) -> dict:
    """Save what both workers run (plan + features) to `path`; return the plan. Features: ours
    (compute_features with the model's NeMo mel config) of all files concatenated; stream b of a
    batch starts b/B_max of the way through (wrapping), so every stream hears different audio."""
    from transduce.asr.features.kinds import compute_features
    from transduce.asr.nemo import load_nemo

    model = load_nemo(model_path)
    audio = np.concatenate([sf.read(w, dtype="float32")[0] for w in wavs])
    feats = compute_features(audio, model.cfg.features).float()  # (T, F)
    contexts = [list(c) for c in model.encoder.contexts]
    lookaheads = ([int(i) for i in args.lookahead.split(",")] if args.lookahead
                  else [i for i, c in enumerate(contexts) if c[1] >= 0 and c[0] >= 0])
    bmax = max(args.batches)
    plan = {"lookaheads": lookaheads, "batches": args.batches, "timed": args.timed, "warm": {},
            "offline_batches": args.offline_batches, "repeats": args.repeats, "wavs": wavs,
            "offline_context": contexts[0], "audio_s": [len(sf.read(w)[0]) / SR for w in wavs],
            "contexts": contexts, "rounds": args.rounds}
    hop = round(model.cfg.features.window_stride * SR)
    offsets = [b * feats.shape[0] // bmax for b in range(bmax)]
    plan["audio_offsets"] = [o * hop for o in offsets]  # the engine's streams: audio at the same places
    stream_feats, longest = {}, 0
    for i in lookaheads:
        left, right = contexts[i]
        first, later = model.encoder.chunk_frames(i)
        warm = math.ceil(left / (right + 1)) + 2  # the attention cache is full after these
        need = first + (warm + args.timed + 1) * later
        longest = max(longest, need)
        tiled = feats.repeat(math.ceil((need + feats.shape[0]) / feats.shape[0]), 1)
        stream_feats[str(i)] = torch.stack([tiled[o: o + need] for o in offsets]).contiguous()  # (B, T, F)
        plan["warm"][str(i)] = warm
    reps = math.ceil(((longest + 10) * hop + len(audio)) / len(audio))
    tiled_audio = torch.from_numpy(np.tile(audio, reps))  # (N,) the engine's streams read from here
    torch.save({"plan": plan, "stream_feats": stream_feats, "audio": tiled_audio}, path)
    return plan


# ------------------------------------------------------------------------------------- reporting
def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        return names[0] if names else platform.processor()
    except OSError:
        return platform.processor()


def _best(results: list[dict], side: str, mismatches: list[str]) -> dict:
    """One result from a side's rounds: per measurement, the round with the smallest median time;
    token ids must be the same in every round (a difference is reported as a mismatch)."""
    ok = [r for r in results if "error" not in r]
    if not ok:
        return results[0]
    best = dict(ok[0])
    best["stream"] = {}
    for i, first in ok[0].get("stream", {}).items():
        entry = dict(first)
        for key in ("runs", "engine"):
            if key not in first:
                continue
            entry[key] = []
            for k in range(len(first[key])):
                cands = [r["stream"][i][key][k] for r in ok]
                if any(c.get("tokens") != cands[0].get("tokens") for c in cands):
                    mismatches.append(f"{side}: streaming look-ahead {i}, run {k}: token ids differ between "
                                      "rounds")
                entry[key].append(min(cands, key=lambda c: c["step_ms"]))
        best["stream"][i] = entry
    if "offline" in best:
        best["offline"] = []
        for k in range(len(ok[0]["offline"])):
            cands = [r["offline"][k] for r in ok]
            if any(c["tokens"] != cands[0]["tokens"] for c in cands):
                mismatches.append(f"{side}: offline batch {cands[0]['batch']}: token ids differ between "
                                  "rounds")
            best["offline"].append(min(cands, key=lambda c: statistics.median(c["times_s"])))
    return best


def _best_of(plan: dict) -> str:
    return f" (best of {plan['rounds']} rounds)" if plan["rounds"] > 1 else ""


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _agree(a: list[list[int]], b: list[list[int]]) -> tuple[int, int | None]:
    """(how many of the lists are identical, index of the first that differs or None)."""
    same = [x == y for x, y in zip(a, b)]
    return sum(same), next((i for i, s in enumerate(same) if not s), None)


def _first_diff(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def report_stream(plan: dict, ours: dict, nemo: dict, mismatches: list[str]) -> None:
    for i in plan["lookaheads"]:
        o, n = ours.get("stream", {}).get(str(i), {}), nemo.get("stream", {}).get(str(i), {})
        ctx = plan["contexts"][i]
        ms = ours.get("lookaheads_ms", [None] * (i + 1))[i]
        warm = plan["warm"][str(i)]
        print(f"\n### Streaming, att_context_size {ctx} (look-ahead index {i}, {ms} ms), {warm} untimed "
              f"warm-up steps then {plan['timed']} timed steps{_best_of(plan)}")
        if o:
            first, later = o["chunk_frames"]
            print(f"ours chunks: encoder.chunk_frames({i}) = ({first}, {later}) feature frames "
                  f"(first step, later steps; {later * 10} ms per later step)")
        if n:
            s = n["streaming_cfg"]
            print(f"NeMo chunks: streaming_cfg chunk_size {s.get('chunk_size')}, shift_size "
                  f"{s.get('shift_size')}, pre_encode_cache_size {s.get('pre_encode_cache_size')}, "
                  f"drop_extra_pre_encoded {s.get('drop_extra_pre_encoded')}, valid_out_len "
                  f"{s.get('valid_out_len')}; chunk tensors fed (B, F, T) {n['runs'][-1]['chunk_shapes']}")
        rows = []
        for k, b in enumerate(plan["batches"]):
            ro = o["runs"][k] if o else {}
            rn = n["runs"][k] if n else {}
            agree = "-"
            if ro and rn:
                same, bad = _agree(ro["tokens"], rn["tokens"])
                agree = f"{same}/{b}"
                if bad is not None:
                    ta, tb = ro["tokens"][bad], rn["tokens"][bad]
                    j = _first_diff(ta, tb)
                    mismatches.append(
                        f"streaming look-ahead {i}, {b} streams, stream {bad}: first difference at token "
                        f"{j}: ours {ta[max(0, j - 3): j + 5]} NeMo {tb[max(0, j - 3): j + 5]} "
                        f"(ours {len(ta)} tokens, NeMo {len(tb)})")
            eng = o["engine"][k] if o else {}
            ntok = sum(len(t) for t in ro.get("tokens", rn.get("tokens", [])))
            rows.append([str(b), fmt(ro.get("audio_s_per_s")), fmt(rn.get("audio_s_per_s")),
                         fmt_ratio(rn.get("step_ms"), ro.get("step_ms")), fmt(ro.get("step_ms")),
                         fmt(rn.get("step_ms")), str(ntok), agree, fmt(eng.get("audio_s_per_s")),
                         fmt(eng.get("step_ms"))])
        print_table(["streams", "ours audio s/s", "NeMo audio s/s", "NeMo-time/ours-time", "ours ms/step",
                     "NeMo ms/step", "tokens", "token ids agree", "ours engine audio s/s",
                     "ours engine ms/step"], rows)


def report_offline(plan: dict, ours: dict, nemo: dict, mismatches: list[str]) -> None:
    audio = sum(plan["audio_s"])
    n_files = len(plan["wavs"])
    print(f"\n### Offline transcription, greedy RNN-T, att_context_size {plan['offline_context']}: {n_files} "
          f"files, {audio:.1f} s of audio ({min(plan['audio_s']):.1f}-{max(plan['audio_s']):.1f} s each); "
          f"median of {plan['repeats']} timed passes after one untimed warm-up batch{_best_of(plan)}")
    rows, by_batch = [], {}
    for k, b in enumerate(plan["offline_batches"]):
        ro = ours["offline"][k] if "offline" in ours else {}
        rn = nemo["offline"][k] if "offline" in nemo else {}
        to = statistics.median(ro["times_s"]) if ro else None
        tn = statistics.median(rn["times_s"]) if rn else None
        rows.append([str(b), fmt(to), fmt(tn), fmt(audio / to if to else None),
                     fmt(audio / tn if tn else None), fmt_ratio(tn, to)])
        by_batch[b] = (ro, rn)
    print_table(["batch size", "ours s", "NeMo s", "ours RTFx", "NeMo RTFx", "NeMo-time/ours-time"], rows)
    print("\nAgreement of the greedy token ids, file by file (N files):")
    rows = []
    for b, (ro, rn) in by_batch.items():
        if not (ro and rn):
            continue
        same, bad = _agree(ro["tokens"], rn["tokens"])
        rows.append([f"ours vs NeMo, batch {b}", f"{same}/{n_files}",
                     str(sum(len(t) for t in ro["tokens"])), str(sum(len(t) for t in rn["tokens"]))])
        if bad is not None:
            ta, tb = ro["tokens"][bad], rn["tokens"][bad]
            name = os.path.basename(plan["wavs"][bad])
            mismatches.append(f"offline batch {b}, file {name} (first differing file; token "
                              f"{_first_diff(ta, tb)} differs first): ours {ta} NeMo {tb}")
    batches = list(by_batch)
    for side, idx in (("ours", 0), ("NeMo", 1)):
        for b in batches[1:]:
            x, y = by_batch[batches[0]][idx], by_batch[b][idx]
            if x and y:
                rows.append([f"{side} batch {batches[0]} vs {side} batch {b}",
                             f"{_agree(x['tokens'], y['tokens'])[0]}/{n_files}", "", ""])
    print_table(["comparison", "identical", "tokens (first)", "tokens (second)"], rows)
    ro, rn = by_batch[batches[0]]
    if ro and rn:
        print(f"first file, ours: {ro['texts'][0]!r}\nfirst file, NeMo: {rn['texts'][0]!r}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    if not os.path.exists(args.nemo_python):
        print(f"NeMo python {args.nemo_python} not found (set --nemo-python or NEMO_PYTHON)")
        return 2
    load0 = _load()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# NeMo model, transduce vs NeMo (same .nemo, same audio), CPU\n\n- Date: {now}\n"
          f"- Machine: {_cpu()}, {os.cpu_count()} cores; Python {platform.python_version()}\n"
          f"- Threads: {args.threads} torch threads on each side (OMP/MKL/NUMBA_NUM_THREADS too)\n"
          f"- Command: {shlex.join([os.path.relpath(sys.executable, REPO), *sys.argv])}", flush=True)
    with tempfile.TemporaryDirectory(prefix="nemo_model_bench_") as tmp:
        wavs = make_wavs(tmp, args.files, args.seed)
        model_path = args.nemo_model
        build = {}
        if model_path is None:
            model_path = os.path.join(tmp, "fastconformer_hybrid_random.nemo")
            with open(os.path.join(tmp, "wavs.txt"), "w") as f:
                f.write("\n".join(wavs))
            build = run_worker(args.nemo_python, os.path.join(HERE, "_nemo_model_peer.py"),
                               ["build", "--model", model_path, "--wavs", os.path.join(tmp, "wavs.txt"),
                                "--workdir", os.path.join(tmp, "build"), "--layers", str(args.layers),
                                "--seed", str(args.seed)], args.threads)
            if "error" in build:
                print(f"building the model with NeMo failed: {build['error']}")
                return 1
        inputs = os.path.join(tmp, "inputs.pt")
        plan = make_inputs(args, model_path, wavs, inputs)
        workers = {"ours": (sys.executable, os.path.join(HERE, "_nemo_model_ours.py"), []),
                   "NeMo": (args.nemo_python, os.path.join(HERE, "_nemo_model_peer.py"), ["measure"])}
        rounds: dict[str, list[dict]] = {"ours": [], "NeMo": []}
        for r in range(args.rounds):
            for side in (("ours", "NeMo") if r % 2 == 0 else ("NeMo", "ours")):  # ours NeMo NeMo ours ...
                python, script, mode = workers[side]
                load = _load()
                res = run_worker(python, script, [*mode, "--model", model_path, "--inputs", inputs],
                                 args.threads)
                rounds[side].append(res)
                print(f"  round {r + 1}: {side} done in {res.get('wall_s', 0):.0f} s (load average before: "
                      f"{load}){' ERROR' if 'error' in res else ''}", flush=True)
    mismatches: list[str] = []
    ours, nemo = _best(rounds["ours"], "ours", mismatches), _best(rounds["NeMo"], "NeMo", mismatches)
    print(f"- torch: ours {ours.get('torch', '?')}, NeMo venv {nemo.get('torch', '?')} "
          f"({nemo.get('name', '?')}); threads reported by the workers: ours {ours.get('threads')}, "
          f"NeMo {nemo.get('threads')}")
    if build:
        c = build["calibration"]
        print(f"- Model: built by NeMo ({build['model_class']}, {args.layers} layers, d_model 176, V = "
              f"{build['vocab']} BPE pieces), saved with save_to() ({build['nemo_bytes'] / 1e6:.1f} MB); "
              f"NeMo subprocess {build['wall_s']:.0f} s, of which tokenizer + model + calibration + save "
              f"{build['build_s']:.0f} s; RNN-T head set to {c['tokens_per_frame']:.2f} tokens per encoder "
              f"frame on these files ({c['frames_with_2plus_tokens']} of {c['encoder_frames']} frames with "
              f"2+ tokens, {c['max_symbol_hits']} at max_symbols 10), smallest top-2 logit margin on the "
              f"greedy paths {c['min_top2_margin']:.2g}")
    else:
        print(f"- Model: {model_path}")
    print(f"- Parameters: ours {ours.get('n_params', 0):,}, NeMo {nemo.get('n_params', 0):,}; contexts "
          f"{plan['contexts']} = look-aheads {ours.get('lookaheads_ms')} ms; load time ours "
          f"{ours.get('load_s', 0):.2f} s (load_nemo), NeMo {nemo.get('load_s', 0):.2f} s (restore_from)")
    for side in (ours, nemo):
        if "error" in side:
            print(f"\nERROR ({'ours' if side is ours else 'NeMo'}): {side['error']}")
    report_stream(plan, ours, nemo, mismatches)
    if "offline" in ours or "offline" in nemo:
        report_offline(plan, ours, nemo, mismatches)
    print(NOTES)
    print("\nToken id mismatches: " + ("none" if not mismatches else ""))
    for m in mismatches:
        print(f"- {m}")
    print(f"\nload average (1/5/15 min) at the start {load0}, at the end {_load()}; "
          f"total wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
