"""Emulator components by name, and loading a replacement class named in a profile.

A profile's ``components`` maps a name below to ``package.module:Class`` or
``path/to/file.py:Class`` (relative paths are taken from the profile's folder), so a reviewer can
model their own firmware's quirk without editing the package.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from fuzzer.emulator.application import NordicApplication
from fuzzer.emulator.bonds import BondStore
from fuzzer.emulator.bootloader import LegacyBootloader
from fuzzer.emulator.controller import LinkLayer
from fuzzer.emulator.gatt import AttServer
from fuzzer.emulator.memory import Flash
from fuzzer.emulator.smp import SecurityManager

DEFAULTS: dict[str, type] = {
    "controller": LinkLayer,
    "smp": SecurityManager,
    "gatt": AttServer,
    "application": NordicApplication,
    "bootloader": LegacyBootloader,
    "flash": Flash,
    "bonds": BondStore,
}


class ComponentError(ValueError):
    """A component reference that cannot be loaded."""


def load_class(ref: str, base_dir: Path | None = None) -> type:
    """Import ``module:Class`` or ``file.py:Class``."""
    if ":" not in ref:
        raise ComponentError(f"expected 'module:Class' or 'file.py:Class'; got {ref!r}")
    where, _, name = ref.rpartition(":")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise ComponentError(f"no such file {path}")
        mod_name = f"blefuzz_user_{abs(hash(str(path.resolve())))}"
        module = sys.modules.get(mod_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(mod_name, path)
            if spec is None or spec.loader is None:
                raise ComponentError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:  # a user's file: report what went wrong in it
                del sys.modules[mod_name]
                raise ComponentError(f"{path}: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise ComponentError(f"cannot import module {where!r}: {exc}") from exc
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        raise ComponentError(f"{where} has no class {name!r}")
    return cls


def known_flaws(classes: dict[str, type]) -> dict[str, str]:
    """Every flaw name the given component classes implement, with its description."""
    flaws: dict[str, str] = {}
    for cls in classes.values():
        for klass in cls.__mro__:
            flaws.update(getattr(klass, "FLAWS", {}) or {})
    return flaws
