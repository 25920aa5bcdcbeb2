"""Model registry: the name a checkpoint records for its model class, and that class's settings.

A registered class takes one frozen dataclass of settings, is built as `cls(cfg)` and keeps the
settings as `self.cfg`; `config.json` stores the registered name and `to_dict(cfg)`, so loading
needs no pickled code. Register with the decorator (the settings class is the `config` argument or
the class attribute `config_class`):

    @register_model("ctc")
    class CtcModel(nn.Module):
        config_class = CtcConfig
        def __init__(self, cfg: CtcConfig) -> None: ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ModelEntry", "register_model", "model_entry", "model_name", "registered_models"]

M = TypeVar("M", bound=type)


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A registered model: its name, its class and the frozen dataclass of its settings."""

    name: str
    cls: type
    config: type


_BY_NAME: dict[str, ModelEntry] = {}


def register_model(name: str, config: type | None = None) -> Callable[[M], M]:
    """Class decorator: make `cls` saveable and loadable under `name`, with settings class `config`
    (default: `cls.config_class`). Re-registering the same class is a no-op; a clash is a ValueError."""

    def decorate(cls: M) -> M:
        cfg_cls = config if config is not None else getattr(cls, "config_class", None)
        if not (isinstance(cfg_cls, type) and dataclasses.is_dataclass(cfg_cls)):
            raise TypeError(f"register_model({name!r}): {cls.__name__} needs a dataclass of settings "
                            "(pass config=... or set the class attribute config_class)")
        if not cfg_cls.__dataclass_params__.frozen:
            raise TypeError(f"register_model({name!r}): settings class {cfg_cls.__name__} must be frozen")
        old = _BY_NAME.get(name)
        if old is not None and (old.cls is not cls or old.config is not cfg_cls):
            raise ValueError(f"model name {name!r} is already registered to {old.cls.__qualname__}")
        _BY_NAME[name] = ModelEntry(name, cls, cfg_cls)
        return cls

    if not isinstance(name, str) or not name:
        raise ValueError(f"a model name must be a non-empty string, got {name!r}")
    return decorate


def model_entry(name: str) -> ModelEntry | None:
    """The entry registered under `name`, or None."""
    return _BY_NAME.get(name)


def model_name(model: Any) -> str | None:
    """The name `type(model)` is registered under (exact class, not a subclass), or None."""
    for entry in _BY_NAME.values():
        if type(model) is entry.cls:
            return entry.name
    return None


def registered_models() -> list[str]:
    """All registered names, sorted."""
    return sorted(_BY_NAME)
