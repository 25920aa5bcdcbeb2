"""transduce's model core: audio, features, tokenizers, neural blocks, encoders, heads, losses,
decoding, training and checkpoints. Knows nothing of streaming sessions or gRPC.

`asr.load_model(path)` / `asr.save_model(model, path)` (asr.checkpoint) are imported on first use,
so `import transduce.asr` stays cheap (no torch) for tools that need only part of the package.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["load_model", "save_model"]

_LAZY = {"load_model": "transduce.asr.checkpoint", "save_model": "transduce.asr.checkpoint"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'transduce.asr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
