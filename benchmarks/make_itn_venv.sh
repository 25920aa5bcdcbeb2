#!/usr/bin/env bash
# A separate venv with the formatting peer of benchmarks/formatting.py: NVIDIA nemo-text-processing
# (inverse text normalization: WFST grammars compiled with pynini). Usage: make_itn_venv.sh DIR
set -euo pipefail
dir=${1:?usage: make_itn_venv.sh DIR}
python3 -m venv "$dir"
"$dir/bin/pip" install -q --upgrade pip
"$dir/bin/pip" install -q "nemo-text-processing==1.2.0"   # pulls pynini==2.1.6.post1
"$dir/bin/python" -c "import pynini, nemo_text_processing; print('itn venv ready:', nemo_text_processing.__file__)"
