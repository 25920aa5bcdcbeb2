"""Benchmark: greedy decoding time of CTC, RNN-T (label vs frame looping) and TDT on the same inputs.

B: batch, T: encoder frames, E/P/J: encoder/predictor/joiner widths, V: vocabulary.
Defaults: B=16 utterances of 60 s at 80 ms frames (T=750), a random model with realistic widths
(E=256, LSTM predictor P=320, J=512, V=1024), random encoder output (the same tensor for every
case). Random weights make the blank lose almost always (V=1024 logits of similar size), so the
blank logit is biased until greedy RNN-T emits about 0.3 labels per frame on a slice (about 4
tokens/s, like a real model), and the CTC blank until it wins 75% of frames; each TDT joiner's
blank is calibrated the same way, so TDT emits as many labels as RNN-T (as a trained TDT model
does) and the rows compare equal work. The measured tokens per utterance are printed. TDT
(durations 0..4) runs twice: with its random duration head, and with the duration head biased to
realistic durations (mostly 2-4).

Cases form a table (`CASE_BUILDERS`): each builder returns named cases (decoder + inputs); beam
search rows are added the same way.

    .venv/bin/python benchmarks/decoding.py                 # CPU (~1-2 min on 2 cores)
    .venv/bin/python benchmarks/decoding.py --quick         # smaller inputs (smoke test)
    .venv/bin/python benchmarks/decoding.py --device cuda   # GPU (CUDA graphs for the label loop)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
from _common import apply_threads, fmt, fmt_ratio, median_ms, print_table, time_calls

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from transduce.asr.decoding import CTCGreedyDecoder, Decoder, Hypothesis, RNNTGreedyDecoder, TDTGreedyDecoder  # noqa: E402
from transduce.asr.decoding.ctc_beam import CTCBeamConfig, CTCPrefixBeamSearch  # noqa: E402
from transduce.asr.decoding.rnnt_beam import ModifiedBeamConfig, ModifiedBeamSearch  # noqa: E402
from transduce.asr.decoding.tdt_beam import TDTBeamConfig, TDTBeamSearch  # noqa: E402
from transduce.asr.heads import Joiner, JoinerConfig, Predictor, PredictorConfig  # noqa: E402

__all__ = ["Case", "Setup", "CASE_BUILDERS", "main"]

DURATIONS = (0, 1, 2, 3, 4)
BLANK_WINS = 0.75  # CTC: share of frames whose argmax is blank
TOKENS_PER_FRAME = 0.3  # RNN-T: labels per 80 ms frame (about 4 tokens/s)
BASELINE = "RNN-T greedy, frame looping"


@dataclass(frozen=True)
class Setup:
    """The shared inputs: encoder output (B, T, E), lengths (B,), CTC logits (B, T, V), the models."""

    enc: torch.Tensor
    lens: torch.Tensor
    ctc_logits: torch.Tensor
    predictor: Predictor
    rnnt: Joiner
    tdt_random: Joiner
    tdt_biased: Joiner


@dataclass(frozen=True)
class Case:
    """One timed row: a decoder and the (B, T, .) input it decodes."""

    name: str
    decoder: Decoder
    x: torch.Tensor
    lens: torch.Tensor
    note: str = ""


def greedy_cases(s: Setup) -> list[Case]:
    """CTC greedy, RNN-T label looping (two row modes) and frame looping, TDT (two duration heads)."""
    p, cuda = s.predictor, s.enc.is_cuda
    label_note = "CUDA graphs" if cuda else "subset rows (CPU default)"
    masked_note = "eager, no CUDA graphs" if cuda else "masked rows (the GPU layout, on CPU)"
    return [
        Case("CTC greedy", CTCGreedyDecoder(), s.ctc_logits, s.lens, "on precomputed logits"),
        Case(BASELINE, RNNTGreedyDecoder(p, s.rnnt, frame_looping=True), s.enc, s.lens),
        Case("RNN-T greedy, label looping", RNNTGreedyDecoder(p, s.rnnt), s.enc, s.lens, label_note),
        Case("RNN-T greedy, label looping (2)",
             RNNTGreedyDecoder(p, s.rnnt, cuda_graphs=False, rows="masked"), s.enc, s.lens, masked_note),
        Case("TDT greedy, random duration head", TDTGreedyDecoder(p, s.tdt_random), s.enc, s.lens,
             "durations 0..4, random head (not realistic)"),
        Case("TDT greedy, realistic durations", TDTGreedyDecoder(p, s.tdt_biased), s.enc, s.lens,
             "duration head biased: mostly 2-4"),
    ]


def beam_cases(s: Setup) -> list[Case]:
    """Beam 4: CTC prefix beam search, RNN-T modified beam search, TDT beam search (realistic head)."""
    p = s.predictor
    topk = "fused Triton log-softmax + top-k" if s.enc.is_cuda else "torch log-softmax + top-k"
    return [
        Case("CTC prefix beam search, beam 4", CTCPrefixBeamSearch(CTCBeamConfig(beam=4)), s.ctc_logits,
             s.lens, "python loop over prefixes, batched top-k"),
        Case("RNN-T modified beam search, beam 4", ModifiedBeamSearch(p, s.rnnt, ModifiedBeamConfig(beam=4)),
             s.enc, s.lens, topk),
        Case("TDT beam search, beam 4", TDTBeamSearch(p, s.tdt_biased, TDTBeamConfig(beam=4)), s.enc, s.lens,
             "realistic duration head"),
    ]


CASE_BUILDERS: list[Callable[[Setup], list[Case]]] = [greedy_cases, beam_cases]


@torch.no_grad()
def make_setup(batch: int, frames: int, device: str, seed: int) -> Setup:
    """Random encoder output with ragged lengths (the first at T) and a random E256/P320/J512/V1024 model."""
    torch.manual_seed(seed)
    e, p, j, v = 256, 320, 512, 1024
    predictor = Predictor(PredictorConfig(v, embed_dim=p, kind="lstm", hidden=p, dropout=0.0)).eval()
    rnnt = Joiner(JoinerConfig(e, p, v, j)).eval()
    enc = torch.randn(batch, frames, e)
    lens = torch.randint((3 * frames) // 4, frames + 1, (batch,))
    lens[0] = frames
    rnnt.out.bias[0] += _calibrate_blank(RNNTGreedyDecoder(predictor, rnnt), rnnt, enc[:2, :100])
    ctc_head = torch.nn.Linear(e, v)
    ctc_logits = ctc_head(enc)
    ctc_logits[..., 0] += _blank_bias(ctc_logits[:2])
    tdt_random = _tdt_from(rnnt, torch.zeros(len(DURATIONS)), 1.0)
    tdt_biased = _tdt_from(rnnt, torch.tensor([-3.0, -1.0, 1.0, 1.3, 1.0]), 3.0)
    for tdt in (tdt_random, tdt_biased):  # the same label rate as RNN-T, as a trained TDT model has
        tdt.out.bias[0] += _calibrate_blank(TDTGreedyDecoder(predictor, tdt), tdt, enc[:2, :100], -16.0)
    to = lambda m: m.to(device)
    return Setup(enc.to(device), lens.to(device), ctc_logits.to(device), to(predictor), to(rnnt),
                 to(tdt_random), to(tdt_biased))


def _calibrate_blank(decoder: Decoder, joiner: Joiner, enc: torch.Tensor, lo: float = 0.0) -> float:
    """The blank-logit bias (bisection) at which `decoder` emits about TOKENS_PER_FRAME on `enc`."""
    hi = 64.0
    base = joiner.out.bias[0].item()
    for _ in range(12):
        mid = (lo + hi) / 2
        joiner.out.bias[0] = base + mid
        hyps = decoder.decode(enc)
        rate = sum(len(h.tokens) for h in hyps) / enc.shape[0] / enc.shape[1]
        lo, hi = (mid, hi) if rate > TOKENS_PER_FRAME else (lo, mid)
    joiner.out.bias[0] = base
    return (lo + hi) / 2


def _blank_bias(logits: torch.Tensor) -> float:
    """The bias that makes blank (id 0) the argmax of a BLANK_WINS share of `logits` (..., V)."""
    margin = logits[..., 1:].amax(-1) - logits[..., 0]
    return float(torch.quantile(margin.flatten().float(), BLANK_WINS))


def _tdt_from(rnnt: Joiner, dur_bias: torch.Tensor, dur_scale: float) -> Joiner:
    """A TDT joiner with `rnnt`'s token head and a random duration head, scaled and biased."""
    cfg = rnnt.cfg
    tdt = Joiner(JoinerConfig(cfg.enc_dim, cfg.pred_dim, cfg.vocab_size, cfg.joint_dim, durations=DURATIONS))
    tdt.enc_proj.load_state_dict(rnnt.enc_proj.state_dict())
    tdt.pred_proj.load_state_dict(rnnt.pred_proj.state_dict())
    v = cfg.vocab_size
    tdt.out.weight[:v], tdt.out.bias[:v] = rnnt.out.weight, rnnt.out.bias
    tdt.out.weight[v:] *= dur_scale
    tdt.out.bias[v:] = tdt.out.bias[v:] * dur_scale + dur_bias
    return tdt.eval()


