"""The Security Manager, responder (peripheral) side: LE legacy pairing with bonding.

Core Vol 3 Part H: Pairing Feature Exchange (2.3, 3.5.1–3.5.2), pairing method selection
(2.3.5.1, Table 2.8), legacy Just Works and Passkey Entry confirm and random values (c1, 2.3.5.5),
the STK (s1) and encryption with it, key distribution (2.4, 3.6), the 30 s SMP timeout (3.4), and
Pairing Failed reason codes (3.5.5).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from fuzzer.crypto.legacy import c1, s1
from fuzzer.crypto.session import mask_key
from fuzzer.emulator.bonds import Bond, BondStore
from fuzzer.emulator.clock import Timer, VirtualClock
from fuzzer.protocol import pairing_methods as pm
from fuzzer.protocol import smp

SMP_TIMEOUT_US = 30_000_000  # Vol 3 Part H 3.4

IO_DISPLAY_ONLY, IO_DISPLAY_YES_NO, IO_KEYBOARD_ONLY, IO_NO_INPUT_NO_OUTPUT, IO_KEYBOARD_DISPLAY = (
    range(5))
IO_CAPABILITIES = pm.IO_CAPABILITY_CODES
JUST_WORKS = pm.JUST_WORKS


@dataclass
class SecurityConfig:
    """The peripheral's pairing parameters (from the device profile)."""

    pairing: bool = True
    bonding: bool = True
    io_capability: int = IO_NO_INPUT_NO_OUTPUT
    mitm: bool = False
    min_key_size: int = 7
    max_key_size: int = 16
    passkey: int | None = None  # the passkey the device displays; random if None
    responder_keys: int = smp.KEY_DIST_ENC_KEY | smp.KEY_DIST_ID_KEY
    initiator_keys: int = smp.KEY_DIST_ENC_KEY | smp.KEY_DIST_ID_KEY


@dataclass
class LinkInfo:
    """The addresses of the link being paired: initiator (central) and responder (us)."""

    initiator_address: bytes
    initiator_address_type: int
    responder_address: bytes
    responder_address_type: int


