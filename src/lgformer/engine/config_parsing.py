"""Typed dataclasses from nested dicts parsed from YAML: merging, ``key=value``
overrides, and checking every leaf against its type hint (generic: nothing here knows
the training config's sections)."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import yaml

from lgformer.errors import LGFormerError


def parse_override(item: str) -> dict[str, Any]:
    """``"optim.lr=1e-4"`` -> ``{"optim": {"lr": 0.0001}}`` (value parsed as YAML)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise LGFormerError(f"--set expects key=value, got {item!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise LGFormerError(
            f"--set {item}: the value is not valid YAML ({yaml_problem(err)}); "
            "quote strings that start with [, {, @ or `"
        ) from err
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def yaml_problem(err: yaml.YAMLError) -> str:
    """What PyYAML found wrong, and where (1-based line and column), on one line."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A new dict: ``update`` merged into ``base``, recursing into nested dicts."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def build_dataclass(
    cls: type, data: Any, where: str = "", moved: dict[str, str] | None = None
) -> Any:
    """An instance of dataclass ``cls`` from a nested dict, converting and checking each
    leaf against its type hint; nested dataclasses recurse. ``where`` is the dotted prefix
    for messages; ``moved`` maps a dotted key that no longer exists to its new name, which
    the unknown-key error then names.

    Raises:
        LGFormerError: an unknown key, a section that is not a mapping, a bad type.
    """
    moved = moved or {}
    if not isinstance(data, dict):
        raise LGFormerError(f"config section {where or '<root>'!r} must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        keys = []
        for k in unknown:
            new = moved.get(where + k)
            keys.append(where + k + (f" (now {new})" if new else ""))
        raise LGFormerError(
            f"unknown config key(s) {', '.join(keys)}; "
            f"known in this section: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            kwargs[name] = build_dataclass(kind, value, f"{where}{name}.", moved)
        else:
            kwargs[name] = coerce_leaf(value, kind, where + name)
    return cls(**kwargs)


def coerce_leaf(value: Any, kind: Any, key: str) -> Any:
    """Check/convert one leaf. YAML reads ``5e-5`` as a string, so floats accept numeric text."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce_leaf(value, option, key)
            except LGFormerError as err:
                errors.append(str(err))
        raise LGFormerError(errors[0])
    if origin is tuple and typing.get_args(kind)[-1] is Ellipsis:  # tuple[T, ...]
        if not isinstance(value, (list, tuple)):
            raise LGFormerError(f"{key}: expected a list, got {value!r}")
        return tuple(coerce_leaf(v, typing.get_args(kind)[0], key) for v in value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(typing.get_args(kind)):
            raise LGFormerError(f"{key}: expected a list of {len(typing.get_args(kind))} values")
        return tuple(coerce_leaf(v, t, key) for v, t in zip(value, typing.get_args(kind)))
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise LGFormerError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise LGFormerError(f"{key}: expected true/false, got {value!r}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise LGFormerError(f"{key}: expected an integer, got {value!r}")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise LGFormerError(f"{key}: expected a number, got {value!r}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise LGFormerError(f"{key}: expected a string, got {value!r}")
    return value
