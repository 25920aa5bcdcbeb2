"""transduce: streaming speech recognition, one installed namespace.

Its subpackages are the layers, each importing only the ones below it:
transduce.service (gRPC) -> transduce.streaming (sessions, the batching scheduler, the Python API)
-> transduce.asr (model core) -> transduce.kernels (loss and beam kernels). In the repository they
are the top-level folders service/, streaming/, asr/ and kernels/ (see ARCHITECTURE.md).

    from transduce import Recognizer, load_model
    r = Recognizer.load("demo"); r.transcribe(["a.wav"])[0].text

The names are imported on first use, so `import transduce` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
__all__ = ["Recognizer", "__version__", "load_model", "save_model"]

_LAZY = {"Recognizer": "transduce.streaming.recognizer", "load_model": "transduce.asr.checkpoint",
         "save_model": "transduce.asr.checkpoint"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'transduce' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
