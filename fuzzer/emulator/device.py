"""The emulated nRF5 device: memories, boot sequence and the radio as the tester reaches it.

On every reset the bootloader runs first (as the MBR starts it on a real nRF5); it either stays
in DFU mode or starts the application. A soft reset keeps retained RAM; a power cycle clears it.
Flash survives both.
"""

from __future__ import annotations

import random
from typing import Any

from fuzzer.emulator.clock import VirtualClock
from fuzzer.emulator.controller import LinkLayer, default_features
from fuzzer.emulator.firmware import Firmware
from fuzzer.emulator.memory import RetainedRAM
from fuzzer.emulator.profile import BT_VERSIONS, DeviceProfile
from fuzzer.emulator.smp import IO_CAPABILITIES, KEY_BITS, SecurityConfig
from fuzzer.protocol import address as bdaddr


class Device:
    """One emulated device built from a profile; deterministic for a given seed."""

    def __init__(self, profile: DeviceProfile, seed: int = 0) -> None:
        self.profile = profile
        self.flaws = profile.flaws
        self.clock = VirtualClock()
        self.rng = random.Random(f"blefuzz-device-{seed}")
        self.address = bdaddr.to_bytes(profile.address)
        self.address_type = bdaddr.TYPE_CODES[profile.address_type]
        self.irk = bytes.fromhex(profile.irk)[::-1]
        self.flash = self.make("flash")
        self.flash.write("app_valid", b"\x01")  # factory-programmed application (bank 0 valid)
        self.ram = RetainedRAM()
        self.firmware: Firmware | None = None
        self.boots = 0
        self.power_cycle()

    # Components -----------------------------------------------------------------------------

    def make(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """An instance of the component class the profile names (or the default)."""
        return self.profile.components[name](*args, **kwargs)

    def controller_options(self) -> dict[str, Any]:
        version = BT_VERSIONS[self.profile.bluetooth_version]
        return {"version": version, "features": default_features(version)}

    def security_config(self) -> SecurityConfig:
        s = self.profile.security
        oob = s.oob

        def octets(value: str | None) -> bytes | None:
            return bytes.fromhex(value)[::-1] if value else None

        return SecurityConfig(
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
        bootloader = self.make("bootloader", self)
        self.firmware = bootloader
        if bootloader.should_enter_dfu():
            bootloader.start()
        else:
            app = self.make("application", self)
            self.firmware = app
            app.start()

    # The radio, as the tester's radio reaches it ----------------------------------------------

    @property
    def link_layer(self) -> LinkLayer | None:
        return self.firmware.ll if self.firmware is not None else None

    @property
    def mode(self) -> str:
        """'application' or 'bootloader' (white-box)."""
        return self.firmware.kind if self.firmware is not None else "off"
