"""Build hook: the package layout (the top-level folders install under `transduce.`) and the protobuf
messages generated from proto/ at build/install time.

Layout: transduce/ is the `transduce` package (facade, command line); asr/, streaming/, kernels/ and
service/ install as transduce.asr, transduce.streaming, transduce.kernels and transduce.service
(package_dir), in wheels and editable installs alike.

Messages: protoc (from grpcio-tools) writes `<name>_pb2.py` and `.pyi` for every .proto under proto/
into service/_proto/ (git-ignored; in the source tree for editable installs, in the build directory
for wheels), next to a copy of the .proto. Only messages are generated, no gRPC service module: the
service is registered and called from its descriptor (transduce.service.wire, .protos), so the
installed grpcio need not match the grpcio-tools that built the package. A message module imports
only google.protobuf, so it can live anywhere; the descriptor keeps the proto's own file name
(transduce/asr/v1/asr.proto) and package (transduce.asr.v1).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROTO_ROOT = ROOT / "proto"
LAYERS = ("asr", "streaming", "kernels", "service")


def package_layout() -> tuple[list[str], dict[str, str]]:
    """(packages, package_dir): transduce/ as `transduce`, each layer folder as `transduce.<folder>`."""
    packages, package_dir = ["transduce"], {"transduce": "transduce"}
    for layer in LAYERS:
        package_dir[f"transduce.{layer}"] = layer
        packages += [f"transduce.{layer}"] + [f"transduce.{layer}.{p}" for p in find_packages(layer)]
    return packages, package_dir


def generate_messages(out_dir: Path) -> None:
    """Run protoc over every .proto under proto/; put each `<name>_pb2.py` (and .pyi, .proto) in out_dir."""
    import importlib.resources

    from grpc_tools import protoc

    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "__init__.py").write_text('"""Generated protobuf messages (setup.py); do not edit."""\n')
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = ["protoc", f"--proto_path={PROTO_ROOT}", f"--proto_path={well_known}",
                f"--python_out={tmp}", f"--pyi_out={tmp}"]
        if protoc.main(args + [str(p) for p in protos]) != 0:
            raise RuntimeError(f"protoc failed on {[str(p) for p in protos]}")
        for proto in protos:
            generated = Path(tmp) / proto.relative_to(PROTO_ROOT).with_suffix("")
            code = generated.with_name(f"{proto.stem}_pb2.py").read_text()
            if re.search(r"^from (?!google\.protobuf)\S+ import", code, flags=re.M):
                raise RuntimeError(f"{proto} imports another .proto: its messages cannot be moved flat")
            (out_dir / f"{proto.stem}_pb2.py").write_text(code)
            shutil.copy2(generated.with_name(f"{proto.stem}_pb2.pyi"), out_dir / f"{proto.stem}_pb2.pyi")
            shutil.copy2(proto, out_dir / proto.name)


class BuildPyWithMessages(build_py):
    """build_py that also generates the protobuf messages (in place when installing editable)."""

    def run(self) -> None:
        if not self.editable_mode:  # a build folder left from an older tree would ship moved modules
            shutil.rmtree(Path(self.build_lib) / "transduce", ignore_errors=True)
        super().run()
        base = ROOT / "service" if self.editable_mode else Path(self.build_lib) / "transduce" / "service"
        generate_messages(base / "_proto")


PACKAGES, PACKAGE_DIR = package_layout()
setup(packages=PACKAGES, package_dir=PACKAGE_DIR, cmdclass={"build_py": BuildPyWithMessages})
