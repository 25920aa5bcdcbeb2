"""transduce's model core: audio, features, tokenizers, neural blocks, encoders, heads, losses,
decoding, training, checkpoints and the Python API. Knows nothing of gRPC.

`asr.load_model(path)` / `asr.save_model(model, path)` (asr.checkpoint) are imported on first use,
so `import asr` stays cheap (no torch) for tools that need only part of the package.
`asr.Recognizer` (the Python API) is a name-only alias of `streaming.Recognizer`, resolved on first
use: the class opens streaming sessions, so it lives in the layer above (see streaming/recognizer.py);
no asr module uses it and `import asr` does not import streaming.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Recognizer", "load_model", "save_model"]

_LAZY = {"load_model": "asr.checkpoint", "save_model": "asr.checkpoint", "Recognizer": "streaming.recognizer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'asr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
