"""Say how a checkpoint's weights differ from the model its config.json builds, in words a user can act on.

Keys missing from or extra to the weights are grouped per numbered sub-module ("layers.4.* (31
keys)"); a numbered container of another length ("layers: 6 entries in the weights, 4 from the
config") and a tensor of another shape ("...linear1.weight: checkpoint (1024, 256) vs config
(2048, 256)") come with the settings that explain them. Those are found by search when a rebuild
function is given: the model is rebuilt (cheaply, e.g. on the meta device) with one integer
setting changed at a time, keeping the change that shrinks the mismatch most, up to three times;
if the weights then fit, the message says "the weights fit d_model=256 (config.json says 512)".
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

__all__ = ["Shapes", "describe_mismatch"]

Shapes = dict[str, tuple[int, ...]]

_MAX_GROUPS = 6
_MAX_SHAPES = 5
_MAX_CHANGES = 3


def describe_mismatch(saved: Shapes, expected: Shapes, cfg: Any,
                      rebuild: Callable[[Any], Shapes] | None = None) -> list[str]:
    """Lines naming every mismatch between `saved` (shapes in the file) and `expected` (the model
    built from `cfg`); [] if they fit. `rebuild(cfg) -> shapes` enables the search for the settings."""
    if _score(saved, expected) == 0:
        return []
    settings = _int_settings(cfg)
    fit = _search(cfg, saved, expected, rebuild) if rebuild is not None else None
    lines, explains = [], {}
    if fit:
        found = ", ".join(f"{n}={v} (config.json says {settings[n]})" for n, v in fit.items())
        lines.append(f"the weights fit {found}")
        explains = {n: rebuild(_replace(cfg, n, v)) for n, v in fit.items()}  # shapes with one change
    lines += _length_lines(saved, expected, settings, explains)
    missing = sorted(set(expected) - set(saved), key=_natural)
    unexpected = sorted(set(saved) - set(expected), key=_natural)
    if missing:
        lines.append(f"missing from the weights ({len(missing)} keys): {_summary(missing)}")
    if unexpected:
        lines.append(f"unexpected in the weights ({len(unexpected)} keys): {_summary(unexpected)}")
    shapes = [k for k in expected if k in saved and saved[k] != expected[k]]
    lines += [_shape_line(k, saved[k], expected[k], settings, explains) for k in shapes[:_MAX_SHAPES]]
    if len(shapes) > _MAX_SHAPES:
        lines.append(f"... and {len(shapes) - _MAX_SHAPES} more shape mismatches")
    return lines


def _score(saved: Shapes, expected: Shapes) -> int:
    """Number of keys missing, unexpected or of another shape."""
    both = set(saved) & set(expected)
    return len(set(saved) ^ set(expected)) + sum(saved[k] != expected[k] for k in both)


def _search(cfg: Any, saved: Shapes, expected: Shapes,
            rebuild: Callable[[Any], Shapes]) -> dict[str, int] | None:
    """Greedy: apply the one-setting change that shrinks the mismatch most, up to three times;
    the changes if the weights then fit exactly, else None."""
    changes: dict[str, int] = {}
    score = _score(saved, expected)
    for _ in range(_MAX_CHANGES):
        best = None
        for name, value in _candidates(_int_settings(cfg), saved, expected):
            trial = _replace(cfg, name, value)
            try:
                shapes = rebuild(trial)
            except Exception:  # a combination the model refuses is simply not the answer
                continue
            s = _score(saved, shapes)
            if s < score and (best is None or s < best[0]):
                best = (s, name, value, trial, shapes)
        if best is None:
            return None
        score, name, value, cfg, expected = best
        changes[name] = value
        if score == 0:
            return changes
    return None


def _candidates(settings: dict[str, int], saved: Shapes, expected: Shapes) -> list[tuple[str, int]]:
    """(setting, value) pairs that scale a setting by a ratio seen between a saved and an expected size."""
    ratios: set[Fraction] = set()
    for key in set(saved) & set(expected):
        if len(saved[key]) == len(expected[key]):
            ratios |= {Fraction(k, c) for k, c in zip(saved[key], expected[key]) if k != c and c > 0}
    have, want = _containers(saved), _containers(expected)
    ratios |= {Fraction(len(have[p]), len(want[p])) for p in set(have) & set(want) if have[p] != want[p]}
    out = []
    for name, v in settings.items():
        values = {int(v * r) for r in ratios if (v * r).denominator == 1} - {v}
        out += [(name, value) for value in sorted(values) if value > 0]
    return out


def _replace(cfg: Any, dotted: str, value: int) -> Any:
    """`cfg` with the (nested, dotted) field set to `value`."""
    head, _, rest = dotted.partition(".")
    return dataclasses.replace(cfg, **{head: _replace(getattr(cfg, head), rest, value) if rest else value})


def _shape_line(key: str, saved: tuple, expected: tuple, settings: dict[str, int],
                explains: dict[str, Shapes]) -> str:
    """'key: checkpoint (..) vs config (..) — does X match the weights?' naming the settings that fix
    this key alone (from the search), else those equal to a size in which the config side differs."""
    names = [n for n, shapes in explains.items() if shapes.get(key) == saved]
    if not explains:
        differing = {e for s, e in zip(saved, expected) if s != e} if len(saved) == len(expected) else set()
        names = [n for n, v in settings.items() if v in differing][:3]
    hint = f" — does {' / '.join(names)} match the weights?" if names else " — does the config match?"
    return f"{key}: checkpoint {saved} vs config {expected}{hint}"


def _length_lines(saved: Shapes, expected: Shapes, settings: dict[str, int],
                  explains: dict[str, Shapes]) -> list[str]:
    """'prefix: N entries in the weights, M from the config' for numbered containers of another length."""
    have, want = _containers(saved), _containers(expected)
    lines = []
    for prefix in sorted(set(have) & set(want), key=_natural):
        n, m = len(have[prefix]), len(want[prefix])
        if have[prefix] != want[prefix]:
            names = [k for k, shapes in explains.items() if _containers(shapes).get(prefix) == have[prefix]]
            if not explains:
                names = [name for name, v in settings.items() if v == m][:3]
            hint = f" — does {' / '.join(names)} match the weights?" if names else ""
            lines.append(f"{prefix}: {n} entries in the weights, {m} from the config{hint}")
    return lines


def _containers(keys: Any) -> dict[str, set[int]]:
    """{'layers': {0, 1, ...}} for every 'prefix.<int>.' in `keys` (the outermost index only)."""
    out: dict[str, set[int]] = {}
    for key in keys:
        m = re.match(r"^(.*?)\.(\d+)\.", key)
        if m:
            out.setdefault(m.group(1), set()).add(int(m.group(2)))
    return out


def _int_settings(cfg: Any, prefix: str = "") -> dict[str, int]:
    """Dotted name -> value of every int (not bool) field of the (nested) dataclass `cfg`."""
    out: dict[str, int] = {}
    if not dataclasses.is_dataclass(cfg):
        return out
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out.update(_int_settings(value, f"{prefix}{f.name}."))
        elif isinstance(value, int) and not isinstance(value, bool):
            out[f"{prefix}{f.name}"] = value
    return out


def _summary(keys: list[str]) -> str:
    """Keys grouped by numbered sub-module ('layers.4.* (31 keys)'), the first few groups shown."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        m = re.match(r"^(.*?\.\d+)\.", key)
        groups.setdefault(m.group(1) if m else key, []).append(key)
    shown = [ks[0] if len(ks) == 1 else f"{g}.* ({len(ks)} keys)" for g, ks in groups.items()]
    more = f", ... and {len(shown) - _MAX_GROUPS} more" if len(shown) > _MAX_GROUPS else ""
    return ", ".join(shown[:_MAX_GROUPS]) + more


def _natural(key: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key)]
