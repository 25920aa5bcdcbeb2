"""Benchmark: the formatting model (spoken form -> written text) against NeMo's inverse text normalization.

Inputs: the spoken side of the test split of asr.data.format_pairs (--pairs, default data/format_pairs_v2,
built as asr/training/configs/format_seq2seq_finetune.yaml says; its sentences never occur in
training), references its written side.

1. Ours, the bundled "format" model through asr.text.TextRewriter, for greedy, beam (4) and aggressive
   decoding, batched (--batch-size, sorted by length) on 1 and 2 torch threads: sentences/s, decoder
   passes, and whether aggressive's output is token-identical to greedy's.
2. Latency mode (one sentence at a time, 1 and 2 threads, greedy and aggressive in turn on each
   sentence) on the first --latency-n sentences: sequential decoder passes and ms per sentence.
3. Accuracy: exact sentence match, case/punctuation-insensitive match (asr.text.scoring.loose) and
   punctuation F1, overall and by category (asr.data.format_pairs.categories).
4. Peer: nemo-text-processing's English InverseNormalizer (benchmarks/make_itn_venv.sh; pynini WFSTs,
   one core) on the same spoken inputs, in its own venv. It writes no capitals or punctuation and has
   conventions of its own, so both its output and the references are compared through `peer_view`
   (loose, then the mapping documented there); ours is scored the same way for the comparison.

    .venv/bin/python benchmarks/formatting.py                 # ~10 min on 2 cores (+ grammar build once)
    .venv/bin/python benchmarks/formatting.py --quick         # 300 sentences
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from _common import print_table, run_worker

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
METHODS = ("greedy", "beam", "aggressive")

# Where nemo-text-processing's English ITN writes differently from shared/formatting-conventions.md by
# design (not by mistake); applied in order to both sides (peer output and reference) after `loose`,
# never to ours alone. What is left are real misses: "1244" for "twelve forty four", "eight oh three"
# left in words, "2029i" glued, "twelve pounds eleven" left in words.
_SMALL = "zero one two three four five six seven eight nine".split()
_HOURS = "one two three four five six seven eight nine ten eleven twelve".split()
_HOUR = {w: i for i, w in enumerate(_HOURS, 1)}
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"


def _word_time(m: re.Match) -> str:
    hour = _HOUR[m.group(3)]
    if m.group(2) == "to":
        return f"{hour - 1 or 12}:{60 - 15:02d}" if m.group(1) == "quarter" else m.group(0)
    return f"{hour}:{15 if m.group(1) == 'quarter' else 30:02d}"


PEER_MAPPING = (
    # it writes no apostrophes (possessives are punctuation to it): drop them on both sides
    (re.compile(r"'"), lambda m: ""),
    # no thousands separators: "72713.98" for "72,713.98"
    (re.compile(r"(?<=\d),(?=\d{3})"), lambda m: ""),
    # a space before the percent sign: "81 %" for "81%"
    (re.compile(r"(?<=\S) %"), lambda m: "%"),
    # times: "04:12 pm" / "05 am" for "4:12 p.m." / "5 a.m.", and "05:58" for "5:58"
    (re.compile(r"\b([ap])\.?m\b"), lambda m: f"{m.group(1)}m"),
    (re.compile(r"(?<!:)\b0(\d)(?=(?::\d\d)? ?[ap]m\b|:\d\d\b)"), lambda m: m.group(1)),
    (re.compile(r"\b(\d{1,2})(?::00)? ?([ap]m)\b"), lambda m: f"{m.group(1)} {m.group(2)}"),
    # it writes "a quarter past six" as "a 06:15" (ours keeps such times in words): compare as digits
    (re.compile(rf"\b(quarter|half) (past|to) ({'|'.join(_HOUR)})\b"), _word_time),
    # dates as "6 december" for "the 6th of December"
    (re.compile(rf"\bthe (\d+)(?:st|nd|rd|th) of ({_MONTHS})\b"), lambda m: f"{m.group(1)} {m.group(2)}"),
    # pounds in words ("17 pounds" for "£17", "91 pounds and 67 pence" for "£91.67"), cents as dollars
    # ("$0.17" for "17 cents")
    (re.compile(r"£(\d+)\.(\d\d)\b"), lambda m: f"{m.group(1)} pounds and {int(m.group(2))} pence"),
    (re.compile(r"£1\b(?![.,]\d)"), lambda m: "1 pound"),
    (re.compile(r"£(\d[\d.]*)"), lambda m: f"{m.group(1)} pounds"),
    (re.compile(r"\$0\.0?(\d+)\b"), lambda m: f"{m.group(1)} cents"),
    # units abbreviated: "4.86 mi" for "4.86 miles"
    (re.compile(r"\bmi\b"), lambda m: "miles"),
    # "1st" / "2nd" for "first" / "second" alone (ours keeps those two in words)
    (re.compile(r"\b1st\b"), lambda m: "first"),
    (re.compile(r"\b2nd\b"), lambda m: "second"),
    # digits 0-9 it may write as words or digits ("nine %", "5 miles"): spell them out on both sides
    (re.compile(r"(?<![\w$£€.:,])(\d)(?![\w.:,])"), lambda m: _SMALL[int(m.group(1))]),
)


def peer_view(text: str) -> str:
    """`text` for the peer comparison: loose (no case, no punctuation) plus PEER_MAPPING."""
    from transduce.asr.text.scoring import loose

    view = loose(text)
    for pattern, replace in PEER_MAPPING:
        view = pattern.sub(replace, view)
    return " ".join(view.split())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="format", help="a text model directory or bundled name")
    ap.add_argument("--pairs", default=str(REPO / "data" / "format_pairs_v2"), help="format_pairs folder")
    ap.add_argument("--limit", type=int, default=None, help="first N test sentences only")
    ap.add_argument("--quick", action="store_true", help="300 sentences, latency on 50")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--latency-n", type=int, default=300, help="sentences for the one-at-a-time mode")
    ap.add_argument("--itn-python", default=os.environ.get("ITN_PYTHON", "/work/itn_venv/bin/python"))
    ap.add_argument("--itn-cache", default=os.environ.get("ITN_CACHE", "/work/itn_cache"))
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return ap.parse_args(argv)


def load_pairs(folder: Path) -> list[tuple[str, str]]:
    """The (spoken, written) test pairs of `folder` (asr.data.format_pairs.build_pairs)."""
    from transduce.asr.data.format_pairs import read_pairs

    if not (folder / "test.jsonl").exists():
        raise SystemExit(f"no {folder}/test.jsonl: build the pairs the model was trained on (the recipe is "
                         "in asr/training/configs/format_seq2seq_finetune.yaml) or pass --pairs")
    return read_pairs(folder, "test")


def run_ours(model, spoken: list[str], threads: int, method: str, batch_size: int) -> dict:
    """Outputs, sentences/s and decoder passes of one method on `threads` torch threads."""
    from transduce.asr.text.rewriter import TextRewriter

    torch.set_num_threads(threads)
    rewriter = TextRewriter(model, method=method, batch_size=batch_size)
    rewriter(spoken[:batch_size])  # warm-up
    start = time.perf_counter()
    out = rewriter.rewrite(spoken)
    seconds = time.perf_counter() - start
    return {"outputs": out.texts, "seconds": seconds, "sentences_per_s": len(spoken) / seconds,
            "passes": out.passes}


def run_latency(model, spoken: list[str], threads: int) -> dict:
    """One sentence at a time on `threads` threads: mean passes and ms per sentence, greedy vs aggressive.
    The two run in turn on each sentence (order alternating), so a slow spell of the machine hits both."""
    from transduce.asr.text.rewriter import TextRewriter

    torch.set_num_threads(threads)
    rewriters = {m: TextRewriter(model, method=m, batch_size=1) for m in ("greedy", "aggressive")}
    for r in rewriters.values():
        r(spoken[:5])
    result = {m: {"passes": 0, "seconds": 0.0, "outputs": []} for m in rewriters}
    for i, s in enumerate(spoken):
        for method in (("greedy", "aggressive") if i % 2 else ("aggressive", "greedy")):
            start = time.perf_counter()
            r = rewriters[method].rewrite([s])
            result[method]["seconds"] += time.perf_counter() - start
            result[method]["passes"] += r.passes
            result[method]["outputs"] += r.texts
    return {m: {"passes_per_sentence": r["passes"] / len(spoken),
                "ms_per_sentence": 1000 * r["seconds"] / len(spoken), "outputs": r["outputs"]}
            for m, r in result.items()}


def by_category(hyps: list[str], refs: list[str]) -> dict[str, tuple[int, float, float]]:
    """Category -> (sentences, exact, loose) over the references that exercise it."""
    from transduce.asr.data.format_pairs import categories
    from transduce.asr.text.scoring import loose

    groups: dict[str, list[int]] = defaultdict(list)
    for i, ref in enumerate(refs):
        for label in categories(ref):
            groups[label].append(i)
    return {label: (len(ix), sum(hyps[i] == refs[i] for i in ix) / len(ix),
                    sum(loose(hyps[i]) == loose(refs[i]) for i in ix) / len(ix))
            for label, ix in sorted(groups.items())}


def run_peer(args: argparse.Namespace, spoken: list[str]) -> dict:
    if not Path(args.itn_python).exists():
        venv = Path(args.itn_python).parents[1]
        return {"error": f"no {args.itn_python}: run benchmarks/make_itn_venv.sh {venv}"}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spoken, f)
    try:
        worker_args = [f.name, "--cache-dir", args.itn_cache]
        return run_worker(args.itn_python, str(HERE / "_itn_peer.py"), worker_args, threads=1, timeout=3600)
    finally:
        os.unlink(f.name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO))
    from transduce.asr.checkpoint import load_model
    from transduce.asr.text.scoring import score

    pairs = load_pairs(Path(args.pairs))
    limit = 300 if args.quick else args.limit
    pairs = pairs[:limit] if limit else pairs
    spoken, refs = [s for s, _ in pairs], [w for _, w in pairs]
    model = load_model(args.model)
    params = sum(p.numel() for p in model.parameters())
    print(f"# formatting benchmark, {datetime.date.today()}, {platform.node()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}")
    print(f"# model {args.model}: {params / 1e6:.2f}M parameters; {len(pairs)} test sentences; "
          f"batch {args.batch_size}\n")

    runs = {(m, t): run_ours(model, spoken, t, m, args.batch_size) for t in (1, 2) for m in METHODS}
    peer = run_peer(args, spoken)
    latency = {t: run_latency(model, spoken[: 50 if args.quick else args.latency_n], t) for t in (1, 2)}

    def peer_match(hyps: list[str]) -> float:
        return sum(peer_view(h) == peer_view(r) for h, r in zip(hyps, refs)) / len(refs)

    rows = []
    for m in METHODS:
        s, one = score(runs[m, 1]["outputs"], refs), runs[m, 1]
        rows.append([m, f"{100 * s.exact:.2f}", f"{100 * s.loose:.2f}", f"{100 * s.punctuation.f1:.2f}",
                     f"{peer_match(one['outputs']):.2%}", f"{one['sentences_per_s']:.1f}",
                     f"{runs[m, 2]['sentences_per_s']:.1f}", str(one["passes"])])
    if "error" in peer:
        rows.append(["nemo ITN", "-", "-", "-", peer["error"], "-", "-", "-"])
    else:
        ps = score(peer["outputs"], refs)
        rows.append([f"nemo ITN {peer['version']}", f"{100 * ps.exact:.2f}", f"{100 * ps.loose:.2f}",
                     f"{100 * ps.punctuation.f1:.2f}", f"{peer_match(peer['outputs']):.2%}",
                     f"{peer['sentences_per_s']:.1f}", "(1 core)", "-"])
    print_table(["decoding", "exact %", "case/punct-insens. %", "punct F1 %", "peer-view match",
                 "sent/s 1 thr", "sent/s 2 thr", "passes (batched)"], rows)

    gb, ab = runs["greedy", 1], runs["aggressive", 1]
    same = sum(x == y for x, y in zip(ab["outputs"], gb["outputs"]))
    print(f"\naggressive == greedy: {same}/{len(refs)} sentences identical")
    print(f"batched, 1 thread: passes greedy {gb['passes']} / aggressive {ab['passes']} = "
          f"{gb['passes'] / ab['passes']:.2f}x; wall {gb['seconds']:.2f} s / {ab['seconds']:.2f} s = "
          f"{gb['seconds'] / ab['seconds']:.2f}x")
    for threads, lat in latency.items():
        g, a = lat["greedy"], lat["aggressive"]
        assert a["outputs"] == g["outputs"]
        print(f"one at a time, {threads} thread(s) ({len(a['outputs'])} sentences): passes/sentence greedy "
              f"{g['passes_per_sentence']:.2f} / aggressive {a['passes_per_sentence']:.2f} = "
              f"{g['passes_per_sentence'] / a['passes_per_sentence']:.2f}x; ms/sentence "
              f"{g['ms_per_sentence']:.2f} / {a['ms_per_sentence']:.2f} = "
              f"{g['ms_per_sentence'] / a['ms_per_sentence']:.2f}x")
    if "error" not in peer:
        for m in ("greedy", "aggressive"):
            ours = runs[m, 1]["sentences_per_s"]
            print(f"throughput, one core: ours ({m}, batched) {ours:.1f} / nemo ITN "
                  f"{peer['sentences_per_s']:.1f} sentences/s = {ours / peer['sentences_per_s']:.2f}x "
                  f"(its grammar load {peer['load_s']:.1f} s not counted)")

    print("\nby origin (aggressive, 1 thread)")
    from transduce.asr.data.format_pairs import ORIGINS, read_origins

    kinds = read_origins(Path(args.pairs), "test")[: len(refs)]
    rows = []
    for kind in ORIGINS:
        ix = [i for i, k in enumerate(kinds) if k == kind]
        if ix:
            s = score([ab["outputs"][i] for i in ix], [refs[i] for i in ix])
            rows.append([kind, str(len(ix)), f"{100 * s.exact:.1f}", f"{100 * s.loose:.1f}",
                         f"{100 * s.punctuation.f1:.1f}"])
    print_table(["origin", "n", "exact %", "insens. %", "punct F1 %"], rows)

    print("\nby category (aggressive, 1 thread): sentences, exact %, case/punct-insensitive %")
    cats = by_category(runs["aggressive", 1]["outputs"], refs)
    print_table(["category", "n", "exact %", "insens. %"],
                [[c, str(n), f"{100 * e:.1f}", f"{100 * lo:.1f}"] for c, (n, e, lo) in cats.items()])
    wrong = [(s, h, r) for s, h, r in zip(spoken, runs["aggressive", 1]["outputs"], refs) if h != r][:8]
    print("\nsome misses (spoken | ours | reference):")
    for s, h, r in wrong:
        print(f"  {s}\n    {h}\n    {r}")
    if "error" not in peer:
        print("\npeer samples (spoken | nemo ITN | reference):")
        for s, h, r in list(zip(spoken, peer["outputs"], refs))[:5]:
            print(f"  {s}\n    {h}\n    {r}")
    if args.json:
        drop = lambda r: {k: v for k, v in r.items() if k != "outputs"}  # noqa: E731
        figures = {"sentences": len(refs), "ours": {f"{m}/{t}": drop(r) for (m, t), r in runs.items()},
                   "latency": {t: {m: drop(r) for m, r in lat.items()} for t, lat in latency.items()},
                   "peer": drop(peer),
                   "categories": cats}
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
