"""Scripted procedures of an honest central, expanded into primitive steps as they run.

Each procedure acts through ``Runner.primitive`` only, so what it does is in the trace as the
PDUs that crossed the air, and it works on every target that has the capabilities it uses.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from fuzzer.crypto.legacy import c1, s1
from fuzzer.crypto.session import mask_key
from fuzzer.engine.central import Peer, StoredBond
from fuzzer.engine.runner import ProcedureFailed, Runner
from fuzzer.protocol import address as bdaddr
from fuzzer.protocol import att, gatt, ll, nordic_dfu, smp
from fuzzer.protocol import pairing_methods as pm
from fuzzer.trace import events as ev
from fuzzer.trace.events import Event

PROCEDURES: dict[str, Callable[..., None]] = {}


def procedure(fn: Callable[..., None]) -> Callable[..., None]:
    PROCEDURES[fn.__name__] = fn
    return fn


def _device_pdus(events: list[Event], layer: str) -> list[Event]:
    return [e for e in events if e.kind == ev.PDU and e.src == ev.DEVICE and e.layer == layer]


def _link_down(events: list[Event]) -> bool:
    return any(e.kind == ev.DISCONNECT for e in events)


# --- scanning and connecting -------------------------------------------------------------------

def _is_dfu_adv(data: bytes) -> bool:
    """Whether advertising data lists the Legacy DFU service (the bootloader advertises it)."""
    for ad_type, value in ll.ad_structures(data):
        if ad_type in (ll.COMPLETE_128, ll.INCOMPLETE_128):
            uuids = [value[i:i + 16] for i in range(0, len(value), 16)]
            if nordic_dfu.SERVICE_UUID_BYTES in uuids:
                return True
    return False


@procedure
def connect(runner: Runner, peer: str | None = None, to: str = "app") -> None:
    """Scan, connect to the device in application mode (``app``), DFU mode (``dfu``), the
    device the peer is bonded with (``bonded``) or an address; an iOS-like central then starts
    encryption at once if it is bonded with that address."""
    p = runner.peer(peer)
    runner.current_peer = p
    if runner.target.connected:
        raise ProcedureFailed("already connected")
    events = runner.primitive("scan")
    advs = [e for e in events if e.kind == ev.ADV]
    if not advs:
        raise ProcedureFailed("no device is advertising")
    adv = advs[-1]
    address = adv.info["address"]
    p.seen[address] = dict(adv.info, dfu=_is_dfu_adv(adv.data))
    wanted_ok = {
        "app": not p.seen[address]["dfu"],
        "dfu": p.seen[address]["dfu"],
        "bonded": address in p.bonds,
        "any": True,
    }.get(to, address == to.upper())
    if not wanted_ok:
        raise ProcedureFailed(f"looked for the device ({to}); found {address} "
                              f"'{adv.info.get('name', '')}' instead")
    events = runner.primitive("connect", peer=p.name, address=address)
    if not any(e.kind == ev.CONNECT for e in events):
        raise ProcedureFailed(f"could not connect to {address}")
    bond = p.bonds.get(address)
    if bond is not None and p.model.encrypt_on_reconnect:
        _encrypt_with_bond(runner, p, bond)


def _encrypt_with_bond(runner: Runner, p: Peer, bond: StoredBond) -> bool:
    events = runner.primitive("encrypt", ltk=bond.ltk.hex(), ediv=bond.ediv,
                              rand=bond.rand.hex(), key_size=bond.key_size)
    ok = any(e.kind == ev.ENCRYPTION and e.info.get("state") == "on" for e in events)
    if not ok and runner.target.connected and p.model.on_encryption_failure == "disconnect":
        runner.note(f"{p.name} ({p.model.name}) drops the link: encryption with the stored "
                    f"LTK failed")
        runner.primitive("disconnect")
    return ok


@procedure
def reconnect_bonded(runner: Runner, peer: str | None = None) -> None:
    """Reconnect to the device this peer is bonded with and encrypt with the stored LTK."""
    p = runner.peer(peer)
    if not p.bonds:
        raise ProcedureFailed(f"{p.name} has no bond")
    connect(runner, peer, to="bonded")


# --- pairing ----------------------------------------------------------------------------------

def _smp_answer(runner: Runner, pdu: bytes) -> smp.Decoded | None:
    events = runner.primitive("smp", pdu=pdu.hex())
    answers = _device_pdus(events, "smp")
    if not answers:
        return None
    return smp.SMP.decode(answers[0].data)


@procedure
def pair(runner: Runner, peer: str | None = None, method: str = "auto", bond: bool = True,
         key_size: int | None = None, passkey: int | None = None) -> None:
    """LE legacy pairing as initiator (Core Vol 3 Part H 2.3.5, 2.4): feature exchange, confirm
    and random values, encryption with the STK, key distribution both ways; a bond is kept when
    both sides asked for bonding."""
    p = runner.peer(peer)
    if not runner.target.connected:
        raise ProcedureFailed("not connected")
    model = p.model
    link = runner.target.link
    if link is None:
        raise ProcedureFailed("no link")
    authreq = (smp.AUTHREQ_BONDING if bond and model.bonding else 0) | (
        smp.AUTHREQ_MITM if model.mitm or passkey is not None or method.startswith("passkey")
        else 0)
    max_key = key_size or model.max_key_size
    preq = smp.SMP.encode(
        "Pairing Request", io_capability=model.io_capability, oob_data_flag=0, authreq=authreq,
        max_encryption_key_size=max_key, initiator_key_distribution=model.initiator_keys,
        responder_key_distribution=model.responder_keys)
    rsp = _smp_answer(runner, preq)
    if rsp is None or rsp.name != "Pairing Response":
        raise ProcedureFailed(_refusal("Pairing Request", rsp))
    pres = smp.SMP.encode("Pairing Response", **rsp.fields)
    f = rsp.fields
    chosen = pm.legacy_method(model.io_capability, f["io_capability"],
                              bool(authreq & smp.AUTHREQ_MITM),
                              bool(f["authreq"] & smp.AUTHREQ_MITM))
    if chosen != pm.JUST_WORKS and passkey is None:
        raise ProcedureFailed(f"the pairing needs a passkey ({chosen}); give 'passkey'")
    tk = bytes(16) if chosen == pm.JUST_WORKS else int(passkey).to_bytes(16, "little")
    size = min(max_key, f["max_encryption_key_size"])
    ia, iat = bdaddr.to_bytes(link.peer_address), bdaddr.TYPE_CODES[p.spec.address_type]
    ra = bdaddr.to_bytes(link.device_address)
    rat = bdaddr.TYPE_CODES[p.seen.get(link.device_address, {}).get("address_type", "random")]
    mrand = runner.random_bytes(16)
    mconfirm = c1(tk, mrand, preq, pres, iat, rat, ia, ra)
    ans = _smp_answer(runner, smp.SMP.encode("Pairing Confirm", confirm_value=mconfirm))
    if ans is None or ans.name != "Pairing Confirm":
        raise ProcedureFailed(_refusal("Pairing Confirm", ans))
    sconfirm = ans.fields["confirm_value"]
    ans = _smp_answer(runner, smp.SMP.encode("Pairing Random", random_value=mrand))
    if ans is None or ans.name != "Pairing Random":
        raise ProcedureFailed(_refusal("Pairing Random", ans))
    srand = ans.fields["random_value"]
    if c1(tk, srand, preq, pres, iat, rat, ia, ra) != sconfirm:
        runner.primitive("smp", pdu=smp.SMP.encode(
            "Pairing Failed", reason=smp.CONFIRM_VALUE_FAILED).hex())
        raise ProcedureFailed("the device's confirm value does not match its random value")
    stk = mask_key(s1(tk, srand, mrand), size)
    _hold_key(runner, p, "STK", stk, link.device_address, "derived")
    events = runner.primitive("encrypt", ltk=stk.hex(), ediv=0, rand="00" * 8, key_size=size)
    if not any(e.kind == ev.ENCRYPTION and e.info.get("state") == "on" for e in events):
        raise ProcedureFailed("encryption with the STK failed")
    # The responder distributes its keys first (Vol 3 Part H 3.6.1)
    got: dict[str, Any] = {}
    for e in _device_pdus(events, "smp"):
        d = smp.SMP.decode(e.data)
        got[d.name] = d.fields
    resp_keys = f["responder_key_distribution"]
    init_keys = f["initiator_key_distribution"]
    device_identity = link.device_address
    if "Encryption Information" in got:
        _hold_key(runner, p, "LTK", got["Encryption Information"]["long_term_key"],
                  link.device_address, "device")
    if "Identity Address Information" in got:
        device_identity = bdaddr.from_bytes(got["Identity Address Information"]["bd_addr"])
    if init_keys & smp.KEY_DIST_ENC_KEY:
        own_ltk = mask_key(runner.random_bytes(16), size)
        _hold_key(runner, p, "LTK", own_ltk, link.device_address, "tester")
        runner.primitive("smp", pdu=smp.SMP.encode("Encryption Information",
                                                   long_term_key=own_ltk).hex())
        runner.primitive("smp", pdu=smp.SMP.encode(
            "Central Identification", ediv=runner.rng.getrandbits(16),
            rand=runner.random_bytes(8)).hex())
    if init_keys & smp.KEY_DIST_ID_KEY:
        runner.primitive("smp", pdu=smp.SMP.encode(
            "Identity Information", identity_resolving_key=runner.random_bytes(16)).hex())
        runner.primitive("smp", pdu=smp.SMP.encode(
            "Identity Address Information", addr_type=iat, bd_addr=ia).hex())
    if init_keys & smp.KEY_DIST_SIGN_KEY:
        runner.primitive("smp", pdu=smp.SMP.encode(
            "Signing Information", signature_key=runner.random_bytes(16)).hex())
    both_bond = bool(authreq & f["authreq"] & smp.AUTHREQ_BONDING)
    if both_bond and resp_keys & smp.KEY_DIST_ENC_KEY and "Central Identification" in got:
        ltk = got["Encryption Information"]["long_term_key"]
        cid = got["Central Identification"]
        stored = StoredBond(device_identity, ltk, cid["ediv"], cid["rand"], size,
                            authenticated=chosen != pm.JUST_WORKS)
        p.bonds[device_identity] = stored
        if device_identity != link.device_address:
            p.bonds[link.device_address] = stored
        runner.trace.add(runner.target.now_us, ev.BOND, ev.TESTER, info={
            "peer": p.name, "device_address": device_identity,
            "connection_address": link.device_address, "ltk": ltk.hex(), "ediv": cid["ediv"],
            "rand": cid["rand"].hex(), "key_size": size, "method": chosen})


def _hold_key(runner: Runner, p: Peer, kind: str, value: bytes, device: str, origin: str) -> None:
    """Record key material the tester now holds (oracles check where it shows up again)."""
    runner.trace.add(runner.target.now_us, ev.KEY, ev.TESTER, info={
        "peer": p.name, "type": kind, "value": value.hex(), "device_address": device,
        "origin": origin})


def _refusal(what: str, answer: smp.Decoded | None) -> str:
    if answer is None:
        return f"no answer to {what}"
    if answer.name == "Pairing Failed":
        reason = answer.fields.get("reason", 0)
        return f"{what} refused: Pairing Failed, {smp.REASON_NAMES.get(reason, reason)}"
    return f"unexpected {answer.name} after {what}"


# --- GATT ---------------------------------------------------------------------------------------

def _att(runner: Runner, pdu: bytes) -> att.Decoded | None:
    events = runner.primitive("att", pdu=pdu.hex())
    for e in _device_pdus(events, "att"):
        d = att.ATT.decode(e.data)
        if d.name not in ("Handle Value Notification", "Handle Value Indication"):
            return d
    return None


def discover_characteristics(runner: Runner) -> list[dict[str, Any]]:
    """GATT Discover All Characteristics (Vol 3 Part G 4.6.1) over the whole handle range."""
    found: list[dict[str, Any]] = []
    start = 1
    while start <= 0xFFFF:
        rsp = _att(runner, att.ATT.encode(
            "Read By Type Request", starting_handle=start, ending_handle=0xFFFF,
            attribute_type=gatt.uuid_to_le(gatt.CHARACTERISTIC)))
        if rsp is None or rsp.name != "Read By Type Response" or rsp.fields["length"] < 2:
            break
        length, data = rsp.fields["length"], rsp.fields["data"]
        last = start
        for off in range(0, len(data) - length + 1, length):
            handle = struct.unpack_from("<H", data, off)[0]
            decl = gatt.decode_characteristic_declaration(data[off + 2: off + length])
            if decl is None:
                continue
            decl["handle"] = handle
            found.append(decl)
            last = handle
        if last < start:
            break
        start = last + 1
    return found


def _uuid_bytes(uuid: str | int) -> bytes:
    if isinstance(uuid, int):
        return gatt.uuid_to_le(uuid)
    text = str(uuid)
    if len(text) <= 6:
        return gatt.uuid_to_le(int(text, 16))
    return gatt.uuid_to_le(text)


@procedure
def read(runner: Runner, uuid: str, peer: str | None = None) -> None:
    """GATT Read Using Characteristic UUID (Vol 3 Part G 4.8.2)."""
    if not runner.target.connected:
        raise ProcedureFailed("not connected")
    _att(runner, att.ATT.encode("Read By Type Request", starting_handle=1, ending_handle=0xFFFF,
                                attribute_type=_uuid_bytes(uuid)))


def _control_point(runner: Runner) -> int:
    for decl in discover_characteristics(runner):
        if decl["uuid"] == nordic_dfu.CONTROL_POINT_UUID:
            return decl["value_handle"]
    raise ProcedureFailed("the device has no Legacy DFU Control Point")


def _write_control_point(runner: Runner, value: bytes) -> None:
    cp = _control_point(runner)
    # Enable notifications on the Control Point's CCCD first (ble_dfu.c refuses writes otherwise)
    rsp = _att(runner, att.ATT.encode("Write Request", attribute_handle=cp + 1, value=b"\x01\x00"))
    if rsp is None or rsp.name != "Write Response":
        raise ProcedureFailed("could not enable Control Point notifications")
    rsp = _att(runner, att.ATT.encode("Write Request", attribute_handle=cp, value=value))
    if rsp is None or rsp.name != "Write Response":
        raise ProcedureFailed("the Control Point write was refused")
    runner.primitive("wait", seconds=0.1)


@procedure
def enter_dfu(runner: Runner, peer: str | None = None) -> None:
    """Legacy buttonless DFU entry: write START_DFU (application image) to the Control Point
    in application mode; the application resets into the bootloader."""
    if not runner.target.connected:
        raise ProcedureFailed("not connected")
    _write_control_point(runner, bytes((nordic_dfu.START_DFU, nordic_dfu.IMAGE_APPLICATION)))


@procedure
def leave_dfu(runner: Runner, peer: str | None = None) -> None:
    """Leave DFU mode without an update: RESET_SYSTEM on the bootloader's Control Point."""
    if not runner.target.connected:
        raise ProcedureFailed("not connected")
    _write_control_point(runner, bytes((nordic_dfu.RESET_SYSTEM,)))


@procedure
def hang_up(runner: Runner, peer: str | None = None) -> None:
    """Disconnect if a link is up (an honest central walking away)."""
    if runner.target.connected:
        runner.primitive("disconnect")