class SecurityManager:
    """SMP on one link, responder role. Replaceable by name in a device profile."""

    FLAWS: dict[str, str] = {
        "reuse-bonded-ltk": "distributes the LTK of an existing bond to a newly paired peer "
                            "instead of a fresh one",
    }

    def __init__(
        self,
        config: SecurityConfig,
        clock: VirtualClock,
        rng: random.Random,
        bonds: BondStore,
        send: Callable[[bytes], None],
        identity_address: bytes,
        identity_address_type: int,
        irk: bytes,
        flaws: frozenset[str] = frozenset(),
    ) -> None:
        self.config = config
        self.clock = clock
        self.rng = rng
        self.bonds = bonds
        self.send = send
        self.identity_address = identity_address
        self.identity_address_type = identity_address_type
        self.irk = irk
        self.flaws = flaws
        self.link: LinkInfo | None = None
        self.on_bonded: Callable[[Bond], None] | None = None
        self._reset()
        self.timed_out = False
        self._timer: Timer | None = None

    def _reset(self) -> None:
        self.state = "idle"
        self.preq = b""
        self.pres = b""
        self.method = JUST_WORKS
        self.tk = bytes(16)
        self.srand = b""
        self.mconfirm = b""
        self.stk: bytes | None = None
        self.key_size = 16
        self.bonding = False
        self.expect_keys = 0
        self.received: dict[str, object] = {}
        self.distributed_ltk: Bond | None = None

    # --- link events ---------------------------------------------------------------------------

    def on_connected(self, link: LinkInfo) -> None:
        self.link = link
        self.timed_out = False
        self._reset()

    def on_disconnected(self) -> None:
        self._stop_timer()
        self.link = None
        self._reset()

    def _random(self, n: int) -> bytes:
        return bytes(self.rng.getrandbits(8) for _ in range(n))

    def _restart_timer(self) -> None:
        self._stop_timer()
        self._timer = self.clock.schedule(SMP_TIMEOUT_US, self._on_timeout)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self) -> None:
        # Vol 3 Part H 3.4: the procedure has failed and no further SMP commands are sent or
        # accepted on this link.
        self._timer = None
        self.timed_out = True
        self._reset()

    def _fail(self, reason: int) -> None:
        self.send(smp.SMP.encode("Pairing Failed", reason=reason))
        self._stop_timer()
        self._reset()

    # --- PDUs from the initiator ----------------------------------------------------------------

    def on_pdu(self, pdu: bytes) -> None:
        if self.timed_out or self.link is None or not pdu:
            return
        dec = smp.SMP.decode(pdu)
        if dec.name == "unknown":
            self._fail(smp.COMMAND_NOT_SUPPORTED)
            return
        if dec.error is not None:
            self._fail(smp.INVALID_PARAMETERS)
            return
        if dec.name == "Pairing Failed":
            self._stop_timer()
            self._reset()
            return
        handler = getattr(self, "_on_" + dec.name.lower().replace(" ", "_"), None)
        if handler is None:
            self._fail(smp.COMMAND_NOT_SUPPORTED)
            return
        handler(pdu, dec.fields)

    def _on_pairing_request(self, pdu: bytes, f: dict) -> None:
        if self.state != "idle":
            self._fail(smp.UNSPECIFIED_REASON)
            return
        cfg = self.config
        if not cfg.pairing:
            self._fail(smp.PAIRING_NOT_SUPPORTED)
            return
        if f["io_capability"] > IO_KEYBOARD_DISPLAY or f["oob_data_flag"] > 1:
            self._fail(smp.INVALID_PARAMETERS)
            return
        if not 7 <= f["max_encryption_key_size"] <= 16:
            self._fail(smp.INVALID_PARAMETERS)
            return
        key_size = min(f["max_encryption_key_size"], cfg.max_key_size)
        if key_size < cfg.min_key_size:
            self._fail(smp.ENCRYPTION_KEY_SIZE)
            return
        self._restart_timer()
        initiator_bonding = f["authreq"] & smp.AUTHREQ_BONDING
        bonding = bool(initiator_bonding) and cfg.bonding
        authreq = (smp.AUTHREQ_BONDING if cfg.bonding else 0) | (
            smp.AUTHREQ_MITM if cfg.mitm else 0)
        init_keys = f["initiator_key_distribution"] & cfg.initiator_keys if bonding else 0
        resp_keys = f["responder_key_distribution"] & cfg.responder_keys if bonding else 0
        self.method = pm.legacy_method(f["io_capability"], cfg.io_capability,
                                       bool(f["authreq"] & smp.AUTHREQ_MITM), cfg.mitm)
        if cfg.mitm and self.method == JUST_WORKS:
            self._fail(smp.AUTHENTICATION_REQUIREMENTS)
            return
        self.preq = pdu
        self.pres = smp.SMP.encode(
            "Pairing Response", io_capability=cfg.io_capability, oob_data_flag=0,
            authreq=authreq, max_encryption_key_size=cfg.max_key_size,
            initiator_key_distribution=init_keys, responder_key_distribution=resp_keys)
        self.key_size = key_size
        self.bonding = bonding
        self.expect_keys = init_keys
        self.resp_keys = resp_keys
        if self.method == JUST_WORKS:
            self.tk = bytes(16)
        else:
            passkey = cfg.passkey if cfg.passkey is not None else self.rng.randrange(1_000_000)
            self.tk = passkey.to_bytes(16, "little")
        self.srand = self._random(16)
        self.state = "wait_confirm"
        self.send(self.pres)

    def _confirm(self, rand: bytes) -> bytes:
        link = self.link
        assert link is not None
        return c1(self.tk, rand, self.preq, self.pres, link.initiator_address_type,
                  link.responder_address_type, link.initiator_address, link.responder_address)

    def _on_pairing_confirm(self, pdu: bytes, f: dict) -> None:
        if self.state != "wait_confirm":
            self._fail(smp.UNSPECIFIED_REASON)
            return
        self._restart_timer()
        self.mconfirm = f["confirm_value"]
        self.state = "wait_random"
        self.send(smp.SMP.encode("Pairing Confirm", confirm_value=self._confirm(self.srand)))

    def _on_pairing_random(self, pdu: bytes, f: dict) -> None:
        if self.state != "wait_random":
            self._fail(smp.UNSPECIFIED_REASON)
            return
        mrand = f["random_value"]
        if self._confirm(mrand) != self.mconfirm:
            self._fail(smp.CONFIRM_VALUE_FAILED)
            return
        self._restart_timer()
        self.stk = mask_key(s1(self.tk, self.srand, mrand), self.key_size)
        self.state = "wait_encryption"
        self.send(smp.SMP.encode("Pairing Random", random_value=self.srand))

    # --- encryption with the STK, then key distribution (Vol 3 Part H 2.4.4, 3.6.1) ------------

    def stk_for(self, rand: bytes, ediv: int) -> tuple[bytes, int] | None:
        """The STK for an LTK request during pairing (EDIV and Rand are zero, 2.4.4.1)."""
        if self.state == "wait_encryption" and ediv == 0 and not any(rand):
            assert self.stk is not None
            return self.stk, self.key_size
        return None

    @property
    def authenticated(self) -> bool:
        """Whether the keys of the pairing in progress are MITM-protected."""
        return self.method != JUST_WORKS

    def on_encryption_change(self, enabled: bool) -> None:
        if not enabled or self.state != "wait_encryption":
            return
        self._distribute()
        self.state = "wait_keys"
        self._maybe_complete()

    def _distribute(self) -> None:
        keys = self.resp_keys
        self.new_bond = Bond(peer_address=self.link.initiator_address,
                             peer_address_type=self.link.initiator_address_type,
                             ltk=bytes(16), key_size=self.key_size,
                             authenticated=self.method != JUST_WORKS)
        if keys & smp.KEY_DIST_ENC_KEY:
            ltk, ediv, rand = self._new_ltk()
            self.new_bond.ltk, self.new_bond.ediv, self.new_bond.rand = ltk, ediv, rand
            self.send(smp.SMP.encode("Encryption Information", long_term_key=ltk))
            self.send(smp.SMP.encode("Central Identification", ediv=ediv, rand=rand))
        if keys & smp.KEY_DIST_ID_KEY:
            self.send(smp.SMP.encode("Identity Information", identity_resolving_key=self.irk))
            self.send(smp.SMP.encode("Identity Address Information",
                                     addr_type=self.identity_address_type,
                                     bd_addr=self.identity_address))
        if keys & smp.KEY_DIST_SIGN_KEY:
            self.send(smp.SMP.encode("Signing Information", signature_key=self._random(16)))

    def _new_ltk(self) -> tuple[bytes, int, bytes]:
        """A fresh LTK, EDIV and Rand for this peer (Vol 3 Part H 2.4.2)."""
        if "reuse-bonded-ltk" in self.flaws and self.bonds.bonds:
            old = self.bonds.bonds[-1]
            return old.ltk, old.ediv, old.rand
        return (mask_key(self._random(16), self.key_size), self.rng.getrandbits(16),
                self._random(8))

    def _expect(self, bit: int, pdu_name: str) -> bool:
        if self.state != "wait_keys" or not self.expect_keys & bit:
            self._fail(smp.UNSPECIFIED_REASON)
            return False
        self._restart_timer()
        return True

    def _on_encryption_information(self, pdu: bytes, f: dict) -> None:
        if self._expect(smp.KEY_DIST_ENC_KEY, "Encryption Information"):
            self.new_bond.peer_ltk = f["long_term_key"]

    def _on_central_identification(self, pdu: bytes, f: dict) -> None:
        if self._expect(smp.KEY_DIST_ENC_KEY, "Central Identification"):
            self.expect_keys &= ~smp.KEY_DIST_ENC_KEY
            self._maybe_complete()

    def _on_identity_information(self, pdu: bytes, f: dict) -> None:
        if self._expect(smp.KEY_DIST_ID_KEY, "Identity Information"):
            self.new_bond.peer_irk = f["identity_resolving_key"]

    def _on_identity_address_information(self, pdu: bytes, f: dict) -> None:
        if self._expect(smp.KEY_DIST_ID_KEY, "Identity Address Information"):
            self.new_bond.peer_address = f["bd_addr"]
            self.new_bond.peer_address_type = f["addr_type"]
            self.expect_keys &= ~smp.KEY_DIST_ID_KEY
            self._maybe_complete()

    def _on_signing_information(self, pdu: bytes, f: dict) -> None:
        if self._expect(smp.KEY_DIST_SIGN_KEY, "Signing Information"):
            self.expect_keys &= ~smp.KEY_DIST_SIGN_KEY
            self._maybe_complete()

    def _maybe_complete(self) -> None:
        if self.state != "wait_keys" or self.expect_keys:
            return
        self._stop_timer()
        self.state = "idle"
        if self.bonding and self.resp_keys & smp.KEY_DIST_ENC_KEY:
            self.bonds.add(self.new_bond)
            if self.on_bonded is not None:
                self.on_bonded(self.new_bond)

    def _on_pairing_response(self, pdu: bytes, f: dict) -> None:
        self._fail(smp.COMMAND_NOT_SUPPORTED)  # we are the responder

    def _on_security_request(self, pdu: bytes, f: dict) -> None:
        self._fail(smp.COMMAND_NOT_SUPPORTED)  # only a peripheral sends it
