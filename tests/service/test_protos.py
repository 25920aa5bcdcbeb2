"""The gRPC stubs are generated from the shipped .proto at install time and are never stale."""

import importlib.resources
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_stubs_import_and_describe_the_service():
    from service.protos import asr_pb2, asr_pb2_grpc

    service = asr_pb2.DESCRIPTOR.services_by_name["Recognizer"]
    assert {m.name for m in service.methods} == {"StreamingRecognize", "Recognize", "ListModels"}
    streaming = service.methods_by_name["StreamingRecognize"]
    assert streaming.client_streaming and streaming.server_streaming
    assert hasattr(asr_pb2_grpc, "RecognizerStub") and hasattr(asr_pb2_grpc, "RecognizerServicer")


def test_generated_descriptor_matches_the_proto_source(tmp_path):
    """Regenerate from proto/ now and compare descriptors: an edited .proto without a reinstall fails."""
    pytest.importorskip("grpc_tools")
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    from service.protos import PROTO_FILE, asr_pb2

    out = tmp_path / "set.pb"
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    rc = protoc.main(["protoc", f"--proto_path={ROOT / 'proto'}", f"--proto_path={well_known}",
                      f"--descriptor_set_out={out}", "transduce/asr/v1/asr.proto"])
    assert rc == 0
    fresh = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    installed = descriptor_pb2.FileDescriptorProto()
    asr_pb2.DESCRIPTOR.CopyToProto(installed)
    for message in [*fresh.message_type, *installed.message_type]:  # CopyToProto drops json_name
        for field in message.field:
            field.ClearField("json_name")
    stale = "service/_proto is stale: reinstall (pip install -e .) after editing the .proto"
    assert installed == fresh, stale
    assert PROTO_FILE.read_text() == (ROOT / "proto/transduce/asr/v1/asr.proto").read_text()


def test_only_service_imports_the_stubs():
    """Layering: asr, streaming and kernels never import the generated stubs or grpc."""
    offenders = []
    for package in ("asr", "streaming", "kernels"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            if "service.protos" in text or "import grpc" in text or "asr_pb2" in text:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_wheel_ships_proto_and_stubs(tmp_path):
    """A non-editable build puts the .proto and generated stubs inside the wheel."""
    pytest.importorskip("grpc_tools")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
           "-w", str(tmp_path), str(ROOT)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    import zipfile

    (wheel,) = tmp_path.glob("transduce-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("asr_pb2.py", "asr_pb2_grpc.py", "asr_pb2.pyi", "asr.proto"):
        assert f"service/_proto/transduce/asr/v1/{name}" in names
    assert "asr/assets/sample.wav" in names
