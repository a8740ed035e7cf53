"""Loading and validating the YAML in specs/ (and users' own files) with errors that name the
file, the key and what was expected.

A schema is plain data: a dict of key -> :class:`Field`. ``validate`` fills defaults, rejects
unknown keys (suggesting the nearest known one) and checks types, choices and ranges.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class SpecError(ValueError):
    """Bad input in a spec file: names the file, the key and what was expected."""

    def __init__(self, file: str | Path, key: str, message: str) -> None:
        self.file = str(file)
        self.key = key
        self.message = message
        where = f"{self.file}: {key}: " if key else f"{self.file}: "
        super().__init__(where + message)


_MISSING = object()


@dataclass(frozen=True)
class Field:
    """One key of a mapping: its type, whether it is required, its default and its constraints."""

    type: type | tuple[type, ...] | str
    required: bool = False
    default: Any = _MISSING
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    schema: Mapping[str, Field] | None = None  # for nested mappings
    items: Field | None = None  # for lists
    check: Callable[[Any], str | None] | None = None  # returns an error message or None
    doc: str = ""
    values: Field | None = None  # for free-form mappings: the type of every value


_TYPE_NAMES = {
    str: "a string", int: "an integer", float: "a number", bool: "true or false",
    list: "a list", dict: "a mapping",
}


def _type_name(t: Any) -> str:
    if isinstance(t, tuple):
        return " or ".join(_type_name(x) for x in t)
    return _TYPE_NAMES.get(t, str(t))


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file, turning I/O and syntax errors into :class:`SpecError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(path, "", f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(path, "", f"not UTF-8 text (byte {exc.start})") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(path, "", f"invalid YAML: {where}{problem}") from exc


def _check_type(value: Any, f: Field, file: str | Path, key: str) -> None:
    t = f.type
    if t == "any":
        return
    types = t if isinstance(t, tuple) else (t,)
    ok = isinstance(value, types)
    # bool is an int subclass: never accept true/false where a number is wanted
    if ok and isinstance(value, bool) and bool not in types:
        ok = False
    if ok is False and float in types and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise SpecError(file, key, f"expected {_type_name(t)}, got {value!r}")


def validate(data: Any, schema: Mapping[str, Field], file: str | Path, prefix: str = "") -> dict:
    """Check ``data`` against ``schema``; return a new dict with defaults filled in."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(file, prefix or "(top level)", f"expected a mapping, got {data!r}")
    out: dict[str, Any] = {}
    for key in data:
        if key not in schema:
            name = f"{prefix}{key}"
            near = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            known = ", ".join(schema)
            raise SpecError(file, name, f"unknown key{hint}; expected one of: {known}")
    for key, f in schema.items():
        name = f"{prefix}{key}"
        if key not in data:
            if f.required:
                raise SpecError(file, name, f"missing required key ({_type_name(f.type)})")
            if f.default is not _MISSING:
                value = f.default() if callable(f.default) else f.default
                if f.schema is not None:  # fill the nested defaults too
                    value = validate(value, f.schema, file, name + ".")
                out[key] = value
            continue
        out[key] = validate_value(data[key], f, file, name)
    return out


def validate_value(value: Any, f: Field, file: str | Path, name: str) -> Any:
    """Check one value against its :class:`Field`."""
    _check_type(value, f, file, name)
    if f.choices is not None and value not in f.choices:
        choices = ", ".join(str(c) for c in f.choices)
        raise SpecError(file, name, f"expected one of {choices}; got {value!r}")
    if f.min is not None and value < f.min:
        raise SpecError(file, name, f"must be at least {f.min}; got {value!r}")
    if f.max is not None and value > f.max:
        raise SpecError(file, name, f"must be at most {f.max}; got {value!r}")
    if f.schema is not None:
        value = validate(value, f.schema, file, name + ".")
    if f.items is not None:
        value = [validate_value(v, f.items, file, f"{name}[{i}]") for i, v in enumerate(value)]
    if f.values is not None:
        value = {k: validate_value(v, f.values, file, f"{name}.{k}") for k, v in value.items()}
    if f.check is not None:
        problem = f.check(value)
        if problem:
            raise SpecError(file, name, problem)
    return value


def bd_addr_check(value: str) -> str | None:
    """A Bluetooth device address in display form, most significant octet first."""
    parts = value.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        return f"expected an address like C2:5A:3B:11:22:33; got {value!r}"
    try:
        bytes.fromhex("".join(parts))
    except ValueError:
        return f"expected hexadecimal octets; got {value!r}"
    return None


def hex_check(size: int | None = None) -> Callable[[str], str | None]:
    """A hexadecimal string, optionally of ``size`` octets."""

    def check(value: str) -> str | None:
        try:
            raw = bytes.fromhex(value.replace(" ", ""))
        except ValueError:
            return f"expected hexadecimal octets; got {value!r}"
        if size is not None and len(raw) != size:
            return f"expected {size} octets; got {len(raw)}"
        return None

    return check
