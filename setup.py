"""Build hook: generate the gRPC Python stubs from proto/ at build/install time.

The stubs land in `service/_proto/` (git-ignored; in the source tree for editable installs, in
the build directory for wheels), next to a copy of the .proto files so they ship as package data.
`protoc` runs with `--proto_path` at proto/, so the stubs import each other as `transduce.asr.v1`
with no rewriting; only `service/` puts that folder on the import path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROTO_ROOT = ROOT / "proto"


def generate_stubs(out_dir: Path) -> None:
    """Run protoc (from grpcio-tools) over every .proto under proto/ into `out_dir`."""
    import importlib.resources

    from grpc_tools import protoc

    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    args = ["protoc", f"--proto_path={PROTO_ROOT}", f"--proto_path={well_known}",
            f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}"]
    if protoc.main(args + [str(p) for p in protos]) != 0:
        raise RuntimeError(f"protoc failed on {[str(p) for p in protos]}")
    for proto in protos:
        target = out_dir / proto.relative_to(PROTO_ROOT)
        shutil.copy2(proto, target)


class BuildPyWithProtos(build_py):
    """build_py that also generates the gRPC stubs (in place when installing editable)."""

    def run(self) -> None:
        super().run()
        base = ROOT if self.editable_mode else Path(self.build_lib)
        generate_stubs(base / "service" / "_proto")


setup(cmdclass={"build_py": BuildPyWithProtos})
