"""Peer side of benchmarks/formatting.py, run in the venv of make_itn_venv.sh: NVIDIA nemo-text-processing's
English InverseNormalizer (WFST grammars, pynini) on the spoken sentences of INPUTS (a JSON list).

Writes {"outputs": [...], "load_s", "run_s", "sentences_per_s", "version"} to --out. Grammars are compiled
once into --cache-dir (the first run takes minutes); load_s is reading them back, run_s the sentences
normalized one by one with normalize(verbose=False), as NeMo's own ITN script does.
"""

import argparse
import json
import time
from importlib.metadata import version

ap = argparse.ArgumentParser()
ap.add_argument("inputs")
ap.add_argument("--cache-dir", required=True)
ap.add_argument("--threads", type=int, default=1)  # pynini runs on one core whatever this says
ap.add_argument("--out", required=True)
args = ap.parse_args()

from nemo_text_processing.inverse_text_normalization.inverse_normalize import InverseNormalizer  # noqa: E402

with open(args.inputs) as f:
    spoken = json.load(f)
start = time.perf_counter()
itn = InverseNormalizer(lang="en", cache_dir=args.cache_dir, overwrite_cache=False)
load_s = time.perf_counter() - start
itn.normalize(spoken[0], verbose=False)  # warm-up
start = time.perf_counter()
outputs = [itn.normalize(s, verbose=False) for s in spoken]
run_s = time.perf_counter() - start
with open(args.out, "w") as f:
    json.dump({"outputs": outputs, "load_s": load_s, "run_s": run_s, "sentences_per_s": len(spoken) / run_s,
               "version": version("nemo_text_processing")}, f)
