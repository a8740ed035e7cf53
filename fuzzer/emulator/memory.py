"""Emulated nRF5 memories: flash that survives a power cycle, RAM retained over a soft reset.

The nRF5 POWER peripheral's GPREGRET register and a ``.noinit`` RAM section keep their contents
over a soft reset (NVIC_SystemReset) but not over a power cycle; the legacy SDK passes the
"enter DFU" flag and the shared bond through them.
"""

from __future__ import annotations

import binascii


def crc16_ccitt(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE as Nordic's ``crc16_compute`` (components/libraries/crc16).

    Nordic's byte-wise loop is CRC-16/CCITT (polynomial 0x1021, not reflected, no final XOR),
    which ``binascii.crc_hqx`` computes in C; it runs on every bond load and save."""
    return binascii.crc_hqx(data, crc & 0xFFFF)


class Flash:
    """Named flash regions (pages); contents persist across resets and power cycles."""

    ERASED = b""

    def __init__(self) -> None:
        self._regions: dict[str, bytes] = {}
        self.writes = 0

    def read(self, region: str) -> bytes:
        """The region's contents, or empty bytes when erased."""
        return self._regions.get(region, self.ERASED)

    def write(self, region: str, data: bytes) -> None:
        """Erase the region and program ``data``."""
        self._regions[region] = bytes(data)
        self.writes += 1

    def erase(self, region: str) -> None:
        self._regions.pop(region, None)
        self.writes += 1

    def regions(self) -> list[str]:
        return sorted(self._regions)


class RetainedRAM:
    """GPREGRET and the ``.noinit`` section: kept over a soft reset, cleared on power-on."""

    def __init__(self) -> None:
        self.gpregret = 0
        self.noinit = b""

    def power_on_reset(self) -> None:
        self.gpregret = 0
        self.noinit = b""
