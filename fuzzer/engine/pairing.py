"""The tester's SMP initiator: LE legacy pairing and LE Secure Connections, every association
model (Core Vol 3 Part H 2.3.5), as an honest central runs them — with a few named deviations a
conformance case can ask for (an invalid or reflected public key, a wrong DHKey check or confirm
value, a refused numeric comparison).

Everything goes through primitive steps (the runner's, or the target's ``run_op`` as the
runner runs them); what the tester learns or derives is recorded as KEY and BOND events so the
oracles can check where keys show up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fuzzer.crypto import p256
from fuzzer.crypto.legacy import c1, s1
from fuzzer.crypto.sc import f4, f5, f6, g2, sc_address
from fuzzer.crypto.session import mask_key
from fuzzer.engine.central import IO_CODES, Peer, StoredBond
from fuzzer.engine.runner import ProcedureFailed, Runner
from fuzzer.protocol import address as bdaddr
from fuzzer.protocol import pairing_methods as pm
from fuzzer.protocol import smp
from fuzzer.trace import events as ev
from fuzzer.trace.describe import decode as decode_pdu
from fuzzer.trace.events import Event

PASSKEY_METHODS = (pm.PASSKEY_INITIATOR_INPUTS, pm.PASSKEY_RESPONDER_INPUTS,
                   pm.PASSKEY_BOTH_INPUT)


@dataclass
class PairingOptions:
    """What the tester asks for and how honest it is (the `pair` step's arguments)."""

    bond: bool = True
    key_size: int | None = None
    passkey: int | None = None
    sc: bool | None = None  # None: as the central model says
    io_capability: str | None = None  # override the model's
    mitm: bool | None = None
    keypress: bool = False
    oob_tk: str | None = None  # legacy OOB TK (hex, as on air)
    oob_private_key: str | None = None  # SC OOB: our key pair's private key (hex, big-endian)
    oob_r: str | None = None  # SC OOB: the random we gave the device out of band (hex, on air)
    debug_key: bool = False
    public_key: str = "honest"  # honest | invalid | reflect
    dhkey_check: str = "honest"  # honest | invalid
    confirm: str = "honest"  # honest | invalid (legacy Mconfirm / SC passkey Cai)
    numeric_comparison: str = "accept"  # accept | reject
    stop_after: str | None = None  # one of STOP_POINTS: leave the pairing half done there


# Where a pairing can be left half done, so a program reaches deep SMP states honestly.
STOP_POINTS = ("request", "public_key", "confirm", "random", "dhkey_check", "encryption")


class StopPairing(Exception):
    """The pairing reached its ``stop_after`` point (not a failure)."""


def _checkpoint(ctx: _Ctx, point: str) -> None:
    if ctx.opts.stop_after == point:
        raise StopPairing(point)


@dataclass
class _Ctx:
    runner: Runner
    peer: Peer
    opts: PairingOptions
    ia: bytes
    iat: int
    ra: bytes
    rat: int
    device: str
    preq: bytes = b""
    pres: bytes = b""
    got: dict[str, Any] = field(default_factory=dict)
    debug_key: bool = False  # our Secure Connections key pair is the debug pair (2.3.5.6.1)


def _smp(ctx: _Ctx, pdu: bytes) -> list[Event]:
    return ctx.runner.target.run_op("smp", {"pdu": pdu})  # runner.primitive("smp", pdu=pdu)


def _decoded(e: Event) -> smp.Decoded:
    """A device SMP PDU, decoded once per PDU (the trace's decoding); an empty PDU has no trace
    decoding: it decodes as a truncated unknown one."""
    return e.memo or decode_pdu(e) or smp.SMP.decode(e.data)  # type: ignore[return-value]


def _ask(ctx: _Ctx, pdu: bytes) -> list[smp.Decoded]:
    """Send an SMP PDU; the device's SMP PDUs that came back, decoded."""
    return _answers(_smp(ctx, pdu))


def _answers(events: list[Event]) -> list[smp.Decoded]:
    """The device's SMP PDUs among ``events``, decoded."""
    # e.memo first: most are decoded already (by the monitors), and that saves a call each
    return [e.memo or _decoded(e) for e in events
            if e.kind == ev.PDU and e.src == ev.DEVICE and e.layer == "smp"]


def _expect(answers: list[smp.Decoded], name: str, after: str,
            round_no: int | None = None) -> dict[str, Any]:
    """The fields of the answer called ``name``; else ProcedureFailed saying what came after
    ``after`` (of passkey round ``round_no``)."""
    for a in answers:
        if a.name == name:
            return a.fields
    if round_no is not None:
        after = f"{after} (round {round_no})"
    if answers and answers[0].name == "Pairing Failed":
        reason = answers[0].fields.get("reason", 0)
        raise ProcedureFailed(f"{after} refused: Pairing Failed, "
                              f"{smp.REASON_NAMES.get(reason, reason)}")
    if answers:
        raise ProcedureFailed(f"unexpected {answers[0].name} after {after}")
    raise ProcedureFailed(f"no answer to {after}")


def _hold(ctx: _Ctx, kind: str, value: bytes, origin: str, **extra: Any) -> None:
    """Record key material the tester now holds (oracles check where it shows up again)."""
    ctx.runner.trace.add(ctx.runner.target.clock.now, ev.KEY, ev.TESTER, info={
        "peer": ctx.peer.name, "type": kind, "value": value.hex(),
        "device_address": ctx.device, "origin": origin, **extra})


def pair(runner: Runner, p: Peer, opts: PairingOptions) -> str:
    """Pair as initiator over the current link; returns the association model used, raises
    ProcedureFailed when the device refuses."""
    link = runner.target.link
    if link is None:
        raise ProcedureFailed("not connected")
    model = p.model
    ctx = _Ctx(runner, p, opts, bdaddr.to_bytes(link.peer_address),
               bdaddr.TYPE_CODES[p.spec.address_type], bdaddr.to_bytes(link.device_address),
               bdaddr.TYPE_CODES[p.seen.get(link.device_address, {}).get("address_type",
                                                                          "random")],
               link.device_address)
    io = IO_CODES[opts.io_capability] if opts.io_capability else model.io_capability
    mitm = opts.mitm if opts.mitm is not None else (
        model.mitm or opts.passkey is not None or opts.oob_tk is not None)
    sc = model.secure_connections if opts.sc is None else opts.sc
    # The OOB data flag says we hold authentication data from the device (3.5.1)
    oob = bool(opts.oob_tk or opts.oob_private_key)
    authreq = (smp.AUTHREQ_BONDING if opts.bond and model.bonding else 0) | (
        smp.AUTHREQ_MITM if mitm else 0) | (smp.AUTHREQ_SC if sc else 0) | (
        smp.AUTHREQ_KEYPRESS if opts.keypress else 0)
    max_key = opts.key_size or model.max_key_size
    ctx.preq = smp.SMP.encode(
        "Pairing Request", io_capability=io, oob_data_flag=1 if oob else 0, authreq=authreq,
        max_encryption_key_size=max_key, initiator_key_distribution=model.initiator_keys,
        responder_key_distribution=model.responder_keys)
    f = _expect(_ask(ctx, ctx.preq), "Pairing Response", "Pairing Request")
    _checkpoint(ctx, "request")
    ctx.pres = smp.SMP.encode("Pairing Response", **f)
    size = min(max_key, f["max_encryption_key_size"])
    resp_mitm = bool(f["authreq"] & smp.AUTHREQ_MITM)
    resp_oob = bool(f["oob_data_flag"])
    if sc and f["authreq"] & smp.AUTHREQ_SC:
        method = pm.sc_method(io, f["io_capability"], mitm, resp_mitm, oob, resp_oob)
        ltk, events = _secure_connections(ctx, method, size)
        result = {"method": method, "secure_connections": True, "ediv": 0, "rand": bytes(8),
                  "ltk": ltk}
    else:
        method = pm.legacy_method_with_oob(io, f["io_capability"], mitm, resp_mitm, oob,
                                           resp_oob)
        events = _legacy(ctx, method, size)
        result = {"method": method, "secure_connections": False}
    _distribute(ctx, f, size, events, result, authreq)
    return method


# --- legacy pairing (2.3.5.2–2.3.5.5) ---

def _legacy(ctx: _Ctx, method: str, size: int) -> list[Event]:
    opts = ctx.opts
    if method == pm.OOB:
        tk = bytes.fromhex(opts.oob_tk or "")[::-1].rjust(16, b"\0")
    elif method == pm.JUST_WORKS:
        tk = bytes(16)
    elif opts.passkey is None:
        raise ProcedureFailed(f"the pairing needs a passkey ({method}); give 'passkey'")
    else:
        tk = int(opts.passkey).to_bytes(16, "little")
        _keypresses(ctx, method)

    def confirm(rand: bytes) -> bytes:
        return c1(tk, rand, ctx.preq, ctx.pres, ctx.iat, ctx.rat, ctx.ia, ctx.ra)

    mrand = ctx.runner.random_bytes(16)
    mconfirm = confirm(mrand)
    if opts.confirm == "invalid":
        mconfirm = bytes((mconfirm[0] ^ 1,)) + mconfirm[1:]
    _hold(ctx, "Mconfirm", mconfirm, "tester", valid=opts.confirm != "invalid")
    sconfirm = _expect(_ask(ctx, smp.pairing_confirm(mconfirm)),
                       "Pairing Confirm", "Pairing Confirm")["confirm_value"]
    _checkpoint(ctx, "confirm")
    srand = _expect(_ask(ctx, smp.pairing_random(mrand)),
                    "Pairing Random", "Pairing Random")["random_value"]
    _checkpoint(ctx, "random")
    if confirm(srand) != sconfirm:
        _fail(ctx, smp.CONFIRM_VALUE_FAILED, "the device's confirm value does not match")
    stk = mask_key(s1(tk, srand, mrand), size, allow_any=True)
    _hold(ctx, "STK", stk, "derived", authenticated=pm.is_authenticated(method),
          secure_connections=False, key_size=size)
    events = _encrypt(ctx, stk, size, "STK")
    _checkpoint(ctx, "encryption")
    return events


def _fail(ctx: _Ctx, reason: int, why: str) -> None:
    _smp(ctx, smp.SMP.encode("Pairing Failed", reason=reason))
    raise ProcedureFailed(why)


def _encrypt(ctx: _Ctx, key: bytes, size: int, what: str) -> list[Event]:
    events = ctx.runner.primitive("encrypt", ltk=key.hex(), ediv=0, rand="00" * 8,
                                  key_size=size)
    for e in events:
        if e.kind == ev.ENCRYPTION and e.info.get("state") == "on":
            return events
    raise ProcedureFailed(f"encryption with the {what} failed")


# --- LE Secure Connections (2.3.5.6) ---

def _own_keypair(ctx: _Ctx) -> p256.KeyPair:
    opts = ctx.opts
    if opts.debug_key:
        return p256.keypair_from_private(p256.DEBUG_PRIVATE_KEY)
    if opts.oob_private_key:
        return p256.keypair_from_private(int(opts.oob_private_key, 16))
    return p256.pooled_keypair(ctx.runner.rng.getrandbits(16), pool="tester")


def _secure_connections(ctx: _Ctx, method: str, size: int) -> tuple[bytes, list[Event]]:
    opts = ctx.opts
    runner = ctx.runner
    own = _own_keypair(ctx)
    pkax, pkay = own.public_x, own.public_y
    ctx.debug_key = pkax == p256.DEBUG_PUBLIC_X and pkay == p256.DEBUG_PUBLIC_Y
    seen = ctx.peer.seen.setdefault(ctx.device, {})
    if opts.public_key == "invalid":
        pkay = bytes((pkay[0] ^ 1,)) + pkay[1:]  # off the curve (CVE-2018-5383)
    elif opts.public_key == "reflect":
        if "sc_public_key" not in seen:
            raise ProcedureFailed("no public key of the device to reflect yet")
        pkax, pkay = seen["sc_public_key"]
    answers = _ask(ctx, smp.pairing_public_key(pkax, pkay))
    pk = _expect(answers, "Pairing Public Key", "Pairing Public Key")
    pkbx, pkby = pk["public_key_x"], pk["public_key_y"]
    seen["sc_public_key"] = (pkbx, pkby)
    try:
        dhkey = own.dhkey(pkbx, pkby)
    except p256.InvalidPublicKey:
        _fail(ctx, smp.DHKEY_CHECK_FAILED, "the device's public key is not on P-256")
    _hold(ctx, "DHKey", dhkey, "derived")
    _checkpoint(ctx, "public_key")
    ra = rb = bytes(16)
    if method in (pm.JUST_WORKS, pm.NUMERIC_COMPARISON):
        cb = _expect(answers, "Pairing Confirm", "Pairing Public Key")["confirm_value"]
        na = runner.random_bytes(16)
        nb = _expect(_ask(ctx, smp.pairing_random(na)),
                     "Pairing Random", "Pairing Random")["random_value"]
        if f4(pkbx, pkax, nb, 0) != cb:
            _fail(ctx, smp.CONFIRM_VALUE_FAILED, "the device's confirm value does not match")
        _checkpoint(ctx, "random")
        if method == pm.NUMERIC_COMPARISON:
            value = g2(pkax, pkbx, na, nb)
            runner.note(f"numeric comparison shows {value:06d} on both sides")
            if opts.numeric_comparison == "reject":
                _fail(ctx, smp.NUMERIC_COMPARISON_FAILED, "the user rejected the numbers")
    elif method == pm.OOB:
        ra = bytes.fromhex(opts.oob_r or "00" * 16)[::-1]
        na = runner.random_bytes(16)
        nb = _expect(_ask(ctx, smp.pairing_random(na)),
                     "Pairing Random", "Pairing Random")["random_value"]
    else:
        if opts.passkey is None:
            raise ProcedureFailed(f"the pairing needs a passkey ({method}); give 'passkey'")
        ra = rb = int(opts.passkey).to_bytes(16, "little")
        _keypresses(ctx, method)
        na, nb = _passkey_rounds(ctx, int(opts.passkey), pkax, pkbx)
    a, b = sc_address(ctx.ia, ctx.iat), sc_address(ctx.ra, ctx.rat)
    mac_key, ltk = f5(dhkey, na, nb, a, b)
    ltk = mask_key(ltk, size, allow_any=True)
    _hold(ctx, "MacKey", mac_key, "derived")
    # IOcap = the Pairing Request/Response's IO capability, OOB flag and AuthReq (2.2.8)
    ea = f6(mac_key, na, nb, rb, ctx.preq[1:4], a, b)
    valid = opts.dhkey_check != "invalid"
    if not valid:
        ea = bytes((ea[0] ^ 1,)) + ea[1:]
    _hold(ctx, "DHKeyCheck", ea, "tester", valid=valid)
    ans = _expect(_ask(ctx, smp.pairing_dhkey_check(ea)),
                  "Pairing DHKey Check", "Pairing DHKey Check")
    eb = f6(mac_key, nb, na, ra, ctx.pres[1:4], b, a)
    if ans["dhkey_check"] != eb:
        _fail(ctx, smp.DHKEY_CHECK_FAILED, "the device's DHKey check does not verify")
    _hold(ctx, "LTK", ltk, "derived", authenticated=pm.is_authenticated(method),
          secure_connections=True, key_size=size, debug_key=ctx.debug_key)
    _checkpoint(ctx, "dhkey_check")
    events = _encrypt(ctx, ltk, size, "LTK")
    _checkpoint(ctx, "encryption")
    return ltk, events


def _keypresses(ctx: _Ctx, method: str) -> None:
    """Keypress notifications while the tester's user types the passkey, when both sides set
    the Keypress flag (Vol 3 Part H 2.3.5.6.3, 3.5.8)."""
    both = ctx.preq[3] & ctx.pres[3] & smp.AUTHREQ_KEYPRESS
    if not both or method not in (pm.PASSKEY_INITIATOR_INPUTS, pm.PASSKEY_BOTH_INPUT):
        return
    for kind in (smp.PASSKEY_ENTRY_STARTED, *[smp.PASSKEY_DIGIT_ENTERED] * 6,
                 smp.PASSKEY_ENTRY_COMPLETED):
        _smp(ctx, smp.SMP.encode("Pairing Keypress Notification", notification_type=kind))


def _passkey_rounds(ctx: _Ctx, passkey: int, pkax: bytes, pkbx: bytes) -> tuple[bytes, bytes]:
    """Passkey Entry, 20 rounds (2.3.5.6.3); returns the last Na and Nb."""
    na = nb = b""
    for i in range(20):
        r = 0x80 | ((passkey >> i) & 1)
        na = ctx.runner.random_bytes(16)
        cai = f4(pkax, pkbx, na, r)
        if ctx.opts.confirm == "invalid" and i == 0:
            cai = bytes((cai[0] ^ 1,)) + cai[1:]
        cbi = _expect(_ask(ctx, smp.pairing_confirm(cai)),
                      "Pairing Confirm", "Pairing Confirm", i + 1)["confirm_value"]
        nb = _expect(_ask(ctx, smp.pairing_random(na)),
                     "Pairing Random", "Pairing Random", i + 1)["random_value"]
        if f4(pkbx, pkax, nb, r) != cbi:
            _fail(ctx, smp.CONFIRM_VALUE_FAILED, f"the device's confirm of round {i + 1} fails")
    return na, nb


# --- key distribution (2.4.3, 3.6.1) ---

def _distribute(ctx: _Ctx, f: dict, size: int, events: list[Event], result: dict,
                authreq: int) -> None:
    runner, p = ctx.runner, ctx.peer
    got: dict[str, dict] = {}
    for d in _answers(events):
        got[d.name] = d.fields
    init_keys = f["initiator_key_distribution"]
    resp_keys = f["responder_key_distribution"]
    device_identity = ctx.device
    if "Encryption Information" in got:
        _hold(ctx, "LTK", got["Encryption Information"]["long_term_key"], "device",
              authenticated=pm.is_authenticated(result["method"]), secure_connections=False,
              key_size=size)
    if "Identity Information" in got:
        _hold(ctx, "IRK", got["Identity Information"]["identity_resolving_key"], "device")
    if "Identity Address Information" in got:
        device_identity = bdaddr.from_bytes(got["Identity Address Information"]["bd_addr"])
    if init_keys & smp.KEY_DIST_ENC_KEY and not result["secure_connections"]:
        own_ltk = mask_key(runner.random_bytes(16), size, allow_any=True)
        _hold(ctx, "LTK", own_ltk, "tester")
        _smp(ctx, smp.SMP.encode("Encryption Information", long_term_key=own_ltk))
        _smp(ctx, smp.SMP.encode("Central Identification", ediv=runner.rng.getrandbits(16),
                                 rand=runner.random_bytes(8)))
    if init_keys & smp.KEY_DIST_ID_KEY:
        _smp(ctx, smp.SMP.encode("Identity Information",
                                 identity_resolving_key=runner.random_bytes(16)))
        _smp(ctx, smp.SMP.encode("Identity Address Information", addr_type=ctx.iat,
                                 bd_addr=ctx.ia))
    if init_keys & smp.KEY_DIST_SIGN_KEY:
        _smp(ctx, smp.SMP.encode("Signing Information", signature_key=runner.random_bytes(16)))
    both_bond = bool(authreq & f["authreq"] & smp.AUTHREQ_BONDING)
    if result["secure_connections"]:
        ltk, ediv, rand = result["ltk"], 0, bytes(8)
    elif resp_keys & smp.KEY_DIST_ENC_KEY and "Central Identification" in got:
        ltk = got["Encryption Information"]["long_term_key"]
        ediv, rand = got["Central Identification"]["ediv"], got["Central Identification"]["rand"]
    else:
        return
    if not both_bond:
        return
    stored = StoredBond(device_identity, ltk, ediv, rand, size,
                        authenticated=pm.is_authenticated(result["method"]))
    p.bonds[device_identity] = stored
    p.bonds[ctx.device] = stored
    runner.trace.add(runner.target.clock.now, ev.BOND, ev.TESTER, info={
        "peer": p.name, "device_address": device_identity, "connection_address": ctx.device,
        "ltk": ltk.hex(), "ediv": ediv, "rand": rand.hex(), "key_size": size,
        "method": result["method"], "secure_connections": result["secure_connections"],
        "authenticated": pm.is_authenticated(result["method"]),
        "debug_key": ctx.debug_key})
