"""The emulator target: the built-in emulated nRF5 device and an emulated central radio.

The central's radio here plays the part a real controller plays for the HCI target: it builds and
parses LL data channel PDUs, runs the central side of the encryption procedures for ``encrypt``
steps (Core Vol 6 Part B 5.1.3.1 start; on an encrypted link 5.1.3.2 pause, then a fresh start:
a key refresh), follows a data length update it started with a raw ``ll`` step (5.1.9), and
reassembles L2CAP. Every PDU both ways is recorded with its plaintext and its on-air form
(ciphertext and MIC when encrypted).

The ``connect`` step's ``peer_address`` is the central's address on air; with
``peer_address_type: random`` it may be a resolvable private address made from the peer's IRK
(``fuzzer.crypto.rpa.make_rpa``), which a bonded device resolves to the peer's identity.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any

from fuzzer.crypto.rand import random_octets
from fuzzer.crypto.session import LinkCipher, session_key
from fuzzer.emulator.data_channel import (
    AIR_MAX_PAYLOAD,
    MAX_OCTETS,
    DataChannel,
    MicFailure,
    effective_octets,
)
from fuzzer.emulator.device import Device
from fuzzer.emulator.profile import DeviceProfile
from fuzzer.protocol import address as bdaddr
from fuzzer.protocol import l2cap, ll
from fuzzer.targets.base import (
    PRIMITIVES,
    Step,
    StepHandler,
    Target,
    TargetError,
)
from fuzzer.trace import events as ev
from fuzzer.trace.describe import decode as decode_pdu
from fuzzer.trace.events import Event, Link, Trace

CONN_INTERVAL = 24  # 30 ms in 1.25 ms units
SUPERVISION_TIMEOUT = 400  # 4 s in 10 ms units
T_IFS_US = 150
_CONN_INTERVAL_US = CONN_INTERVAL * 1250
_LAYER_BY_CID = {l2cap.CID_SMP: "smp", l2cap.CID_ATT: "att"}

# Control PDUs without parameters that the central sends (Vol 6 Part B 2.4.2), encoded once
_LL_START_ENC_RSP = ll.LL_CONTROL.encode("LL_START_ENC_RSP")
_LL_PAUSE_ENC_REQ = ll.LL_CONTROL.encode("LL_PAUSE_ENC_REQ")
_LL_PAUSE_ENC_RSP = ll.LL_CONTROL.encode("LL_PAUSE_ENC_RSP")


@lru_cache(maxsize=64)  # a device advertises the same data again and again
def _local_name(adv_data: bytes) -> str:
    """The name in advertising data: its last Complete or Shortened Local Name, or ""."""
    name = ""
    for ad_type, value in ll.ad_structures(adv_data):
        if ad_type in (ll.COMPLETE_LOCAL_NAME, ll.SHORTENED_LOCAL_NAME):
            name = value.decode("utf-8", "replace")
    return name



def _parse_hex(value: Any, name: str, size: int | None = None) -> bytes:
    """Octets given as bytes or as hexadecimal text."""
    if type(value) is bytes:
        raw = value
    elif type(value) is str:
        try:
            raw = bytes.fromhex(value)  # spaces between octets are fine here too
        except ValueError:
            raw = _parse_hex_text(value, name)
    elif isinstance(value, bytes):
        raw = value
    else:
        raw = _parse_hex_text(value, name)
    if size is not None and len(raw) != size:
        raise TargetError(f"{name}: expected {size} octets, got {len(raw)}")
    return raw


def _parse_hex_text(value: Any, name: str) -> bytes:
    """Octets from hexadecimal text in which spaces may appear anywhere."""
    try:
        return bytes.fromhex(str(value).replace(" ", ""))
    except ValueError as exc:
        raise TargetError(f"{name}: expected hexadecimal octets, got {value!r}") from exc


class _CentralLink:
    """The central's side of one connection."""

    def __init__(self, link: Link, device_conn: object, owner_ll: object) -> None:
        self.link = link
        self.device_conn = device_conn
        self.owner_ll = owner_ll  # the link layer that owned the connection, even after a reset
        # the tester's radio receives whatever length the device sends, so an oracle can judge it
        self.channel = DataChannel(is_central=True, max_rx_payload=AIR_MAX_PAYLOAD)
        self.pending_air: list[bytes] = []
        self.encryption: dict[str, Any] | None = None  # an encrypt step in progress
        self.length_offer: dict[str, int] | None = None  # our LL_LENGTH_REQ, until answered
        self.terminated_by_device: int | None = None


