"""The Security Manager, responder (peripheral) side: LE legacy pairing and LE Secure Connections.

Core Vol 3 Part H:
- Pairing Feature Exchange (2.3, 3.5.1–3.5.2) and method selection (2.3.5.1, Tables 2.6–2.8);
- legacy Just Works, Passkey Entry and OOB: confirm and random values with c1, the STK with s1
  (2.3.5.2–2.3.5.5);
- LE Secure Connections (2.3.5.6): public key exchange with validation, Just Works / Numeric
  Comparison (f4, g2), Passkey Entry (20 rounds of f4), OOB (f4 over the peer's OOB data),
  DHKey checks (f5, f6);
- encryption with the STK or LTK, key distribution (2.4, 3.6), repeated attempts (2.3.6), the 30 s
  SMP timeout (3.4), and Pairing Failed reasons (3.5.5).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from fuzzer.crypto import p256
from fuzzer.crypto.legacy import c1, s1
from fuzzer.crypto.rand import random_octets
from fuzzer.crypto.sc import f4, f5, f6, g2, sc_address
from fuzzer.crypto.session import mask_key
from fuzzer.emulator.bonds import Bond, BondStore
from fuzzer.emulator.clock import Timer, VirtualClock
from fuzzer.protocol import pairing_methods as pm
from fuzzer.protocol import smp

SMP_TIMEOUT_US = 30_000_000  # Vol 3 Part H 3.4
PASSKEY_ROUNDS = 20  # Vol 3 Part H 2.3.5.6.3

IO_NO_INPUT_NO_OUTPUT, IO_KEYBOARD_DISPLAY = pm.NO_INPUT_NO_OUTPUT, pm.KEYBOARD_DISPLAY
IO_CAPABILITIES = pm.IO_CAPABILITY_CODES
JUST_WORKS = pm.JUST_WORKS
KEY_BITS = {"enc": smp.KEY_DIST_ENC_KEY, "id": smp.KEY_DIST_ID_KEY, "sign": smp.KEY_DIST_SIGN_KEY}
# Failures that count as failed authentication for repeated attempts (2.3.6)
AUTH_FAILURES = {smp.PASSKEY_ENTRY_FAILED, smp.CONFIRM_VALUE_FAILED, smp.DHKEY_CHECK_FAILED,
                 smp.NUMERIC_COMPARISON_FAILED}
_PASSKEY_METHODS = (pm.PASSKEY_INITIATOR_INPUTS, pm.PASSKEY_RESPONDER_INPUTS,
                    pm.PASSKEY_BOTH_INPUT)
# Pairing Failed (3.5.5) for every one-octet reason, encoded once
_PAIRING_FAILED = tuple(smp.SMP.encode("Pairing Failed", reason=reason) for reason in range(256))
_KEY_DIST_PDUS = {
    "Encryption Information": smp.KEY_DIST_ENC_KEY, "Central Identification": smp.KEY_DIST_ENC_KEY,
    "Identity Information": smp.KEY_DIST_ID_KEY,
    "Identity Address Information": smp.KEY_DIST_ID_KEY,
    "Signing Information": smp.KEY_DIST_SIGN_KEY,
}



def _pdu_handlers(cls: type) -> dict[str, Callable | None]:
    """Each SMP command name (and "unknown") mapped to the class's ``_on_<name>`` method, or
    None when it has none."""
    table: dict[str, Callable | None] = {
        name: getattr(cls, "_on_" + name.lower().replace(" ", "_"), None)
        for name in smp.SMP.names}
    table["unknown"] = None
    return table


@dataclass
class SecurityConfig:
    """The peripheral's pairing parameters (from the device profile)."""

    pairing: bool = True
    bonding: bool = True
    io_capability: int = IO_NO_INPUT_NO_OUTPUT
    mitm: bool = False
    min_key_size: int = 7
    max_key_size: int = 16
    passkey: int | None = None  # the passkey the device displays or is typed in; random if None
    responder_keys: int = smp.KEY_DIST_ENC_KEY | smp.KEY_DIST_ID_KEY
    initiator_keys: int = smp.KEY_DIST_ENC_KEY | smp.KEY_DIST_ID_KEY | smp.KEY_DIST_SIGN_KEY
    secure_connections: bool = False
    sc_only: bool = False
    keypress: bool = False
    numeric_comparison_accept: bool = True
    security_request: bool = False
    debug_mode: bool = False
    allow_downgrade: bool = False
    repeated_attempts_wait_us: int = 2_000_000
    repeated_attempts_max_wait_us: int = 120_000_000
    legacy_oob_tk: bytes | None = None  # TK shared out of band (legacy OOB), as on air
    peer_oob_r: bytes | None = None  # the initiator's SC OOB random received out of band
    peer_oob_confirm: bytes | None = None  # and its confirm value


