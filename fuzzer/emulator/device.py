"""The emulated nRF5 device: memories, boot sequence and the radio as the tester reaches it.

On every reset the bootloader runs first (as the MBR starts it on a real nRF5); it either stays
in DFU mode or starts the application. A soft reset keeps retained RAM; a power cycle clears it.
Flash survives both.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

from fuzzer.emulator.clock import VirtualClock
from fuzzer.emulator.controller import LinkLayer, default_features
from fuzzer.emulator.firmware import Firmware
from fuzzer.emulator.memory import RetainedRAM
from fuzzer.emulator.profile import BT_VERSIONS, DeviceProfile
from fuzzer.emulator.smp import IO_CAPABILITIES, KEY_BITS, SecurityConfig
from fuzzer.protocol import address as bdaddr


@dataclass(frozen=True)
class _ProfileConstants:
    """What every device built from one profile derives from it alike (octets as on air)."""

    address: bytes
    address_type: int
    irk: bytes
    controller_options: dict[str, Any]
    security: tuple[Any, ...]  # SecurityConfig's arguments, in the order of its fields

    @classmethod
    def of(cls, profile: DeviceProfile) -> _ProfileConstants:
        """The constants of ``profile``, derived on first use and then kept with it."""
        constants = profile.derived.get("device")
        if constants is None:
            version = BT_VERSIONS[profile.bluetooth_version]
            constants = profile.derived["device"] = cls(
                address=bdaddr.to_bytes(profile.address),
                address_type=bdaddr.TYPE_CODES[profile.address_type],
                irk=bytes.fromhex(profile.irk)[::-1],
                controller_options={"version": version, "features": default_features(version)},
                security=_security_arguments(profile))
        return constants


def _security_arguments(profile: DeviceProfile) -> tuple[Any, ...]:
    """SecurityConfig's arguments from the profile's ``security`` section, positional (a call
    with 21 keyword arguments costs more, once per boot)."""
    s = profile.security
    oob = s.oob

    def octets(value: str | None) -> bytes | None:
        return bytes.fromhex(value)[::-1] if value else None

    config = SecurityConfig(
        pairing=True, bonding=s.bonding, io_capability=IO_CAPABILITIES[s.io_capability],
        mitm=s.mitm, min_key_size=s.min_key_size, max_key_size=s.max_key_size,
        passkey=getattr(s, "passkey", None),
        responder_keys=sum(KEY_BITS[k] for k in set(s.responder_keys)),
        initiator_keys=sum(KEY_BITS[k] for k in set(s.initiator_keys)),
        secure_connections=s.secure_connections, sc_only=s.sc_only, keypress=s.keypress,
        numeric_comparison_accept=s.numeric_comparison == "accept",
        security_request=s.security_request, debug_mode=s.debug_mode,
        allow_downgrade=s.allow_downgrade,
        repeated_attempts_wait_us=int(s.repeated_attempts_wait_s * 1_000_000),
        repeated_attempts_max_wait_us=int(s.repeated_attempts_max_wait_s * 1_000_000),
        legacy_oob_tk=octets(oob.get("legacy_tk")), peer_oob_r=octets(oob.get("peer_r")),
        peer_oob_confirm=octets(oob.get("peer_confirm")),
    )
    return tuple(getattr(config, f.name) for f in fields(SecurityConfig))


class _LazyRandom(random.Random):
    """``random.Random(text)``, seeded on first use: seeding costs more than a short program
    that never draws from the device's stream. Once seeded it is a plain ``random.Random``."""

    def __init__(self, text: str) -> None:  # unseeded until ``_start``
        self._text = text
        self.gauss_next = None  # as seeding leaves it (``gauss`` reads it before drawing)

    def _start(self) -> None:
        """Seed as ``random.Random(text)`` does and become a plain ``random.Random`` (once: a
        method bound before then may still call here)."""
        if type(self) is _LazyRandom:
            text = self.__dict__.pop("_text")
            self.__class__ = random.Random
            random.Random.__init__(self, text)

    def seed(self, *args: Any, **kwargs: Any) -> None:
        _LazyRandom._start(self)
        random.Random.seed(self, *args, **kwargs)

    def random(self) -> float:
        _LazyRandom._start(self)
        return random.Random.random(self)

    def getrandbits(self, k: int) -> int:
        _LazyRandom._start(self)
        return random.Random.getrandbits(self, k)

    def getstate(self) -> tuple:
        _LazyRandom._start(self)
        return random.Random.getstate(self)

    def setstate(self, state: tuple) -> None:
        _LazyRandom._start(self)
        random.Random.setstate(self, state)

    def __reduce__(self) -> tuple:  # a copy or pickle is of the seeded generator
        _LazyRandom._start(self)
        return random.Random.__reduce__(self)


class Device:
    """One emulated device built from a profile; deterministic for a given seed."""

    def __init__(self, profile: DeviceProfile, seed: int = 0) -> None:
        self.profile = profile
        self.flaws = profile.flaws
        # the component classes the profile names (or the defaults), by name
        self.components = profile.components
        self.clock = VirtualClock()
        self.rng: random.Random = _LazyRandom(f"blefuzz-device-{seed}")
        self._constants = constants = _ProfileConstants.of(profile)
        self.address = constants.address
        self.address_type = constants.address_type
        self.irk = constants.irk
        self.flash = self.components["flash"]()
        self.flash.write("app_valid", b"\x01")  # factory-programmed application (bank 0 valid)
        self.ram = RetainedRAM()
        self.firmware: Firmware | None = None
        self.link_layer: LinkLayer | None = None  # the running firmware's (the radio's view)
        self.boots = 0
        self._boot()  # power_cycle(), but the RAM just made needs no power-on reset

    # Components -----------------------------------------------------------------------------

    def controller_options(self) -> dict[str, Any]:
        """Keyword arguments for the controller: Core version and LE features."""
        return dict(self._constants.controller_options)

    def security_config(self) -> SecurityConfig:
        """A fresh SecurityConfig from the profile (the caller may change it)."""
        return SecurityConfig(*self._constants.security)

    def app_valid(self) -> bool:
        return self.flash.read("app_valid") == b"\x01"

    # Resets ----------------------------------------------------------------------------------

    def power_cycle(self) -> None:
        """Power off and on: retained RAM is lost, flash is kept."""
        self.ram.power_on_reset()
        self._boot()

    def soft_reset(self) -> None:
        """NVIC_SystemReset: retained RAM (GPREGRET, .noinit) survives."""
        self._boot()

    def _boot(self) -> None:
        self.boots += 1
        old = self.firmware
        if old is not None and old.ll is not None:
            old.ll.connection = None
            old.ll.advertising = False
        self.link_layer = None
        bootloader = self.components["bootloader"](self)
        self.firmware = bootloader
        if bootloader.should_enter_dfu():
            bootloader.start()
        else:
            app = self.components["application"](self)
            self.firmware = app
            app.start()

    def firmware_started(self, firmware: Firmware) -> None:
        """A firmware image brought up its Link Layer: the radio reaches it if it runs."""
        if firmware is self.firmware:
            self.link_layer = firmware.ll

    # The radio, as the tester's radio reaches it ----------------------------------------------

    @property
    def mode(self) -> str:
        """'application' or 'bootloader' (white-box)."""
        return self.firmware.kind if self.firmware is not None else "off"
