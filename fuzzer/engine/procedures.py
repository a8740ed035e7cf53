"""Scripted procedures of an honest central, expanded into primitive steps as they run.

Each procedure acts through primitive steps only (``Runner.primitive``, or the target's
``run_op`` for steps other than ``connect``), so what it does is in the trace as the
PDUs that crossed the air, and it works on every target that has the capabilities it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fuzzer.engine import pairing
from fuzzer.engine.central import Peer, StoredBond
from fuzzer.engine.runner import ProcedureFailed, Runner
from fuzzer.protocol import att, gatt, nordic_dfu
from fuzzer.targets.base import StepHandler, TargetError
from fuzzer.trace import events as ev
from fuzzer.trace.describe import decode as decode_pdu

PROCEDURES: dict[str, Callable[..., None]] = {}
#: the same procedures with the argument names each takes (the runner checks steps with them)
PROCEDURE_HANDLERS: dict[str, StepHandler] = {}


def procedure(fn: Callable[..., None]) -> Callable[..., None]:
    PROCEDURES[fn.__name__] = fn
    PROCEDURE_HANDLERS[fn.__name__] = StepHandler(fn)
    return fn


# --- scanning and connecting -------------------------------------------------------------------

@procedure
def connect(runner: Runner, peer: str | None = None, to: str = "app") -> None:
    """Scan, connect to the device in application mode (``app``), DFU mode (``dfu``), the
    device the peer is bonded with (``bonded``) or an address; an iOS-like central then starts
    encryption at once if it is bonded with that address."""
    p = runner.peer(peer)
    runner.current_peer = p
    if runner.target.connected:
        raise ProcedureFailed("already connected")
    adv = None
    for e in runner.target.run_op("scan", {}):  # runner.primitive("scan")
        if e.kind == ev.ADV:
            adv = e  # the last advertisement heard
    if adv is None:
        raise ProcedureFailed("no device is advertising")
    address = adv.info["address"]
    seen = p.seen.setdefault(address, {})
    seen.update(adv.info, dfu=nordic_dfu.advertises_dfu(adv.data))
    if to == "app":
        wanted_ok = not seen["dfu"]
    elif to == "dfu":
        wanted_ok = seen["dfu"]
    elif to == "bonded":
        wanted_ok = address in p.bonds
    else:
        wanted_ok = to == "any" or address == to.upper()
    if not wanted_ok:
        raise ProcedureFailed(f"looked for the device ({to}); found {address} "
                              f"'{adv.info.get('name', '')}' instead")
    for e in runner.primitive("connect", peer=p.name, address=address):
        if e.kind == ev.CONNECT:
            break
    else:
        raise ProcedureFailed(f"could not connect to {address}")
    bond = p.bonds.get(address)
    if bond is not None and p.model.encrypt_on_reconnect:
        _encrypt_with_bond(runner, p, bond)


def _link_peer(runner: Runner, peer: str | None):
    """The central that owns the current link (a step on a link acts as whoever connected);
    ``peer`` when no link is up."""
    link = runner.target.link
    p = runner.peer(link.peer if link is not None and link.peer in runner.peers else peer)
    runner.current_peer = p
    return p


def _encrypt_with_bond(runner: Runner, p: Peer, bond: StoredBond) -> bool:
    events = runner.primitive("encrypt", ltk=bond.ltk.hex(), ediv=bond.ediv,
                              rand=bond.rand.hex(), key_size=bond.key_size)
    ok = False
    for e in events:
        if e.kind == ev.ENCRYPTION and e.info.get("state") == "on":
            ok = True
            break
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

@procedure
def pair(runner: Runner, peer: str | None = None, method: str = "auto", bond: bool = True,
         key_size: int | None = None, passkey: int | None = None, sc: bool | None = None,
         io_capability: str | None = None, mitm: bool | None = None, keypress: bool = False,
         oob_tk: str | None = None, oob_private_key: str | None = None,
         oob_r: str | None = None, debug_key: bool = False, public_key: str = "honest",
         dhkey_check: str = "honest", confirm: str = "honest",
         numeric_comparison: str = "accept", stop_after: str | None = None) -> None:
    """Pair as initiator: LE legacy pairing or LE Secure Connections, the association model
    chosen from both sides' IO capabilities, OOB and MITM flags (Core Vol 3 Part H 2.3.5.1);
    a bond is kept when both sides asked for bonding. ``method`` documents the expected model
    and is checked against the one the exchange selected when not ``auto``."""
    p = _link_peer(runner, peer)
    if io_capability is not None and io_capability not in pairing.IO_CODES:
        raise TargetError(f"pair: io_capability {io_capability!r}; expected one of "
                          f"{', '.join(pairing.IO_CODES)}")
    opts = pairing.PairingOptions(
        bond=bond, key_size=key_size, passkey=passkey, sc=sc, io_capability=io_capability,
        mitm=mitm, keypress=keypress, oob_tk=oob_tk, oob_private_key=oob_private_key,
        oob_r=oob_r, debug_key=debug_key, public_key=public_key, dhkey_check=dhkey_check,
        confirm=confirm, numeric_comparison=numeric_comparison, stop_after=stop_after)
    if stop_after is not None and stop_after not in pairing.STOP_POINTS:
        raise TargetError(f"pair: stop_after {stop_after!r}; expected one of "
                          f"{', '.join(pairing.STOP_POINTS)}")
    try:
        chosen = pairing.pair(runner, p, opts)
    except pairing.StopPairing:
        return
    if method != "auto" and chosen != method:
        raise ProcedureFailed(f"expected {method} pairing; the exchange selected {chosen}")


# --- GATT ---------------------------------------------------------------------------------------

# the attribute type of characteristic declarations, as on air (Vol 3 Part G 3.3.1)
_CHARACTERISTIC_LE = gatt.uuid_to_le(gatt.CHARACTERISTIC)
# what a server sends unasked (Vol 3 Part F 3.4.7), not an answer to a request
_SERVER_INITIATED = frozenset({"Handle Value Notification", "Handle Value Indication"})


def _att(runner: Runner, pdu: bytes) -> att.Decoded | None:
    """Send an ATT PDU; the device's answer (not a notification or indication), decoded."""
    for e in runner.target.run_op("att", {"pdu": pdu}):  # runner.primitive("att", pdu=pdu)
        if e.kind == ev.PDU and e.src == ev.DEVICE and e.layer == "att":
            # decoded once per PDU (the trace's decoding); an empty PDU decodes as truncated
            d = e.memo or decode_pdu(e) or att.ATT.decode(e.data)
            if d.name not in _SERVER_INITIATED:
                return d  # type: ignore[return-value]
    return None


def discover_characteristics(runner: Runner) -> list[dict[str, Any]]:
    """GATT Discover All Characteristics (Vol 3 Part G 4.6.1) over the whole handle range."""
    found: list[dict[str, Any]] = []
    start = 1
    while start <= 0xFFFF:
        rsp = _att(runner, att.read_by_type_request(start, 0xFFFF, _CHARACTERISTIC_LE))
        if rsp is None or rsp.name != "Read By Type Response":
            break
        fields = rsp.fields
        if fields["length"] < 2:
            break
        last = start
        for handle, value in att.read_by_type_entries(fields["length"], fields["data"]):
            decl = gatt.decode_characteristic_declaration(value)
            if decl is None:
                continue
            decl["handle"] = handle
            found.append(decl)
            last = handle
        if last < start:
            break
        start = last + 1
    return found


@procedure
def read(runner: Runner, uuid: str, peer: str | None = None) -> None:
    """GATT Read Using Characteristic UUID (Vol 3 Part G 4.8.2)."""
    if not runner.target.connected:
        raise ProcedureFailed("not connected")
    _att(runner, att.read_by_type_request(1, 0xFFFF, gatt.uuid_to_le(uuid)))


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
