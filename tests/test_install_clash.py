"""transduce installs beside Hugging Face `kernels` and MosaicML `streaming` (PyPI "kernels" and
"mosaicml-streaming"), which own the top-level import names `kernels` and `streaming`: the wheel ships
everything under `transduce/`, so installing those packages after it overwrites none of its files,
the bare names resolve to them, and transduce still loads and transcribes.

The fresh venv reuses this venv's installed dependencies (torch, numba, ...) through a `.pth` line that
appends this venv's site-packages to sys.path; a plain path line runs none of that directory's own .pth
files, so the editable transduce installed there stays invisible (checked before installing the wheel).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THIRD_PARTY = ("kernels", "mosaicml-streaming")

# Runs in the fresh venv (cwd: tmp_path, so the repository folders are not on sys.path); argv[1] is that
# venv's site-packages. Prints one JSON line last.
CHECK = textwrap.dedent('''
    import importlib
    import importlib.metadata
    import importlib.util
    import json
    import sys
    import traceback
    from pathlib import Path

    site = Path(sys.argv[1]).resolve()
    OURS = {"transduce", "kernels", "streaming", "simulation"}


    def third_party(name, marker):
        """`name` resolves to the third-party package in this venv, the one that defines `marker`."""
        origin = Path(importlib.util.find_spec(name).origin).resolve()
        assert origin == site / name / "__init__.py", (name, origin)
        assert marker in origin.read_text(encoding="utf-8"), (name, marker)
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:  # one of its own dependencies, left out by --no-deps
            assert (e.name or "").split(".")[0] not in OURS, (name, e)
            ran = {Path(f.filename).resolve() for f in traceback.extract_tb(e.__traceback__)}
            assert origin in ran, (name, sorted(map(str, ran)))  # its own __init__ was the one executing
            return {"origin": str(origin), "imported": False, "missing": e.name}
        assert Path(module.__file__).resolve() == origin, (name, module.__file__)
        assert hasattr(module, marker), (name, marker)
        return {"origin": str(origin), "imported": True}


    report = {"kernels": third_party("kernels", "get_kernel"),
              "streaming": third_party("streaming", "StreamingDataset")}
    owners = importlib.metadata.packages_distributions()
    report["owners"] = {n: sorted(set(owners.get(n, []))) for n in ("kernels", "streaming", "transduce")}

    import transduce
    import transduce.kernels
    import transduce.streaming
    from transduce import Recognizer
    from transduce.asr.audio import sample_path

    for module in (transduce, transduce.kernels, transduce.streaming):
        assert Path(module.__file__).resolve().is_relative_to(site / "transduce"), module.__file__
    sample = Path(sample_path()).resolve()
    assert sample.is_relative_to(site / "transduce"), sample
    for name in ("kernels", "streaming"):  # transduce's own imports did not take over the bare names
        if name in sys.modules:
            assert Path(sys.modules[name].__file__).resolve() == site / name / "__init__.py", name
    report["text"] = Recognizer.load("demo").transcribe([str(sample)])[0].text
    print(json.dumps(report))
''')


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def _run(cmd: list, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def _tail(proc: subprocess.CompletedProcess, lines: int = 8) -> str:
    return "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-lines:])


def _record(site: Path, dist_glob: str) -> list[str]:
    (dist_info,) = site.glob(f"{dist_glob}-*.dist-info")
    return [line.rsplit(",", 2)[0] for line in (dist_info / "RECORD").read_text().splitlines() if line]


@pytest.mark.slow
def test_installs_beside_hf_kernels_and_mosaicml_streaming(tmp_path):
    pytest.importorskip("grpc_tools")  # the wheel build runs protoc
    import torch
    from transduce.asr.audio import sample_path

    from transduce import Recognizer

    expected = Recognizer.load("demo").transcribe([str(sample_path())])[0].text
    assert expected.strip()

    # 1. the wheel of the repository
    wheels = tmp_path / "wheels"
    build = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                  "-w", wheels, ROOT], tmp_path, 300)
    assert build.returncode == 0, _tail(build, 30)
    (wheel,) = wheels.glob("transduce-*.whl")

    # 2. a fresh venv that sees this venv's dependencies but not its editable transduce
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", venv], tmp_path, 120)
    assert made.returncode == 0, _tail(made)
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     tmp_path, 30).stdout.strip()).resolve()
    dev_site = Path(torch.__file__).resolve().parents[1]
    assert site.is_dir() and site != dev_site
    (site / "transduce_dev_deps.pth").write_text(f"{dev_site}\n")
    probe = _run([python, "-c", "import torch; import transduce"], tmp_path, 120)
    assert probe.returncode != 0 and "No module named 'transduce'" in probe.stderr, _tail(probe)

    # 3. transduce first, then the two packages that own the bare names (any overwrite would show).
    # --ignore-installed: pip also sees the dev venv's distributions and must leave them alone.
    pip = [python, "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q"]
    ours = _run(pip + [wheel], tmp_path, 120)
    assert ours.returncode == 0, _tail(ours)
    theirs = _run(pip + list(THIRD_PARTY), tmp_path, 150)
    if theirs.returncode != 0:
        pytest.skip(f"cannot install {' and '.join(THIRD_PARTY)}: {_tail(theirs, 4)}")

    # file ownership: transduce's RECORD holds only transduce/, its dist-info and the console script;
    # every file it lists is still the one the wheel installed; the others list nothing of ours
    record = _record(site, "transduce")
    (dist_info,) = {p.split("/")[0] for p in record if ".dist-info/" in p}
    script = os.path.relpath(venv / "bin" / "transduce", site)
    stray = [p for p in record if not p.startswith(("transduce/", f"{dist_info}/")) and p != script]
    assert not stray, stray
    assert script in record and "transduce/__init__.py" in record
    for line in (site / dist_info / "RECORD").read_text().splitlines():
        path, digest, _ = line.rsplit(",", 2)
        if digest:
            algo, _, want = digest.partition("=")
            got = base64.urlsafe_b64encode(hashlib.new(algo, (site / path).read_bytes()).digest())
            assert got.rstrip(b"=").decode() == want, f"{path} was overwritten"
    for other in ("kernels", "mosaicml_streaming"):
        clash = [p for p in _record(site, other) if p.startswith(("transduce/", dist_info))]
        assert not clash, (other, clash)

    # 4. the bare names are theirs; transduce still works
    (tmp_path / "check_clash.py").write_text(CHECK)
    check = _run([python, "check_clash.py", site], tmp_path, 240)
    assert check.returncode == 0, _tail(check, 30)
    report = json.loads(check.stdout.strip().splitlines()[-1])
    assert report["owners"] == {"kernels": ["kernels"], "streaming": ["mosaicml-streaming"],
                                "transduce": ["transduce"]}, report["owners"]
    assert report["text"].strip() and report["text"] == expected, (report["text"], expected)
    for cmd in ([python, "-m", "transduce", "--help"], [venv / "bin" / "transduce", "--help"]):
        helped = _run(cmd, tmp_path, 120)
        assert helped.returncode == 0 and "COMMAND" in helped.stdout, _tail(helped, 20)
