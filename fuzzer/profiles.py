"""Finding device profiles: the built-in ones in specs/devices/ by name, or a user's YAML file."""

from __future__ import annotations

from pathlib import Path

from fuzzer.emulator.profile import DeviceProfile
from fuzzer.paths import specs_dir
from fuzzer.schema import SpecError, load_yaml


def builtin_profiles() -> dict[str, Path]:
    """Built-in profile name -> file."""
    out: dict[str, Path] = {}
    for path in sorted((specs_dir() / "devices").glob("*.yaml")):
        data = load_yaml(path)
        name = data.get("name") if isinstance(data, dict) else None
        out[str(name or path.stem)] = path
    return out


class UnknownDevice(SpecError):
    """A --device that is neither a built-in profile name nor a YAML file."""


def resolve_profile(device: str) -> DeviceProfile:
    """A built-in profile by name, or a YAML file by path."""
    builtins = builtin_profiles()
    if device in builtins:
        return DeviceProfile.load(builtins[device])
    path = Path(device)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise SpecError(path, "", "no such profile file")
        return DeviceProfile.load(path)
    raise UnknownDevice("--device", device,
                        "unknown device profile; built-in profiles: " + ", ".join(builtins))
