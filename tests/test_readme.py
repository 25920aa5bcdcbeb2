"""The README's code blocks run: Python blocks in order in one namespace, `sh` blocks in bash in a
fresh folder with this venv's commands first on PATH. The documented API and commands stay true.
(`bash` blocks, such as `make demo` / `make test`, are set-up instructions and are not run here.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from transduce.asr.checkpoint import bundled_models

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_readme_python_blocks_run():
    blocks = _blocks(README.read_text(), "python")
    assert blocks, "README has no python code blocks"
    namespace: dict = {"__name__": "readme"}
    for i, block in enumerate(blocks):
        if '"demo"' in block and "demo" not in bundled_models():
            continue  # needs the bundled demo model (always bundled in a release)
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)  # noqa: S102


@pytest.mark.slow
def test_readme_shell_blocks_run(tmp_path):
    blocks = _blocks(README.read_text(), "sh")
    assert blocks, "README has no sh code blocks"
    if "demo" not in bundled_models():
        pytest.skip("the README's transcribe example needs the bundled demo model")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "OMP_NUM_THREADS": "1"}
    for i, block in enumerate(blocks):
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"README sh block {i + 1}:\n{done.stderr[-3000:]}"
    rows = [json.loads(line) for line in (tmp_path / "transcripts.jsonl").read_text().splitlines()]
    sharded = [json.loads(line) for line in (tmp_path / "sharded.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["error"] is None and rows[0]["text"]
    assert sharded == rows