class EmulatorTarget(Target):
    """Runs primitive steps against an in-process emulated device on a virtual clock."""

    name = "emulator"
    capabilities = PRIMITIVES | {"white_box"}

    def __init__(self, profile: DeviceProfile, seed: int = 0) -> None:
        super().__init__()
        self.profile = profile
        self.reset(seed)

    def reset(self, seed: int) -> None:
        """A fresh device from the profile, as if just flashed and powered on."""
        self.seed = seed
        self.device = Device(self.profile, seed)
        self.clock = self.device.clock
        self._rng: random.Random | None = None
        self._set_conn(None)
        self.crashed = False
        self._conn_count = 0
        self._t = 0  # event timestamps within a step
        self._sends = 0  # PDUs the central has sent (the device answers only those)

    # --- Target ---

    def open(self, trace: Trace) -> None:
        self.trace = trace

    def close(self) -> None:
        self._set_conn(None)

    def _set_conn(self, conn: _CentralLink | None) -> None:
        """The link the central has now (None: none)."""
        self._conn = conn
        self.connected = conn is not None

    @property
    def rng(self) -> random.Random:
        """The radio's random source for this seed (made on first use: seeding is slow)."""
        if self._rng is None:
            self._rng = random.Random(f"blefuzz-radio-{self.seed}")
        return self._rng

    #: Whether a link to the device is up (kept with ``_conn``: read for every step).
    connected: bool = False

    @property
    def link(self) -> Link | None:
        return self._conn.link if self._conn is not None else None

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["profile"] = self.profile.name
        return d

    def run(self, step: Step) -> list[Event]:
        return self.run_op(step.op, step.args)

    def run_op(self, op: str, args: dict[str, Any]) -> list[Event]:
        try:
            spec = _STEP_SPECS[op]
        except KeyError:
            raise TargetError(f"the emulator target has no step {op!r}") from None
        # spec.accepts(args), its answers for one argument or none inlined: runs for every PDU
        if len(args) == 1 and spec.first in args:
            accepted = spec.first_alone
        elif not args:
            accepted = spec.bare
        else:
            accepted = spec.accepts(args)
        if not accepted:
            try:
                spec.explain(args)
            except TypeError as exc:
                raise TargetError(f"step {op}: {exc}") from exc
        events = self.trace.events
        start = len(events)
        self._t = self.clock.now
        if self.crashed:
            if op != "power_cycle":
                self._run_crashed(op, args)
                return events[start:]
            self.crashed = False
        try:
            spec.call(self, args)
        except TargetError:
            raise
        except Exception as exc:  # noqa: BLE001 - the firmware raised: the device has crashed
            self._crash(exc)
        return events[start:]

    def _crash(self, exc: Exception) -> None:
        """The emulated firmware raised: like a hard fault, the device stops answering and
        advertising until it is power-cycled; a link it had drops (supervision timeout)."""
        self.crashed = True
        self._record(ev.NOTE, ev.DEVICE, info={
            "text": f"the device crashed: {type(exc).__name__}: {exc}", "crash": True})
        if self._conn is not None:
            self.device.clock.advance(SUPERVISION_TIMEOUT * 10_000)
            self._end("timeout", ll.CONNECTION_TIMEOUT)

    def _run_crashed(self, op: str, args: dict[str, Any]) -> None:
        """A crashed device: nothing answers, nothing advertises."""
        if op == "scan":
            self.device.clock.advance(100_000)
            self._record(ev.SCAN_EMPTY, ev.DEVICE, info={})
        elif op == "connect":
            self.device.clock.advance(1_250)
            self._record(ev.CONNECT_FAIL, ev.TESTER, info={
                "address": args.get("address"), "peer": args.get("peer")})
        elif op == "wait":
            self.device.clock.advance(int(float(args.get("seconds", 1.0)) * 1_000_000))
        else:
            raise TargetError("not connected")

    # --- recording ---

    def _record(self, kind: str, src: str = ev.TESTER, layer: str | None = None,
                data: bytes = b"", air: tuple[bytes, ...] = (),
                info: dict[str, Any] | None = None) -> Event:
        t = self._t
        now = self.clock.now
        if now > t:
            t = now
        conn = self._conn
        event = self.trace.add(t, kind, src, layer, data, air,
                               conn.link if conn is not None else None, info)
        t += T_IFS_US + 80
        # the PDUs' air time: 10 octets of overhead each (preamble, access address, header, CRC)
        for pdu in air:
            t += 8 * (len(pdu) + 10)
        self._t = t
        return event

    # --- scanning and connections ---

    def _op_scan(self) -> None:
        self.device.clock.advance(100_000)  # one advertising interval
        ll_dev = self.device.link_layer
        if ll_dev is None or not ll_dev.advertising:
            self._record(ev.SCAN_EMPTY, ev.DEVICE, info={})
            return
        self._record(ev.ADV, ev.DEVICE, "adv", ll_dev.adv_data, (), {  # by position: every probe
            "address": bdaddr.from_bytes(ll_dev.address),
            "address_type": bdaddr.TYPE_NAMES[ll_dev.address_type],
            "name": _local_name(ll_dev.adv_data), "pdu_type": "ADV_IND",
        })

    def _op_connect(self, peer: str, peer_address: str, address: str,
                    peer_address_type: str = "public") -> None:
        if self._conn is not None:
            raise TargetError("already connected; disconnect first")
        ll_dev = self.device.link_layer
        target = bdaddr.to_bytes(address)
        init = bdaddr.to_bytes(peer_address)
        init_type = bdaddr.TYPE_CODES[peer_address_type]
        self.device.clock.advance(1_250)
        if ll_dev is None or not ll_dev.advertising or ll_dev.address != target:
            self._record(ev.CONNECT_FAIL, ev.TESTER, info={"address": address, "peer": peer})
            return
        access_address = self._access_address()
        crc_init = self.rng.getrandbits(24)
        ok = ll_dev.on_connect_ind(init, init_type, access_address, crc_init, CONN_INTERVAL,
                                   SUPERVISION_TIMEOUT)
        if not ok:
            self._record(ev.CONNECT_FAIL, ev.TESTER, info={"address": address, "peer": peer})
            return
        self._conn_count += 1
        link = Link(self._conn_count, peer, peer_address, address, access_address, crc_init)
        self._set_conn(_CentralLink(link, ll_dev.connection, ll_dev))
        self._record(ev.CONNECT, ev.TESTER, info={
            "peer": peer,
            "central_address": peer_address, "central_address_type": peer_address_type,
            "peripheral_address": address,
            "peripheral_address_type": bdaddr.TYPE_NAMES[ll_dev.address_type],
            "access_address": access_address, "crc_init": crc_init, "win_size": 2,
            "win_offset": 0, "interval": CONN_INTERVAL, "latency": 0,
            "timeout": SUPERVISION_TIMEOUT, "chm": "ffffffff1f", "hop": 7, "sca": 0,
        })
        self._exchange()

    def _access_address(self) -> int:
        """A random data channel access address meeting Vol 6 Part B 2.1.2's rules (mostly)."""
        while True:
            aa = self.rng.getrandbits(32)
            # fewer than six transitions between adjacent bits
            if aa == ll.ADV_ACCESS_ADDRESS or (aa ^ (aa >> 1)).bit_count() < 6:
                continue
            if aa == (aa & 0xFF) * 0x01010101:  # all four octets equal
                continue
            return aa

    def _op_disconnect(self, reason: int = ll.REMOTE_USER_TERMINATED) -> None:
        conn = self._require_conn()
        self._send_control(conn, ll.LL_CONTROL.encode("LL_TERMINATE_IND", error_code=reason))
        self._end(ev.TESTER, reason)

    def _require_conn(self) -> _CentralLink:
        if self._conn is None:
            raise TargetError("not connected")
        return self._conn

    def _end(self, by: str, reason: int) -> None:
        self._record(ev.DISCONNECT, by, info={"reason": reason, "by": by,
                                              "reason_name": ll.ERROR_NAMES.get(reason, "")})
        self._set_conn(None)

    # --- PDUs ---

    def _op_ll(self, pdu: Any) -> None:
        conn = self._require_conn()
        sent = self._send_control(conn, _parse_hex(pdu, "pdu"))
        dec = decode_pdu(sent)  # None for an empty PDU
        if dec is not None and dec.name == "LL_LENGTH_REQ" and dec.error is None:
            conn.length_offer = dict(dec.fields)  # applied when the LL_LENGTH_RSP comes (5.1.9)
        self._exchange()

    def _op_smp(self, pdu: Any) -> None:
        # the tester's procedures give octets: _parse_hex's first case, inlined (every SMP PDU)
        self._send_l2cap(l2cap.CID_SMP, pdu if type(pdu) is bytes else _parse_hex(pdu, "pdu"),
                         "smp")

    def _op_att(self, pdu: Any) -> None:
        self._send_l2cap(l2cap.CID_ATT, pdu if type(pdu) is bytes else _parse_hex(pdu, "pdu"),
                         "att")

    def _op_l2cap(self, cid: int, payload: Any) -> None:
        cid = int(cid)
        self._send_l2cap(cid, _parse_hex(payload, "payload"), _LAYER_BY_CID.get(cid))

    def _send_l2cap(self, cid: int, payload: bytes, layer: str | None) -> None:
        """Send ``payload`` on channel ``cid``; recorded as ``layer`` (None: as an L2CAP
        frame)."""
        conn = self._conn
        if conn is None:
            raise TargetError("not connected")
        frame = l2cap.frame(cid, payload)
        air = conn.channel.build_l2cap(frame)
        if layer is None:
            self._send_air(conn, air, "l2cap", frame)
        else:
            self._send_air(conn, air, layer, payload)
        self._exchange()

    def _send_control(self, conn: _CentralLink, pdu: bytes) -> Event:
        """Send one LL control PDU; returns its event."""
        return self._send_air(conn, (conn.channel.build_control(pdu),), "ll", pdu)

    def _send_air(self, conn: _CentralLink, air: tuple[bytes, ...], layer: str,
                  data: bytes) -> Event:
        """Record the air PDUs carrying ``data`` and put them on the air; returns the event."""
        event = self._record(ev.PDU, ev.TESTER, layer, data, air)
        self._sends += 1
        ll_dev = self.device.link_layer
        if ll_dev is None:
            return event
        device_conn = conn.device_conn
        for pdu in air:
            if ll_dev.connection is not device_conn:
                break
            ll_dev.on_air(pdu)
        return event

    # --- what the device sends back ---

    def _exchange(self, rounds: int = 1) -> None:
        """Let connection events pass and take in what the device sends."""
        clock = self.device.clock
        quiet = False  # the device has sent all it had, and no timer has fired since
        settled = True
        for _ in range(rounds):
            if not quiet:
                settled = self._drain()
                if self._conn is None:
                    return
            # the device sends anything more only if a timer fires meanwhile
            fired = clock.advance_to(clock.now + _CONN_INTERVAL_US)
            quiet = settled and not fired
            if not quiet:
                self._drain()
        # _check_link, inlined: this ends every exchange
        conn = self._conn
        if conn is not None:
            ll_dev = self.device.link_layer
            if ll_dev is None or ll_dev.connection is not conn.device_conn:
                self._link_lost()

    def _drain(self) -> bool:
        """Take in what the device sent; True once it has nothing more to send (or the link is
        gone). Between timers the device sends only in answer to what the central sends."""
        conn = self._conn
        for _ in range(64):
            if conn is None:
                return True
            # PDUs queued by the connection's link layer, even if the device has since reset
            tx = conn.owner_ll.take_tx()
            if not tx:
                return True
            sends = self._sends
            for air in tx:
                self._on_device_air(conn, air)
                if self._conn is None:
                    return True
            if self._sends == sends:
                return True
        return False

    def _on_device_air(self, conn: _CentralLink, air: bytes) -> None:
        try:
            llid, payload = conn.channel.parse(air)
        except MicFailure:
            # Vol 6 Part B 5.1.3.1: a MIC failure ends the connection at once (0x3D)
            self._record(ev.PDU, ev.DEVICE, "ll", b"", (air,), info={"mic_failure": True})
            self._end(ev.TESTER, ll.MIC_FAILURE)
            self._device_lost_link()
            return
        except ValueError as exc:
            self._record(ev.NOTE, ev.DEVICE, info={"text": f"unparsable PDU: {exc}"})
            return
        if llid == ll.LLID_CONTROL:
            self._on_device_control(conn, self._record(ev.PDU, ev.DEVICE, "ll", payload, (air,)))
            return
        pending = conn.pending_air  # the air PDUs of a frame not yet complete
        if not payload:
            pending.clear()
            return
        frame = conn.channel.reassembler.push(llid, payload)
        if frame is None:
            pending.append(air)
            return
        if pending:
            pending.append(air)
            air_all = tuple(pending)
            pending.clear()
        else:
            air_all = (air,)
        parsed = l2cap.parse(frame)
        layer = _LAYER_BY_CID.get(parsed[0]) if parsed is not None else None
        if layer is not None:
            self._record(ev.PDU, ev.DEVICE, layer, parsed[1], air_all)
        else:
            self._record(ev.PDU, ev.DEVICE, "l2cap", frame, air_all)

    def _on_device_control(self, conn: _CentralLink, event: Event) -> None:
        """The central's link layer follows a control PDU the device sent."""
        dec = decode_pdu(event)
        if dec is None:
            return  # an empty control PDU: nothing to follow
        name = dec.name
        if name == "LL_TERMINATE_IND":
            conn.terminated_by_device = dec.fields.get("error_code", 0)
            self._end(ev.DEVICE, conn.terminated_by_device)
            return
        if name == "LL_LENGTH_RSP" and dec.error is None:
            self._on_length_rsp(conn, dec.fields)
            return
        if conn.encryption is not None:
            self._on_encryption_pdu(conn, name, dec.fields)

    def _on_length_rsp(self, conn: _CentralLink, f: dict) -> None:
        """Our data length update answered: new effective maxima both ways (5.1.9, 4.5.10)."""
        offer = conn.length_offer
        if offer is None:
            return  # we asked for nothing; a stray response changes nothing
        conn.length_offer = None
        tx_octets = min(offer["max_tx_octets"], MAX_OCTETS)
        rx_octets = min(offer["max_rx_octets"], MAX_OCTETS)
        conn.channel.set_lengths(
            effective_octets(tx_octets, offer["max_tx_time"], f["max_rx_octets"],
                             f["max_rx_time"]),
            AIR_MAX_PAYLOAD)
        self._record(ev.NOTE, ev.TESTER, info={
            "text": "data length update", "max_tx_payload": conn.channel.max_payload,
            "expected_rx_payload": effective_octets(rx_octets, offer["max_rx_time"],
                                                    f["max_tx_octets"], f["max_tx_time"])})

    def _on_encryption_pdu(self, conn: _CentralLink, name: str, f: dict) -> None:
        """The central's side of the encryption procedures (Vol 6 Part B 5.1.3.1, 5.1.3.2)."""
        enc = conn.encryption
        assert enc is not None
        state = enc["state"]
        if name == "LL_PAUSE_ENC_RSP" and state == "wait_pause_rsp":
            self._paused(conn)
        elif name == "LL_ENC_RSP" and state == "wait_rsp":
            sk = session_key(enc["ltk"], enc["skdm"], f["skds"])
            # a new session: new SK and IV, both packet counters from 0 (5.1.3.1)
            conn.channel.set_cipher(LinkCipher(sk, enc["ivm"], f["ivs"]))
            enc["state"] = "wait_start_req"
        elif name == "LL_START_ENC_REQ" and state == "wait_start_req":
            conn.channel.tx_encrypted = True
            conn.channel.rx_encrypted = True
            self._send_control(conn, _LL_START_ENC_RSP)
            enc["state"] = "wait_start_rsp"
        elif name == "LL_START_ENC_RSP" and state == "wait_start_rsp":
            self._encryption_on(conn)
        elif name in ("LL_REJECT_IND", "LL_REJECT_EXT_IND", "LL_UNKNOWN_RSP"):
            self._encryption_failed(conn, name, f.get("error_code", 0))

    def _encryption_on(self, conn: _CentralLink) -> None:
        enc = conn.encryption
        assert enc is not None
        conn.encryption = None
        conn.link = conn.link.with_encryption(True, enc["key_size"])
        self._record(ev.ENCRYPTION, ev.DEVICE, info={
            "state": "on", "ediv": enc["ediv"], "rand": enc["rand"].hex(),
            "ltk": enc["ltk"].hex(), "key_size": enc["key_size"], "refresh": enc["refresh"]})

    def _encryption_failed(self, conn: _CentralLink, pdu: str, reason: int) -> None:
        """The device refused (5.1.3.1): the link is unencrypted, after a pause as well."""
        enc = conn.encryption
        assert enc is not None
        conn.encryption = None
        conn.channel.set_cipher(None)
        conn.link = conn.link.with_encryption(False)
        self._record(ev.ENCRYPTION, ev.DEVICE, info={
            "state": "failed", "reason": reason, "reason_name": ll.ERROR_NAMES.get(reason, ""),
            "pdu": pdu, "ediv": enc["ediv"], "rand": enc["rand"].hex(), "ltk": enc["ltk"].hex(),
            "refresh": enc["refresh"]})

    def _paused(self, conn: _CentralLink) -> None:
        """The device's LL_PAUSE_ENC_RSP came (encrypted): from now on the central transmits and
        receives unencrypted, answers with LL_PAUSE_ENC_RSP in the clear, and restarts
        encryption with LL_ENC_REQ (5.1.3.2)."""
        conn.channel.set_cipher(None)
        self._send_control(conn, _LL_PAUSE_ENC_RSP)
        conn.link = conn.link.with_encryption(False)
        self._record(ev.ENCRYPTION, ev.TESTER, info={"state": "off", "paused": True})
        if self._conn is conn and conn.encryption is not None:
            self._send_enc_req(conn)

    def _check_link(self) -> None:
        """Notice a link the device dropped without LL_TERMINATE_IND (reset, MIC failure)."""
        conn = self._conn
        if conn is None:
            return
        ll_dev = self.device.link_layer
        if ll_dev is None or ll_dev.connection is not conn.device_conn:
            self._link_lost()

    def _link_lost(self) -> None:
        """The central hears nothing more: its supervision timer expires (Vol 6 Part B 4.5.2)."""
        self.device.clock.advance(SUPERVISION_TIMEOUT * 10_000)
        self._end("timeout", ll.CONNECTION_TIMEOUT)

    def _device_lost_link(self) -> None:
        """We dropped the link silently; the device's supervision timer expires too."""
        self.device.clock.advance(SUPERVISION_TIMEOUT * 10_000)
        ll_dev = self.device.link_layer
        if ll_dev is not None and ll_dev.connection is not None:
            ll_dev.supervision_timeout()

    # --- encryption ---

    def _op_encrypt(self, ltk: Any, ediv: int = 0, rand: Any = "0000000000000000",
                    key_size: int = 16) -> None:
        conn = self._require_conn()
        ltk_b = _parse_hex(ltk, "ltk", 16)
        rand_b = _parse_hex(rand, "rand", 8)
        skdm = random_octets(self.rng, 8)
        ivm = random_octets(self.rng, 4)
        refresh = conn.link.encrypted
        conn.encryption = {"state": "wait_rsp", "ltk": ltk_b, "ediv": int(ediv), "rand": rand_b,
                           "skdm": skdm, "ivm": ivm, "key_size": int(key_size),
                           "refresh": refresh}
        if refresh:
            # Restarting encryption needs the pause procedure first (Vol 6 Part B 5.1.3.2):
            # LL_PAUSE_ENC_REQ goes out encrypted, LL_ENC_REQ follows the device's answer.
            conn.encryption["state"] = "wait_pause_rsp"
            self._send_control(conn, _LL_PAUSE_ENC_REQ)
        else:
            self._send_enc_req(conn)
        self._exchange(rounds=3)
        self._encrypt_unanswered(conn)

    def _send_enc_req(self, conn: _CentralLink) -> None:
        """LL_ENC_REQ, unencrypted, with a fresh SKDm and IVm (5.1.3.1)."""
        enc = conn.encryption
        assert enc is not None
        enc["state"] = "wait_rsp"
        self._send_control(conn, ll.ll_enc_req(enc["rand"], enc["ediv"], enc["skdm"], enc["ivm"]))

    def _encrypt_unanswered(self, conn: _CentralLink) -> None:
        """Record an encrypt step the device left unfinished, or that lost the link."""
        enc = conn.encryption
        if enc is None:
            return
        conn.encryption = None
        base = {"state": "failed", "ediv": enc["ediv"], "rand": enc["rand"].hex(),
                "ltk": enc["ltk"].hex(), "refresh": enc["refresh"]}
        if self._conn is conn:
            self._record(ev.ENCRYPTION, ev.TESTER, info={
                **base, "reason": ll.LMP_LL_RESPONSE_TIMEOUT, "reason_name": "no answer",
                "while": enc["state"]})
        elif self._conn is None:
            self._record(ev.ENCRYPTION, ev.TESTER, info={
                **base, "reason": ll.CONNECTION_TIMEOUT, "reason_name": "link lost"})

    # --- time and power ---

    def _op_wait(self, seconds: float = 1.0) -> None:
        total = int(float(seconds) * 1_000_000)
        if total < 0:
            raise TargetError("wait: seconds must not be negative")
        clock = self.device.clock
        end = clock.now + total
        while clock.now < end:
            if self._conn is None:
                clock.advance_to(end)
                break
            # Connection events pass; only a timer firing can make the device send anything,
            # so jump to the next one (or the end) at a connection event boundary.
            due = clock.next_due()
            step = CONN_INTERVAL * 1250
            target = end if due is None or due >= end else min(end, due + step)
            clock.advance_to(target)
            self._drain()
            self._check_link()

    def _op_power_cycle(self) -> None:
        self._record(ev.RESET, ev.TESTER, info={"how": "power_cycle"})
        self.device.power_cycle()
        if self._conn is not None:
            self._check_link()

    # --- white box ---

    def device_state(self) -> dict[str, Any]:
        """The device's internal state (white-box; emulator only)."""
        fw = self.device.firmware
        return {
            "mode": self.device.mode,
            "boots": self.device.boots,
            "bonds": len(fw.bonds.bonds) if fw is not None else 0,
        }


# every step the emulator target runs, by op: capabilities with an ``_op_`` handler
_STEP_SPECS = {op: StepHandler(getattr(EmulatorTarget, "_op_" + op))
               for op in EmulatorTarget.capabilities if hasattr(EmulatorTarget, "_op_" + op)}