def _run(case: Case, repeats: int) -> tuple[float, list[Hypothesis]]:
    """Median ms of `repeats` full decodes after a warm-up on a small slice; the last hypotheses."""
    small = min(64, case.x.shape[1])
    case.decoder.decode(case.x[:2, :small], case.lens[:2].clamp(max=small))
    out: list[list[Hypothesis]] = []

    def call() -> None:
        out.append(case.decoder.decode(case.x, case.lens))
        if case.x.is_cuda:
            torch.cuda.synchronize()

    return median_ms(time_calls(call, repeats, warmup=0)), out[-1]


def _durations(hyps: list[Hypothesis]) -> str:
    counts = Counter(d for h in hyps for d in h.durations)
    total = sum(counts.values())
    return " ".join(f"{d}:{counts[d] / total:.0%}" for d in sorted(counts)) if total else ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0, help="utterance length")
    ap.add_argument("--frame-ms", type=float, default=80.0, help="encoder frame shift")
    ap.add_argument("--quick", action="store_true", help="B=4, 10 s utterances, one repeat")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats (default CPU 1, CUDA 5)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.quick:
        args.batch, args.seconds = 4, 10.0
    if args.repeats is None:
        args.repeats = 5 if args.device == "cuda" and not args.quick else 1
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda but CUDA is not available")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    threads = apply_threads(args.threads)
    frames = round(args.seconds * 1000 / args.frame_ms)
    setup = make_setup(args.batch, frames, args.device, args.seed)
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {threads} threads"
    print(f"greedy decoding, B={args.batch}, T={frames} ({args.seconds:g} s at {args.frame_ms:g} ms), "
          f"E256/P320(LSTM)/J512/V1024 random model, blank biased to ~{TOKENS_PER_FRAME} labels/frame; "
          f"{name}; torch {torch.__version__}; median of {args.repeats}")
    results = []
    for builder in CASE_BUILDERS:
        for case in builder(setup):
            ms, hyps = _run(case, args.repeats)
            results.append((case, ms, hyps))
    base = next((ms for case, ms, _ in results if case.name == BASELINE), None)
    rows = [[case.name, fmt(ms), fmt_ratio(base, ms), fmt(sum(len(h.tokens) for h in hyps) / len(hyps)),
             _durations(hyps), case.note] for case, ms, hyps in results]
    print_table(["case", "ms", "speed-up vs frame looping", "tokens/utt", "label durations", "note"], rows)


if __name__ == "__main__":
    main()
