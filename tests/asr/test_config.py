"""Config dataclasses round-trip through JSON and refuse keys that do not fit."""

import json
from dataclasses import dataclass, field
from typing import Literal

import pytest
from transduce.asr.config import ConfigError, from_dict, load_json, save_json, to_dict


@dataclass(frozen=True)
class Inner:
    width: int = 4
    scale: float = 1.0
    kind: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner = field(default_factory=Inner)
    contexts: tuple[tuple[int, int], ...] = ((70, 13), (70, 1))
    sizes: list[int] = field(default_factory=lambda: [1, 2])
    maybe: Inner | None = None
    head: int | None = None


def test_round_trip_through_json(tmp_path):
    cfg = Outer(name="x", inner=Inner(width=7, scale=0.5, kind="b"), contexts=((1, 2),), sizes=[3],
                maybe=Inner(width=2), head=5)
    path = tmp_path / "c.json"
    save_json(cfg, path)
    assert from_dict(Outer, load_json(path)) == cfg
    assert json.loads(path.read_text())["contexts"] == [[1, 2]]


def test_defaults_fill_missing_optional_keys_and_ints_widen_to_float():
    cfg = from_dict(Outer, {"name": "y", "inner": {"scale": 2}})
    assert cfg.inner == Inner(scale=2.0) and isinstance(cfg.inner.scale, float)
    assert cfg.contexts == ((70, 13), (70, 1)) and cfg.maybe is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "y", "inner": {"widht": 3}}, "Outer.inner: unknown key(s) ['widht']"),
        ({"inner": {}}, "missing required key 'name'"),
        ({"name": "y", "inner": {"width": "3"}}, "Outer.inner.width: expected int"),
        ({"name": "y", "inner": {"kind": "c"}}, "Outer.inner.kind: 'c' is not one of"),
        ({"name": "y", "contexts": [[1, 2, 3]]}, "Outer.contexts[0]: expected 2 items"),
        ({"name": "y", "sizes": 3}, "Outer.sizes: expected a list"),
    ],
)
def test_mismatches_name_the_path(data, message):
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, data)
    assert message in str(err.value)


def test_to_dict_is_plain_data():
    assert to_dict(Outer(name="z")) == {
        "name": "z", "inner": {"width": 4, "scale": 1.0, "kind": "a"}, "contexts": [[70, 13], [70, 1]],
        "sizes": [1, 2], "maybe": None, "head": None,
    }
