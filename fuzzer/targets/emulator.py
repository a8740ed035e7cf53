"""The emulator target: the built-in emulated nRF5 device and an emulated central radio.

The central's radio here plays the part a real controller plays for the HCI target: it builds and
parses LL data channel PDUs, runs the central side of the encryption procedure for ``encrypt``
steps (Core Vol 6 Part B 5.1.3.1) and reassembles L2CAP. Every PDU both ways is recorded with
its plaintext and its on-air form (ciphertext and MIC when encrypted).
"""

from __future__ import annotations

import inspect
import random
from typing import Any

from fuzzer.crypto.session import LinkCipher, session_key
from fuzzer.emulator.data_channel import DataChannel, MicFailure
from fuzzer.emulator.device import Device
from fuzzer.emulator.profile import DeviceProfile
from fuzzer.protocol import address as bdaddr
from fuzzer.protocol import l2cap, ll
from fuzzer.targets.base import PRIMITIVES, Step, Target, TargetError
from fuzzer.trace import events as ev
from fuzzer.trace.events import Event, Link, Trace

CONN_INTERVAL = 24  # 30 ms in 1.25 ms units
SUPERVISION_TIMEOUT = 400  # 4 s in 10 ms units
T_IFS_US = 150
_LAYER_BY_CID = {l2cap.CID_SMP: "smp", l2cap.CID_ATT: "att"}


def _parse_hex(value: Any, name: str, size: int | None = None) -> bytes:
    if isinstance(value, bytes):
        raw = value
    else:
        try:
            raw = bytes.fromhex(str(value).replace(" ", ""))
        except ValueError as exc:
            raise TargetError(f"{name}: expected hexadecimal octets, got {value!r}") from exc
    if size is not None and len(raw) != size:
        raise TargetError(f"{name}: expected {size} octets, got {len(raw)}")
    return raw


class _CentralLink:
    """The central's side of one connection."""

    def __init__(self, link: Link, device_conn: object, owner_ll: object) -> None:
        self.link = link
        self.device_conn = device_conn
        self.owner_ll = owner_ll  # the link layer that owned the connection, even after a reset
        self.channel = DataChannel(is_central=True)
        self.pending_air: list[bytes] = []
        self.encryption: dict[str, Any] | None = None  # an encrypt step in progress
        self.terminated_by_device: int | None = None


