"""Device profiles (specs/devices/*.yaml): which chip, stack, bootloader, bond policy, security
settings, replacement components and flaws the emulated device has. Validated on load."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzzer.emulator.components import DEFAULTS, ComponentError, known_flaws, load_class
from fuzzer.emulator.smp import IO_CAPABILITIES
from fuzzer.protocol import ll
from fuzzer.schema import Field, SpecError, bd_addr_check, hex_check, load_yaml, validate

BT_VERSIONS = ll.VERSIONS

SCHEMA: dict[str, Field] = {
    "name": Field(str, required=True),
    "description": Field(str, default=""),
    "chip": Field(str, default="nrf52832",
                  choices=("nrf51822", "nrf51422", "nrf52832", "nrf52833", "nrf52840")),
    "stack": Field(str, default="s132", choices=("s110", "s130", "s132", "s140")),
    "bluetooth_version": Field(str, default="4.1", choices=tuple(BT_VERSIONS)),
    "address": Field(str, required=True, check=bd_addr_check),
    "address_type": Field(str, default="random", choices=("public", "random")),
    "irk": Field(str, default="00112233445566778899aabbccddeeff", check=hex_check(16)),
    "application": Field(dict, default=dict, schema={
        "name": Field(str, default="Nordic_HRM"),
        "buttonless_dfu": Field(bool, default=True),
    }),
    "bootloader": Field(dict, default=dict, schema={
        "kind": Field(str, default="legacy", choices=("legacy",)),
        "name": Field(str, default="DfuTarg"),
        "bond_policy": Field(str, default="none", choices=("none", "shared", "new-identity")),
        "pairing": Field(bool, default=False),
        "dfu_timeout_s": Field(int, default=120, min=1, max=3600),
    }),
    "security": Field(dict, default=dict, schema={
        "io_capability": Field(str, default="NoInputNoOutput", choices=tuple(IO_CAPABILITIES)),
        "bonding": Field(bool, default=True),
        "mitm": Field(bool, default=False),
        "min_key_size": Field(int, default=7, min=7, max=16),
        "max_key_size": Field(int, default=16, min=7, max=16),
        "passkey": Field(int, min=0, max=999_999),
        "secure_connections": Field(bool, default=False),
        "sc_only": Field(bool, default=False),
        "keypress": Field(bool, default=False),
        "numeric_comparison": Field(str, default="accept", choices=("accept", "reject")),
        "responder_keys": Field(list, default=lambda: ["enc", "id"],
                                items=Field(str, choices=("enc", "id", "sign"))),
        "initiator_keys": Field(list, default=lambda: ["enc", "id", "sign"],
                                items=Field(str, choices=("enc", "id", "sign"))),
        "security_request": Field(bool, default=False),
        "debug_mode": Field(bool, default=False),
        "allow_downgrade": Field(bool, default=False),
        "repeated_attempts_wait_s": Field((int, float), default=2.0, min=0, max=3600),
        "repeated_attempts_max_wait_s": Field((int, float), default=120.0, min=0, max=86400),
        "oob": Field(dict, default=dict, schema={
            "legacy_tk": Field(str, check=hex_check(16)),
            "peer_r": Field(str, check=hex_check(16)),
            "peer_confirm": Field(str, check=hex_check(16)),
        }),
    }),
    "components": Field(dict, default=dict, values=Field(str)),
    "flaws": Field(list, default=list, items=Field(str)),
}


class _Section:
    """Attribute access to a validated mapping."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.__dict__.update(data)


@dataclass
class DeviceProfile:
    """A validated device profile."""

    name: str
    description: str
    chip: str
    stack: str
    bluetooth_version: str
    address: str
    address_type: str
    irk: str
    application: _Section
    bootloader: _Section
    security: _Section
    components: dict[str, type]
    flaws: frozenset[str]
    source: str = "<built-in>"
    raw: dict = field(default_factory=dict)
    # values the emulator derives from the (validated, then unchanged) profile, computed once
    derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Any, source: str | Path = "<profile>") -> DeviceProfile:
        """Validate ``data`` (parsed YAML); errors name ``source`` and the key at fault."""
        v = validate(data, SCHEMA, source)
        sec = v["security"]
        if sec["min_key_size"] > sec["max_key_size"]:
            raise SpecError(source, "security.min_key_size",
                            f"must not exceed max_key_size ({sec['max_key_size']})")
        base_dir = Path(source).parent if Path(str(source)).exists() else None
        classes = dict(DEFAULTS)
        for name, ref in v["components"].items():
            if name not in DEFAULTS:
                raise SpecError(source, f"components.{name}",
                                f"unknown component; expected one of: {', '.join(DEFAULTS)}")
            try:
                replacement = load_class(ref, base_dir)
            except ComponentError as exc:
                raise SpecError(source, f"components.{name}", str(exc)) from exc
            if not issubclass(replacement, DEFAULTS[name]):
                raise SpecError(source, f"components.{name}",
                                f"{ref} must subclass {DEFAULTS[name].__module__}."
                                f"{DEFAULTS[name].__name__}")
            classes[name] = replacement
        known = known_flaws(classes)
        for i, flaw in enumerate(v["flaws"]):
            if flaw not in known:
                raise SpecError(source, f"flaws[{i}]",
                                f"unknown flaw {flaw!r}; known: {', '.join(sorted(known))}")
        return cls(
            name=v["name"], description=v["description"], chip=v["chip"], stack=v["stack"],
            bluetooth_version=v["bluetooth_version"], address=v["address"].upper(),
            address_type=v["address_type"], irk=v["irk"],
            application=_Section(v["application"]), bootloader=_Section(v["bootloader"]),
            security=_Section(sec), components=classes, flaws=frozenset(v["flaws"]),
            source=str(source), raw=data,
        )

    @classmethod
    def load(cls, path: str | Path) -> DeviceProfile:
        """Load and validate a profile YAML file."""
        return cls.from_dict(load_yaml(path), path)

    def flaw_descriptions(self) -> dict[str, str]:
        known = known_flaws(self.components)
        return {f: known[f] for f in sorted(self.flaws)}
