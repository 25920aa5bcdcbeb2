"""The generated gRPC stubs of transduce.asr.v1, imported from `service/_proto`.

The stubs are generated from proto/ when the package is built or installed (see setup.py); the
folder is put on the import path here, once, so that the generated modules import each other
by their proto package name without any rewriting. Only `service/` imports these.
"""

from __future__ import annotations

import sys
from pathlib import Path

_GENERATED = Path(__file__).resolve().parent / "_proto"
if not (_GENERATED / "transduce" / "asr" / "v1" / "asr_pb2.py").exists():
    raise ImportError(
        f"gRPC stubs are missing under {_GENERATED}: they are generated at install time; "
        "reinstall the package (pip install -e . or make setup)"
    )
if str(_GENERATED) not in sys.path:
    sys.path.insert(0, str(_GENERATED))

from transduce.asr.v1 import asr_pb2, asr_pb2_grpc  # noqa: E402

__all__ = ["asr_pb2", "asr_pb2_grpc", "PROTO_FILE"]

PROTO_FILE = _GENERATED / "transduce" / "asr" / "v1" / "asr.proto"
