"""Helpers shared by the emulator, SMP, LL and oracle tests (no tests here).

A :class:`Session` drives an :class:`EmulatorTarget` through the engine's :class:`Runner`, so
tests use the same primitive steps and honest-central procedures as ``blefuzz check``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fuzzer.emulator.profile import DeviceProfile
from fuzzer.engine.central import Peer, load_models
from fuzzer.engine.procedures import PROCEDURES
from fuzzer.engine.program import PeerSpec
from fuzzer.engine.runner import Runner
from fuzzer.paths import specs_dir
from fuzzer.profiles import builtin_profiles, resolve_profile
from fuzzer.protocol import att, ll, smp
from fuzzer.targets.emulator import EmulatorTarget
from fuzzer.trace import events as ev
from fuzzer.trace.events import Event, Trace

BOND_SHARING = "nrf51-s110-bond-sharing"
CUSTOM_BOOTLOADER = "nrf51-s110-custom-bootloader"
NEW_IDENTITY = "nrf51-s110-new-identity"
BUILTINS = (BOND_SHARING, CUSTOM_BOOTLOADER, NEW_IDENTITY)

DEVICE_ADDRESS = "C2:5A:3B:11:22:33"
IPHONE = "4C:57:CA:10:20:30"
SECOND_PHONE = "5A:11:22:33:44:55"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

_MODELS = load_models(specs_dir() / "centrals")


def builtin(name: str) -> DeviceProfile:
    return resolve_profile(name)


def write_profile(tmp_path: Path, name: str, base: str = BOND_SHARING, **overrides: Any) -> Path:
    """A profile YAML in ``tmp_path``: the built-in ``base`` with top-level keys replaced
    (mappings are merged one level deep)."""
    data = yaml.safe_load(builtin_profiles()[base].read_text(encoding="utf-8"))
    data["name"] = name
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


class Session:
    """One emulated device, a trace, and the tester's peers (iOS-like centrals)."""

    def __init__(self, profile: DeviceProfile | str, seed: int = 0,
                 peers: dict[str, str] | None = None) -> None:
        if isinstance(profile, str):
            profile = resolve_profile(profile)
        self.target = EmulatorTarget(profile, seed=seed)
        self.device = self.target.device
        self.trace = Trace()
        self.runner = Runner(self.target, _MODELS, seed, self.trace)
        for name, address in (peers or {"iphone": IPHONE}).items():
            self.runner.peers[name] = Peer(PeerSpec(name, address, "public", "ios"),
                                           _MODELS["ios"])

    # steps -----------------------------------------------------------------------------------

    def step(self, op: str, **args: Any) -> list[Event]:
        """One primitive step; the events it produced."""
        return self.runner.primitive(op, **args)

    def proc(self, name: str, **args: Any) -> list[Event]:
        """One honest-central procedure; the events it produced."""
        start = len(self.trace.events)
        PROCEDURES[name](self.runner, **args)
        return self.trace.events[start:]

    def connect(self, peer: str = "iphone", to: str = "any") -> list[Event]:
        return self.proc("connect", peer=peer, to=to)

    def ll(self, name: str, **fields: Any) -> list[Event]:
        return self.step("ll", pdu=ll.LL_CONTROL.encode(name, **fields).hex())

    def smp(self, name: str, **fields: Any) -> list[Event]:
        return self.step("smp", pdu=smp.SMP.encode(name, **fields).hex())

    def att(self, name: str, **fields: Any) -> list[Event]:
        return self.step("att", pdu=att.ATT.encode(name, **fields).hex())

    def enter_bootloader(self) -> None:
        """White-box: what the application's buttonless entry leaves behind, then a reset."""
        self.device.ram.gpregret = 0xB1
        self.device.soft_reset()

    # white box ---------------------------------------------------------------------------------

    @property
    def firmware(self):
        return self.device.firmware

    def adv(self) -> Event:
        """Scan once and return the advertisement (fails the test if none)."""
        advs = [e for e in self.step("scan") if e.kind == ev.ADV]
        assert advs, "the device is not advertising"
        return advs[-1]

    def events(self, kind: str) -> list[Event]:
        return [e for e in self.trace.events if e.kind == kind]


def device_pdus(events: list[Event], layer: str) -> list[Event]:
    return [e for e in events if e.kind == ev.PDU and e.src == ev.DEVICE and e.layer == layer]


def decoded(events: list[Event], layer: str) -> list:
    codec = {"ll": ll.LL_CONTROL, "smp": smp.SMP, "att": att.ATT}[layer]
    return [codec.decode(e.data) for e in device_pdus(events, layer)]


def names(events: list[Event], layer: str) -> list[str]:
    return [d.name for d in decoded(events, layer)]