class EmulatorTarget(Target):
    """Runs primitive steps against an in-process emulated device on a virtual clock."""

    name = "emulator"
    capabilities = PRIMITIVES | {"white_box"}

    def __init__(self, profile: DeviceProfile, seed: int = 0) -> None:
        super().__init__()
        self.profile = profile
        self.seed = seed
        self.device = Device(profile, seed=seed)
        self.rng = random.Random(f"blefuzz-radio-{seed}")
        self._conn: _CentralLink | None = None
        self._conn_count = 0
        self._t = 0  # event timestamps within a step

    # --- Target ---

    def open(self, trace: Trace) -> None:
        self.trace = trace

    def close(self) -> None:
        self._conn = None

    @property
    def now_us(self) -> int:
        return self.device.clock.now

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def link(self) -> Link | None:
        return self._conn.link if self._conn is not None else None

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["profile"] = self.profile.name
        return d

    def run(self, step: Step) -> list[Event]:
        handler = getattr(self, "_op_" + step.op, None)
        if handler is None or step.op not in self.capabilities:
            raise TargetError(f"the emulator target has no step {step.op!r}")
        try:
            inspect.signature(handler).bind(**step.args)
        except TypeError as exc:
            raise TargetError(f"step {step.op}: {exc}") from exc
        start = len(self.trace.events)
        self._t = self.device.clock.now
        handler(**step.args)
        return self.trace.events[start:]

    # --- recording ---

    def _record(self, kind: str, src: str = ev.TESTER, layer: str | None = None,
                data: bytes = b"", air: tuple[bytes, ...] = (),
                info: dict[str, Any] | None = None) -> Event:
        self._t = max(self._t, self.device.clock.now)
        link = self._conn.link if self._conn is not None else None
        event = self.trace.add(self._t, kind, src, layer, data, air, link, info)
        self._t += T_IFS_US + 80 + 8 * sum(len(a) + 10 for a in air)
        return event

    # --- scanning and connections ---

    def _op_scan(self) -> None:
        self.device.clock.advance(100_000)  # one advertising interval
        ll_dev = self.device.link_layer
        if ll_dev is None or not ll_dev.advertising:
            self._record(ev.SCAN_EMPTY, ev.DEVICE, info={})
            return
        name = ""
        for ad_type, value in ll.ad_structures(ll_dev.adv_data):
            if ad_type in (ll.COMPLETE_LOCAL_NAME, ll.SHORTENED_LOCAL_NAME):
                name = value.decode("utf-8", "replace")
        self._record(ev.ADV, ev.DEVICE, "adv", ll_dev.adv_data, info={
            "address": bdaddr.from_bytes(ll_dev.address),
            "address_type": bdaddr.TYPE_NAMES[ll_dev.address_type],
            "name": name, "pdu_type": "ADV_IND",
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
        self._conn = _CentralLink(link, ll_dev.connection, ll_dev)
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
            if aa == ll.ADV_ACCESS_ADDRESS or bin(aa ^ (aa >> 1)).count("1") < 6:
                continue
            if len({(aa >> (8 * i)) & 0xFF for i in range(4)}) == 1:
                continue
            return aa

    def _op_disconnect(self, reason: int = ll.REMOTE_USER_TERMINATED) -> None:
        conn = self._require_conn()
        self._send_air(conn, [conn.channel.build_control(
            ll.LL_CONTROL.encode("LL_TERMINATE_IND", error_code=reason))], "ll",
            ll.LL_CONTROL.encode("LL_TERMINATE_IND", error_code=reason))
        self._end(ev.TESTER, reason)

    def _require_conn(self) -> _CentralLink:
        if self._conn is None:
            raise TargetError("not connected")
        return self._conn

    def _end(self, by: str, reason: int) -> None:
        self._record(ev.DISCONNECT, by, info={"reason": reason, "by": by,
                                              "reason_name": ll.ERROR_NAMES.get(reason, "")})
        self._conn = None

    # --- PDUs ---

    def _op_ll(self, pdu: Any) -> None:
        conn = self._require_conn()
        raw = _parse_hex(pdu, "pdu")
        self._send_air(conn, [conn.channel.build_control(raw)], "ll", raw)
        self._exchange()

    def _op_smp(self, pdu: Any) -> None:
        self._send_l2cap(l2cap.CID_SMP, _parse_hex(pdu, "pdu"))

    def _op_att(self, pdu: Any) -> None:
        self._send_l2cap(l2cap.CID_ATT, _parse_hex(pdu, "pdu"))

    def _op_l2cap(self, cid: int, payload: Any) -> None:
        self._send_l2cap(int(cid), _parse_hex(payload, "payload"))

    def _send_l2cap(self, cid: int, payload: bytes) -> None:
        conn = self._require_conn()
        frame = l2cap.frame(cid, payload)
        layer = _LAYER_BY_CID.get(cid, "l2cap")
        self._send_air(conn, conn.channel.build_l2cap(frame), layer,
                       payload if layer != "l2cap" else frame)
        self._exchange()

    def _send_air(self, conn: _CentralLink, air: list[bytes], layer: str, data: bytes) -> None:
        self._record(ev.PDU, ev.TESTER, layer, data, tuple(air))
        ll_dev = self.device.link_layer
        for pdu in air:
            if ll_dev is None or ll_dev.connection is not conn.device_conn:
                break
            ll_dev.on_air(pdu)

    # --- what the device sends back ---

    def _exchange(self, rounds: int = 1) -> None:
        """Let connection events pass and take in what the device sends."""
        for _ in range(rounds):
            self._drain()
            if self._conn is None:
                return
            self.device.clock.advance(CONN_INTERVAL * 1250)
            self._drain()
        self._check_link()

    def _drain(self) -> None:
        for _ in range(64):
            conn = self._conn
            if conn is None:
                return
            tx = self._take_device_tx(conn)
            if not tx:
                return
            for air in tx:
                self._on_device_air(conn, air)
                if self._conn is None:
                    return

    def _take_device_tx(self, conn: _CentralLink) -> list[bytes]:
        # PDUs queued by the connection's link layer, even if the device has since reset
        return conn.owner_ll.take_tx()

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
            self._record(ev.PDU, ev.DEVICE, "ll", payload, (air,))
            self._on_device_control(conn, payload)
            return
        conn.pending_air.append(air)
        if not payload:
            conn.pending_air.clear()
            return
        frame = conn.channel.reassembler.push(llid, payload)
        if frame is None:
            return
        air_all = tuple(conn.pending_air)
        conn.pending_air.clear()
        parsed = l2cap.parse(frame)
        if parsed is None:
            self._record(ev.PDU, ev.DEVICE, "l2cap", frame, air_all)
            return
        cid, sdu = parsed
        layer = _LAYER_BY_CID.get(cid, "l2cap")
        self._record(ev.PDU, ev.DEVICE, layer, sdu if layer != "l2cap" else frame, air_all)

    def _on_device_control(self, conn: _CentralLink, pdu: bytes) -> None:
        dec = ll.LL_CONTROL.decode(pdu)
        name = dec.name
        if name == "LL_TERMINATE_IND":
            conn.terminated_by_device = dec.fields.get("error_code", 0)
            self._end(ev.DEVICE, conn.terminated_by_device)
            return
        enc = conn.encryption
        if enc is None:
            return
        # The central side of the encryption start procedure (Vol 6 Part B 5.1.3.1)
        if name == "LL_ENC_RSP" and enc["state"] == "wait_rsp":
            sk = session_key(enc["ltk"], enc["skdm"], dec.fields["skds"])
            conn.channel.set_cipher(LinkCipher(sk, enc["ivm"], dec.fields["ivs"]))
            enc["state"] = "wait_start_req"
        elif name == "LL_START_ENC_REQ" and enc["state"] == "wait_start_req":
            conn.channel.tx_encrypted = True
            conn.channel.rx_encrypted = True
            rsp = ll.LL_CONTROL.encode("LL_START_ENC_RSP")
            self._send_air(conn, [conn.channel.build_control(rsp)], "ll", rsp)
            enc["state"] = "wait_start_rsp"
        elif name == "LL_START_ENC_RSP" and enc["state"] == "wait_start_rsp":
            enc["state"] = "done"
            conn.link = conn.link.with_encryption(True, enc["key_size"])
            self._record(ev.ENCRYPTION, ev.DEVICE, info={
                "state": "on", "ediv": enc["ediv"], "rand": enc["rand"].hex(),
                "ltk": enc["ltk"].hex(), "key_size": enc["key_size"]})
            conn.encryption = None
        elif name in ("LL_REJECT_IND", "LL_REJECT_EXT_IND", "LL_UNKNOWN_RSP"):
            reason = dec.fields.get("error_code", 0)
            conn.channel.set_cipher(None)
            self._record(ev.ENCRYPTION, ev.DEVICE, info={
                "state": "failed", "reason": reason,
                "reason_name": ll.ERROR_NAMES.get(reason, ""), "pdu": name,
                "ediv": enc["ediv"], "rand": enc["rand"].hex(), "ltk": enc["ltk"].hex()})
            conn.encryption = None

    def _check_link(self) -> None:
        """Notice a link the device dropped without LL_TERMINATE_IND (reset, MIC failure)."""
        conn = self._conn
        if conn is None:
            return
        ll_dev = self.device.link_layer
        if ll_dev is not None and ll_dev.connection is conn.device_conn:
            return
        # The central hears nothing more: its supervision timer expires (Vol 6 Part B 4.5.2).
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
        skdm = bytes(self.rng.getrandbits(8) for _ in range(8))
        ivm = bytes(self.rng.getrandbits(8) for _ in range(4))
        conn.encryption = {"state": "wait_rsp", "ltk": ltk_b, "ediv": int(ediv), "rand": rand_b,
                           "skdm": skdm, "ivm": ivm, "key_size": int(key_size)}
        if conn.link.encrypted:
            # Restarting encryption needs the pause procedure first (Vol 6 Part B 5.1.3.2).
            self._pause(conn)
            if self._conn is None:
                return
        req = ll.LL_CONTROL.encode("LL_ENC_REQ", rand=rand_b, ediv=int(ediv), skdm=skdm, ivm=ivm)
        self._send_air(conn, [conn.channel.build_control(req)], "ll", req)
        self._exchange(rounds=3)
        if self._conn is conn and conn.encryption is not None:
            state = conn.encryption["state"]
            conn.encryption = None
            self._record(ev.ENCRYPTION, ev.TESTER, info={
                "state": "failed", "reason": ll.LMP_LL_RESPONSE_TIMEOUT,
                "reason_name": "no answer", "while": state, "ediv": int(ediv),
                "rand": rand_b.hex(), "ltk": ltk_b.hex()})
        elif self._conn is None and conn.encryption is not None:
            self._record(ev.ENCRYPTION, ev.TESTER, info={
                "state": "failed", "reason": ll.CONNECTION_TIMEOUT,
                "reason_name": "link lost", "ediv": int(ediv), "rand": rand_b.hex(),
                "ltk": ltk_b.hex()})

    def _pause(self, conn: _CentralLink) -> None:
        req = ll.LL_CONTROL.encode("LL_PAUSE_ENC_REQ")
        self._send_air(conn, [conn.channel.build_control(req)], "ll", req)
        self._drain()
        if self._conn is None:
            return
        conn.channel.tx_encrypted = False
        rsp = ll.LL_CONTROL.encode("LL_PAUSE_ENC_RSP")
        self._send_air(conn, [conn.channel.build_control(rsp)], "ll", rsp)
        conn.channel.set_cipher(None)
        conn.link = conn.link.with_encryption(False)
        self._record(ev.ENCRYPTION, ev.TESTER, info={"state": "off"})

    # --- time and power ---

    def _op_wait(self, seconds: float = 1.0) -> None:
        total = int(float(seconds) * 1_000_000)
        if total < 0:
            raise TargetError("wait: seconds must not be negative")
        end = self.device.clock.now + total
        while self.device.clock.now < end:
            if self._conn is None:
                self.device.clock.advance_to(end)
                break
            self.device.clock.advance(min(CONN_INTERVAL * 1250, end - self.device.clock.now))
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