@dataclass
class LinkInfo:
    """The addresses of the link being paired: initiator (central) and responder (us)."""

    initiator_address: bytes
    initiator_address_type: int
    responder_address: bytes
    responder_address_type: int


@dataclass
class _Attempts:
    """Repeated-attempts bookkeeping for one peer address (2.3.6)."""

    failures: int = 0
    blocked_until: int = 0


class _Pairing:
    """The state of the pairing in progress on this link.

    Every field starts at its class-level default (all immutable) until the pairing sets it, so
    a new pairing costs no initialisation.
    """

    state: str = "idle"
    preq: bytes = b""
    pres: bytes = b""
    method: str = JUST_WORKS
    sc: bool = False
    key_size: int = 16
    bonding: bool = False
    resp_keys: int = 0
    expect_keys: int = 0
    # legacy
    tk: bytes = bytes(16)
    srand: bytes = b""
    mconfirm: bytes = b""
    stk: bytes | None = None
    # Secure Connections
    keypair: p256.KeyPair | None = None
    pka: tuple[bytes, bytes] = (b"", b"")
    dhkey: bytes = b""
    na: bytes = b""
    nb: bytes = b""
    ca: bytes = b""
    round: int = 0
    passkey: int = 0
    ra: bytes = bytes(16)
    rb: bytes = bytes(16)
    mac_key: bytes = b""
    ltk: bytes = b""
    debug_key: bool = False
    new_bond: Bond | None = None


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
        self.existing_bond: Callable[[], Bond | None] = lambda: None
        self.attempts: dict[tuple[bytes, int], _Attempts] = {}
        self.p = _Pairing()
        self.last = _Pairing()  # the pairing that ended last
        self.timed_out = False
        self._timer: Timer | None = None

    # --- the pairing's public state -----------------------------------------------------------

    @property
    def state(self) -> str:
        return self.p.state

    @property
    def method(self) -> str:
        """The method of the pairing in progress, or of the last one (white-box)."""
        return (self.p if self.p.state != "idle" else self.last).method

    @property
    def stk(self) -> bytes | None:
        """The STK (legacy) or LTK (SC) of the pairing in progress or the last one (white-box)."""
        return (self.p if self.p.state != "idle" else self.last).stk

    @property
    def authenticated(self) -> bool:
        """Whether the keys of the pairing in progress are MITM-protected."""
        return pm.is_authenticated(self.p.method)

    # --- link events ---------------------------------------------------------------------------

    def on_connected(self, link: LinkInfo) -> None:
        self.link = link
        self.timed_out = False
        self.p = _Pairing()
        cfg = self.config
        if cfg.security_request and cfg.pairing:
            # A peripheral may ask the central to secure the link (3.6.7)
            authreq = (smp.AUTHREQ_BONDING if cfg.bonding else 0) | (
                smp.AUTHREQ_MITM if cfg.mitm else 0) | (
                smp.AUTHREQ_SC if cfg.secure_connections else 0)
            self.send(smp.SMP.encode("Security Request", authreq=authreq))

    def on_disconnected(self) -> None:
        self._stop_timer()
        self.link = None
        self.p = _Pairing()

    def _random(self, n: int) -> bytes:
        return random_octets(self.rng, n)

    def _restart_timer(self) -> None:
        if self._timer is None:
            self._timer = self.clock.schedule(SMP_TIMEOUT_US, self._on_timeout)
        else:
            self.clock.reschedule(self._timer, SMP_TIMEOUT_US, self._on_timeout)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self) -> None:
        # Vol 3 Part H 3.4: the procedure has failed and no further SMP commands are sent or
        # accepted on this link.
        self._timer = None
        self.timed_out = True
        self.p = _Pairing()

    def _fail(self, reason: int) -> None:
        self.send(_PAIRING_FAILED[reason])
        self._end_failed(reason)

    def _end_failed(self, reason: int) -> None:
        self._stop_timer()
        if reason in AUTH_FAILURES and self.link is not None:
            self._note_auth_failure()
        self.last, self.p = self.p, _Pairing()

    # --- repeated attempts (2.3.6) ---------------------------------------------------------------

    def _peer_key(self) -> tuple[bytes, int]:
        assert self.link is not None
        return self.link.initiator_address, self.link.initiator_address_type

    def _note_auth_failure(self) -> None:
        entry = self.attempts.setdefault(self._peer_key(), _Attempts())
        entry.failures += 1
        # The waiting interval grows exponentially with each failure (2.3.6).
        wait = min(self.config.repeated_attempts_wait_us * 2 ** (entry.failures - 1),
                   self.config.repeated_attempts_max_wait_us)
        entry.blocked_until = self.clock.now + wait

    def _blocked(self) -> bool:
        entry = self.attempts.get(self._peer_key())
        return entry is not None and self.clock.now < entry.blocked_until

    # --- PDUs from the initiator ----------------------------------------------------------------

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._PDU_HANDLERS = _pdu_handlers(cls)

    def on_pdu(self, pdu: bytes) -> None:
        if self.timed_out or self.link is None or not pdu:
            return
        dec = smp.SMP.decode(pdu)
        name, fields, error = dec.name, dec.fields, dec.error
        if name == "unknown":
            self._fail(smp.COMMAND_NOT_SUPPORTED)
            return
        if error is not None:
            self._fail(smp.INVALID_PARAMETERS)
            return
        if name == "Pairing Failed":
            self._end_failed(fields["reason"])
            return
        handler = self._PDU_HANDLERS[name]
        if handler is None:
            self._fail(smp.COMMAND_NOT_SUPPORTED)
            return
        handler(self, pdu, fields)

    def _expect_state(self, *states: str) -> bool:
        """True if the pairing is in one of ``states``; otherwise fail it (out of sequence)."""
        if self.p.state in states:
            return True
        self._fail(smp.UNSPECIFIED_REASON)
        return False

    # Pairing Feature Exchange (2.3, 3.5.1) -----------------------------------------------------

    def _on_pairing_request(self, pdu: bytes, f: dict) -> None:
        if not self._expect_state("idle"):
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
        if self._blocked():
            self._fail(smp.REPEATED_ATTEMPTS)
            return
        key_size = min(f["max_encryption_key_size"], cfg.max_key_size)
        if key_size < cfg.min_key_size:
            self._fail(smp.ENCRYPTION_KEY_SIZE)
            return
        init_authreq = f["authreq"]
        sc = bool(init_authreq & smp.AUTHREQ_SC) and cfg.secure_connections
        if cfg.sc_only and not sc:
            self._fail(smp.AUTHENTICATION_REQUIREMENTS)  # Secure Connections Only mode
            return
        local_oob = (cfg.peer_oob_r is not None) if sc else (cfg.legacy_oob_tk is not None)
        initiator_oob = bool(f["oob_data_flag"])
        init_mitm = bool(init_authreq & smp.AUTHREQ_MITM)
        if sc:
            method = pm.sc_method(f["io_capability"], cfg.io_capability, init_mitm, cfg.mitm,
                                  initiator_oob, local_oob)
        else:
            method = pm.legacy_method_with_oob(f["io_capability"], cfg.io_capability, init_mitm,
                                               cfg.mitm, initiator_oob, local_oob)
        if cfg.mitm and not pm.is_authenticated(method):
            self._fail(smp.AUTHENTICATION_REQUIREMENTS)
            return
        if not self._allowed_over_existing_bond(sc, method):
            self._fail(smp.AUTHENTICATION_REQUIREMENTS)
            return
        bonding = bool(init_authreq & smp.AUTHREQ_BONDING) and cfg.bonding
        keypress = bool(init_authreq & smp.AUTHREQ_KEYPRESS) and cfg.keypress
        authreq = (smp.AUTHREQ_BONDING if cfg.bonding else 0) | (
            smp.AUTHREQ_MITM if cfg.mitm else 0) | (
            smp.AUTHREQ_SC if cfg.secure_connections else 0) | (
            smp.AUTHREQ_KEYPRESS if cfg.keypress else 0)
        init_keys = f["initiator_key_distribution"] & cfg.initiator_keys if bonding else 0
        resp_keys = f["responder_key_distribution"] & cfg.responder_keys if bonding else 0
        if sc:
            # With Secure Connections the LTK is derived, never distributed (3.6.1)
            init_keys &= ~smp.KEY_DIST_ENC_KEY
            resp_keys &= ~smp.KEY_DIST_ENC_KEY
        self._restart_timer()
        p = self.p
        p.preq, p.sc, p.method, p.key_size, p.bonding = pdu, sc, method, key_size, bonding
        p.resp_keys, p.expect_keys = resp_keys, init_keys
        p.pres = smp.SMP.encode(
            "Pairing Response", io_capability=cfg.io_capability,
            oob_data_flag=1 if local_oob else 0, authreq=authreq,
            max_encryption_key_size=cfg.max_key_size,
            initiator_key_distribution=init_keys, responder_key_distribution=resp_keys)
        self.send(p.pres)
        if sc:
            p.state = "wait_public_key"
            return
        if method == pm.OOB:
            p.tk = cfg.legacy_oob_tk or bytes(16)
        elif method != JUST_WORKS:
            p.passkey = self._passkey()
            p.tk = p.passkey.to_bytes(16, "little")
            if keypress and method in (pm.PASSKEY_RESPONDER_INPUTS, pm.PASSKEY_BOTH_INPUT):
                self._send_keypresses()
        p.srand = self._random(16)
        p.state = "wait_confirm"

    def _passkey(self) -> int:
        cfg = self.config
        return cfg.passkey if cfg.passkey is not None else self.rng.randrange(1_000_000)

    def _send_keypresses(self) -> None:
        """Keypress notifications while the user types the passkey here (2.3.5.6.3, 3.5.8)."""
        for kind in (smp.PASSKEY_ENTRY_STARTED, *[smp.PASSKEY_DIGIT_ENTERED] * 6,
                     smp.PASSKEY_ENTRY_COMPLETED):
            self.send(smp.SMP.encode("Pairing Keypress Notification", notification_type=kind))

    def _allowed_over_existing_bond(self, sc: bool, method: str) -> bool:
        """A pairing may not replace a bond with weaker keys unless the policy allows it
        (Vol 3 Part C 10.3.2; BLURtooth)."""
        if self.config.allow_downgrade:
            return True
        bond = self.existing_bond()
        if bond is None:
            return True
        if bond.secure_connections and not sc:
            return False
        return not (bond.authenticated and not pm.is_authenticated(method))

    # Legacy pairing phase 2 (2.3.5.5) ------------------------------------------------------------

    def _confirm(self, rand: bytes) -> bytes:
        link = self.link
        assert link is not None
        return c1(self.p.tk, rand, self.p.preq, self.p.pres, link.initiator_address_type,
                  link.responder_address_type, link.initiator_address, link.responder_address)

    def _on_pairing_confirm(self, pdu: bytes, f: dict) -> None:
        p = self.p
        if p.sc:
            self._sc_confirm(f["confirm_value"])
            return
        if not self._expect_state("wait_confirm"):
            return
        self._restart_timer()
        p.mconfirm = f["confirm_value"]
        p.state = "wait_random"
        self.send(smp.pairing_confirm(self._confirm(p.srand)))

    def _on_pairing_random(self, pdu: bytes, f: dict) -> None:
        p = self.p
        if p.sc:
            self._sc_random(f["random_value"])
            return
        if not self._expect_state("wait_random"):
            return
        mrand = f["random_value"]
        if self._confirm(mrand) != p.mconfirm:
            self._fail(smp.CONFIRM_VALUE_FAILED)
            return
        self._restart_timer()
        p.stk = mask_key(s1(p.tk, p.srand, mrand), p.key_size)
        p.state = "wait_encryption"
        self.send(smp.pairing_random(p.srand))

    # LE Secure Connections (2.3.5.6) ---

    def _on_pairing_public_key(self, pdu: bytes, f: dict) -> None:
        p = self.p
        if not p.sc:
            self._fail(smp.UNSPECIFIED_REASON)
            return
        if not self._expect_state("wait_public_key"):
            return
        x, y = f["public_key_x"], f["public_key_y"]
        cfg = self.config
        p.keypair = self._local_keypair()
        if self._is_echo(x) and not cfg.debug_mode:
            # A peer echoing our own public key (CVE-2020-26558 erratum): refuse it.
            self._fail(smp.INVALID_PARAMETERS)
            return
        try:
            p.dhkey = self._dhkey(x, y)
        except p256.InvalidPublicKey:
            self._fail(smp.DHKEY_CHECK_FAILED)
            return
        self._restart_timer()
        p.pka = (x, y)
        p.debug_key = (x == p256.DEBUG_PUBLIC_X and y == p256.DEBUG_PUBLIC_Y) or cfg.debug_mode
        self.send(smp.pairing_public_key(p.keypair.public_x, p.keypair.public_y))
        p.nb = self._random(16)
        if p.method in (JUST_WORKS, pm.NUMERIC_COMPARISON):
            # Stage 1, Just Works / Numeric Comparison (2.3.5.6.2): Cb = f4(PKbx, PKax, Nb, 0)
            cb = f4(p.keypair.public_x, x, p.nb, 0)
            self.send(smp.pairing_confirm(cb))
            p.state = "wait_random"
        elif p.method == pm.OOB:
            # Stage 1, OOB (2.3.5.6.4): check the initiator's OOB confirm against its key
            if cfg.peer_oob_r is not None:
                p.ra = cfg.peer_oob_r
                if f4(x, x, p.ra, 0) != cfg.peer_oob_confirm:
                    self._fail(smp.CONFIRM_VALUE_FAILED)
                    return
            p.rb = bytes(16)  # we sent no OOB data of our own
            p.state = "wait_random"
        else:
            # Stage 1, Passkey Entry (2.3.5.6.3): 20 rounds, one bit of the passkey each
            p.passkey = self._passkey()
            p.ra = p.rb = p.passkey.to_bytes(16, "little")
            p.round = 0
            p.state = "wait_confirm"
            if self.config.keypress and p.method in (pm.PASSKEY_RESPONDER_INPUTS,
                                                     pm.PASSKEY_BOTH_INPUT):
                self._send_keypresses()

    def _local_keypair(self) -> p256.KeyPair:
        """Our P-256 key pair for this pairing: the debug key pair in debug mode
        (2.3.5.6.1), else a fresh one."""
        if self.config.debug_mode:
            return p256.keypair_from_private(p256.DEBUG_PRIVATE_KEY)
        return p256.pooled_keypair(self.rng.getrandbits(16))

    def _is_echo(self, x: bytes) -> bool:
        """Whether the peer sent our own public key back (its X coordinate)."""
        return x == self.p.keypair.public_x

    def _dhkey(self, x: bytes, y: bytes) -> bytes:
        """DHKey with the peer's public key, which must lie on P-256 (CVE-2018-5383)."""
        return p256.dhkey(self.p.keypair.private, x, y)

    def _passkey_bit(self) -> int:
        return 0x80 | ((self.p.passkey >> self.p.round) & 1)

    def _sc_confirm(self, ca: bytes) -> None:
        p = self.p
        if p.method not in _PASSKEY_METHODS:
            self._fail(smp.UNSPECIFIED_REASON)  # no confirm from the initiator in JW/NC/OOB
            return
        if not self._expect_state("wait_confirm"):
            return
        assert p.keypair is not None
        self._restart_timer()
        p.ca = ca
        p.nb = self._random(16)
        cb = f4(p.keypair.public_x, p.pka[0], p.nb, self._passkey_bit())
        if cb == ca:
            # The initiator reflected our confirm value (CVE-2020-26558): refuse.
            self._fail(smp.CONFIRM_VALUE_FAILED)
            return
        self.send(smp.pairing_confirm(cb))
        p.state = "wait_random"

    def _sc_random(self, na: bytes) -> None:
        p = self.p
        if not self._expect_state("wait_random"):
            return
        assert p.keypair is not None
        pkbx, pkax = p.keypair.public_x, p.pka[0]
        if p.method in _PASSKEY_METHODS:
            if f4(pkax, pkbx, na, self._passkey_bit()) != p.ca:
                self._fail(smp.CONFIRM_VALUE_FAILED)
                return
            if na == p.nb:
                self._fail(smp.CONFIRM_VALUE_FAILED)  # reflected nonce
                return
            self._restart_timer()
            self.send(smp.pairing_random(p.nb))
            p.round += 1
            if p.round < PASSKEY_ROUNDS:
                p.state = "wait_confirm"
                return
            p.na = na
        else:
            if na == p.nb:
                self._fail(smp.CONFIRM_VALUE_FAILED)  # reflected nonce
                return
            self._restart_timer()
            p.na = na
            self.send(smp.pairing_random(p.nb))
            if p.method == pm.NUMERIC_COMPARISON:
                # Both sides display g2(PKax, PKbx, Na, Nb); the user confirms (2.3.5.6.2)
                p.passkey = g2(pkax, pkbx, p.na, p.nb)
                if not self.config.numeric_comparison_accept:
                    self._fail(smp.NUMERIC_COMPARISON_FAILED)
                    return
        self._derive_sc_keys()
        p.state = "wait_dhkey_check"

    def _addresses(self) -> tuple[bytes, bytes]:
        link = self.link
        assert link is not None
        a = sc_address(link.initiator_address, link.initiator_address_type)
        b = sc_address(link.responder_address, link.responder_address_type)
        return a, b

    def _iocap(self, pdu: bytes) -> bytes:
        """IOcap for f6: the Pairing Request/Response's IO capability, OOB flag and AuthReq
        (2.2.8), in PDU order as fuzzer.crypto.sc.f6 takes it."""
        return pdu[1:4]

    def _derive_sc_keys(self) -> None:
        p = self.p
        a, b = self._addresses()
        p.mac_key, ltk = f5(p.dhkey, p.na, p.nb, a, b)
        p.ltk = mask_key(ltk, p.key_size)

    def _on_pairing_dhkey_check(self, pdu: bytes, f: dict) -> None:
        p = self.p
        if not p.sc:
            self._fail(smp.UNSPECIFIED_REASON)
            return
        if not self._expect_state("wait_dhkey_check"):
            return
        a, b = self._addresses()
        expected = f6(p.mac_key, p.na, p.nb, p.rb, self._iocap(p.preq), a, b)
        if f["dhkey_check"] != expected:
            self._fail(smp.DHKEY_CHECK_FAILED)
            return
        self._restart_timer()
        eb = f6(p.mac_key, p.nb, p.na, p.ra, self._iocap(p.pres), b, a)
        self.send(smp.pairing_dhkey_check(eb))
        p.state = "wait_encryption"
        p.stk = p.ltk  # the LL encrypts with the LTK at once (EDIV = Rand = 0)

    def _on_pairing_keypress_notification(self, pdu: bytes, f: dict) -> None:
        # Valid only while the initiator types a passkey with keypress negotiated (3.5.8)
        if self.p.state in ("wait_confirm", "wait_public_key") and self.p.method in (
                pm.PASSKEY_INITIATOR_INPUTS, pm.PASSKEY_BOTH_INPUT):
            self._restart_timer()
            return
        self._fail(smp.UNSPECIFIED_REASON)

    # --- encryption with the STK / LTK, then key distribution (2.4.4, 3.6.1) -------------------

    def stk_for(self, rand: bytes, ediv: int) -> tuple[bytes, int] | None:
        """The STK (legacy) or LTK (Secure Connections) for an LTK request during pairing
        (EDIV and Rand are zero, 2.4.4.1)."""
        p = self.p
        if p.state == "wait_encryption" and ediv == 0 and not any(rand):
            assert p.stk is not None
            return p.stk, p.key_size
        return None

    def on_encryption_change(self, enabled: bool) -> None:
        if not enabled or self.p.state != "wait_encryption":
            return
        self._distribute()
        self.p.state = "wait_keys"
        self._maybe_complete()

    def _distribute(self) -> None:
        p = self.p
        link = self.link
        assert link is not None
        p.new_bond = Bond(peer_address=link.initiator_address,
                          peer_address_type=link.initiator_address_type,
                          ltk=p.ltk if p.sc else bytes(16), key_size=p.key_size,
                          authenticated=pm.is_authenticated(p.method),
                          secure_connections=p.sc)
        keys = p.resp_keys
        if keys & smp.KEY_DIST_ENC_KEY:
            ltk, ediv, rand = self._new_ltk()
            p.new_bond.ltk, p.new_bond.ediv, p.new_bond.rand = ltk, ediv, rand
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
        return (mask_key(self._random(16), self.p.key_size), self.rng.getrandbits(16),
                self._random(8))

    def _key_pdu(self, name: str, f: dict) -> None:
        """Initiator key distribution, in the order of 3.6.1."""
        p = self.p
        bit = _KEY_DIST_PDUS[name]
        if p.state != "wait_keys" or not p.expect_keys & bit:
            self._fail(smp.UNSPECIFIED_REASON)
            return
        self._restart_timer()
        bond = p.new_bond
        assert bond is not None
        if name == "Encryption Information":
            bond.peer_ltk = f["long_term_key"]
        elif name == "Identity Information":
            bond.peer_irk = f["identity_resolving_key"]
        elif name == "Identity Address Information":
            bond.peer_address = f["bd_addr"]
            bond.peer_address_type = f["addr_type"]
        last = {"Central Identification", "Identity Address Information", "Signing Information"}
        if name in last:
            p.expect_keys &= ~bit
            self._maybe_complete()

    def _on_encryption_information(self, pdu: bytes, f: dict) -> None:
        self._key_pdu("Encryption Information", f)

    def _on_central_identification(self, pdu: bytes, f: dict) -> None:
        self._key_pdu("Central Identification", f)

    def _on_identity_information(self, pdu: bytes, f: dict) -> None:
        self._key_pdu("Identity Information", f)

    def _on_identity_address_information(self, pdu: bytes, f: dict) -> None:
        self._key_pdu("Identity Address Information", f)

    def _on_signing_information(self, pdu: bytes, f: dict) -> None:
        self._key_pdu("Signing Information", f)

    def _maybe_complete(self) -> None:
        p = self.p
        if p.state != "wait_keys" or p.expect_keys:
            return
        self._stop_timer()
        bond = p.new_bond
        self.attempts.pop(self._peer_key(), None)
        keep = p.bonding and (p.sc or p.resp_keys & smp.KEY_DIST_ENC_KEY)
        # An LTK from the debug key is not kept as a bond outside debug mode (2.3.5.6.1)
        if p.debug_key and not self.config.debug_mode:
            keep = False
        self.last, self.p = p, _Pairing()
        if keep and bond is not None:
            self.bonds.add(bond)
            if self.on_bonded is not None:
                self.on_bonded(bond)

    def _on_pairing_response(self, pdu: bytes, f: dict) -> None:
        self._fail(smp.COMMAND_NOT_SUPPORTED)  # we are the responder

    def _on_security_request(self, pdu: bytes, f: dict) -> None:
        self._fail(smp.COMMAND_NOT_SUPPORTED)  # only a peripheral sends it


SecurityManager._PDU_HANDLERS = _pdu_handlers(SecurityManager)
