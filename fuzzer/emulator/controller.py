"""The emulated controller's Link Layer, peripheral role (the SoftDevice's LL).

Advertising (Vol 6 Part B 4.4.2), connection creation from CONNECT_IND (4.5), the data channel,
and the LL control procedures of Vol 6 Part B 5.1: encryption start and pause (5.1.3, 5.1.4),
feature exchange (5.1.4), version exchange (5.1.5), termination (5.1.6), LE ping (5.1.7), data
length update (5.1.9), LL_UNKNOWN_RSP for what the configured version does not support.
The host above it is told of connections, L2CAP frames and LTK requests through a small
interface, as the HCI would tell it.
"""

from __future__ import annotations

import random
import struct
from typing import Protocol

from fuzzer.crypto.session import LinkCipher, session_key
from fuzzer.emulator.clock import VirtualClock
from fuzzer.emulator.data_channel import DataChannel, MicFailure
from fuzzer.protocol import l2cap, ll

# Bluetooth Core versions as carried in LL_VERSION_IND (Assigned Numbers)
BT_4_0, BT_4_1, BT_4_2, BT_5_0 = 6, 7, 8, 9
NORDIC_COMPANY_ID = ll.COMPANY_NORDIC

# LE feature bits (Vol 6 Part B 4.6)
FEATURE_LE_ENCRYPTION = ll.FEATURE_LE_ENCRYPTION
FEATURE_PERIPHERAL_FEATURE_EXCHANGE = ll.FEATURE_PERIPHERAL_INITIATED_FEATURES_EXCHANGE
FEATURE_LE_PING = ll.FEATURE_LE_PING
FEATURE_DATA_LENGTH_EXTENSION = ll.FEATURE_LE_DATA_PACKET_LENGTH_EXTENSION


class HostInterface(Protocol):
    """What the Link Layer tells the host (the HCI events of Vol 4 Part E 7.7)."""

    def on_connected(self, peer_address: bytes, peer_address_type: int) -> None: ...
    def on_disconnected(self, reason: int) -> None: ...
    def on_l2cap(self, cid: int, payload: bytes) -> None: ...
    def on_ltk_request(self, rand: bytes, ediv: int) -> tuple[bytes, int] | None: ...
    def on_encryption_change(self, enabled: bool, key_size: int) -> None: ...


class Connection:
    """The peripheral's state for one connection."""

    def __init__(self, peer_address: bytes, peer_address_type: int, access_address: int,
                 crc_init: int, interval_us: int, supervision_timeout_us: int) -> None:
        self.peer_address = peer_address
        self.peer_address_type = peer_address_type
        self.access_address = access_address
        self.crc_init = crc_init
        self.interval_us = interval_us
        self.supervision_timeout_us = supervision_timeout_us
        self.channel = DataChannel(is_central=False)
        self.encrypted = False
        self.key_size = 0
        # encryption procedure state: idle, waiting for LL_START_ENC_RSP, paused
        self.enc_state = "idle"
        self.pending_sk: bytes | None = None
        self.pending_key_size = 0
        self.version_sent = False
        self.terminating = False


class LinkLayer:
    """Peripheral-role Link Layer of one running firmware image."""

    def __init__(
        self,
        clock: VirtualClock,
        rng: random.Random,
        address: bytes,
        address_type: int,
        adv_data: bytes,
        version: int = BT_4_1,
        features: int = FEATURE_LE_ENCRYPTION | FEATURE_PERIPHERAL_FEATURE_EXCHANGE,
        subversion: int = 0x0067,
    ) -> None:
        self.clock = clock
        self.rng = rng
        self.address = address
        self.address_type = address_type
        self.adv_data = adv_data
        self.version = version
        self.features = features
        self.subversion = subversion
        self.host: HostInterface | None = None
        self.advertising = False
        self.connection: Connection | None = None
        self._tx: list[bytes] = []

    # --- advertising and connection creation (Vol 6 Part B 4.4, 4.5) ---------------------

    def start_advertising(self) -> None:
        self.advertising = True

    def stop_advertising(self) -> None:
        self.advertising = False

    def on_connect_ind(self, init_address: bytes, init_address_type: int, access_address: int,
                       crc_init: int, interval: int, timeout: int) -> bool:
        """A CONNECT_IND addressed to us: enter the Connection State if connectable."""
        if not self.advertising or self.connection is not None:
            return False
        self.advertising = False
        self.connection = Connection(init_address, init_address_type, access_address, crc_init,
                                     interval * 1250, timeout * 10_000)
        if self.host is not None:
            self.host.on_connected(init_address, init_address_type)
        return True

    # --- air interface ------------------------------------------------------------------------

    def take_tx(self) -> list[bytes]:
        """The air PDUs sent to the central since the last call."""
        out, self._tx = self._tx, []
        return out

    def on_air(self, air: bytes) -> None:
        """One data channel PDU from the central."""
        conn = self.connection
        if conn is None:
            return
        try:
            llid, payload = conn.channel.parse(air)
        except MicFailure:
            # Vol 6 Part B 5.1.3.1: on a MIC failure the LL exits the Connection State at once,
            # with no LL_TERMINATE_IND; the host sees reason 0x3D.
            self._drop(ll.MIC_FAILURE)
            return
        except ValueError:
            return  # a PDU that fails to parse is ignored, as one with a bad CRC would be
        if conn.enc_state == "paused" and llid != ll.LLID_CONTROL:
            return
        if llid == ll.LLID_CONTROL:
            self._on_control(conn, payload)
        elif llid in (ll.LLID_START, ll.LLID_CONTINUATION):
            if not payload:
                return  # empty PDU (LLID continuation, length 0)
            frame = conn.channel.reassembler.push(llid, payload)
            if frame is not None and self.host is not None:
                parsed = l2cap.parse(frame)
                if parsed is not None:
                    self.host.on_l2cap(*parsed)

    # --- host interface ---------------------------------------------------------------------

    def send_l2cap(self, cid: int, payload: bytes) -> None:
        conn = self.connection
        if conn is None or conn.terminating:
            return
        self._tx.extend(conn.channel.build_l2cap(l2cap.frame(cid, payload)))

    def send_control(self, pdu: bytes) -> None:
        conn = self.connection
        if conn is None:
            return
        self._tx.append(conn.channel.build_control(pdu))

    def disconnect(self, reason: int = ll.REMOTE_USER_TERMINATED) -> None:
        """Host-initiated termination: LL_TERMINATE_IND, then the link is gone."""
        conn = self.connection
        if conn is None:
            return
        self.send_control(ll.LL_CONTROL.encode("LL_TERMINATE_IND", error_code=reason))
        conn.terminating = True
        self._drop(ll.CONNECTION_TERMINATED_BY_LOCAL_HOST)

    def supervision_timeout(self) -> None:
        """The central stopped transmitting for longer than the supervision timeout."""
        if self.connection is not None:
            self._drop(ll.CONNECTION_TIMEOUT)

    def _drop(self, reason: int) -> None:
        self.connection = None
        if self.host is not None:
            self.host.on_disconnected(reason)

    # --- LL control procedures (Vol 6 Part B 2.4.2, 5.1) -------------------------------------

    def _unknown(self, opcode: int) -> None:
        self.send_control(ll.LL_CONTROL.encode("LL_UNKNOWN_RSP", unknown_type=opcode))

    def _on_control(self, conn: Connection, pdu: bytes) -> None:
        if not pdu:
            return
        opcode = pdu[0]
        dec = ll.LL_CONTROL.decode(pdu)
        name = dec.name
        if name == "unknown":
            self._unknown(opcode)
            return
        if dec.error is not None:
            # A control PDU with the wrong length is answered with LL_UNKNOWN_RSP (2.4.2).
            self._unknown(opcode)
            return
        f = dec.fields
        if conn.enc_state in ("starting", "paused", "pausing") and name not in (
            "LL_START_ENC_RSP", "LL_TERMINATE_IND", "LL_ENC_REQ", "LL_PAUSE_ENC_RSP",
            "LL_REJECT_IND", "LL_REJECT_EXT_IND",
        ):
            # During the encryption procedures only the procedure's own PDUs are allowed
            # (5.1.3.1); anything else is a protocol error and ends the link.
            self.disconnect(ll.LMP_LL_RESPONSE_TIMEOUT)
            return
        handler = getattr(self, "_ll_" + name[3:].lower(), None)
        if handler is None:
            self._unknown(opcode)
            return
        handler(conn, f)

    def _ll_terminate_ind(self, conn: Connection, f: dict) -> None:
        self._drop(f["error_code"])

    def _ll_version_ind(self, conn: Connection, f: dict) -> None:
        if not conn.version_sent:  # sent at most once per connection (5.1.5)
            conn.version_sent = True
            self.send_control(ll.LL_CONTROL.encode(
                "LL_VERSION_IND", version=self.version, company=NORDIC_COMPANY_ID,
                subversion=self.subversion))

    def _ll_feature_req(self, conn: Connection, f: dict) -> None:
        self.send_control(ll.LL_CONTROL.encode(
            "LL_FEATURE_RSP", feature_set=struct.pack("<Q", self.features)))

    def _ll_ping_req(self, conn: Connection, f: dict) -> None:
        if not self.features & FEATURE_LE_PING:
            self._unknown(0x12)
            return
        self.send_control(ll.LL_CONTROL.encode("LL_PING_RSP"))

    def _ll_length_req(self, conn: Connection, f: dict) -> None:
        if not self.features & FEATURE_DATA_LENGTH_EXTENSION:
            self._unknown(0x14)
            return
        self.send_control(ll.LL_CONTROL.encode(
            "LL_LENGTH_RSP", max_rx_octets=27, max_rx_time=328, max_tx_octets=27,
            max_tx_time=328))

    def _ll_connection_update_ind(self, conn: Connection, f: dict) -> None:
        conn.interval_us = max(1, f["interval"]) * 1250

    def _ll_channel_map_ind(self, conn: Connection, f: dict) -> None:
        return None

    def _ll_unknown_rsp(self, conn: Connection, f: dict) -> None:
        return None

    def _ll_reject_ind(self, conn: Connection, f: dict) -> None:
        return None

    def _ll_feature_rsp(self, conn: Connection, f: dict) -> None:
        return None

    # Encryption start (5.1.3.1) ----------------------------------------------------------------

    def _ll_enc_req(self, conn: Connection, f: dict) -> None:
        if not self.features & FEATURE_LE_ENCRYPTION:
            self._unknown(0x03)
            return
        if conn.encrypted:
            # Encryption start while encrypted is only allowed after a pause (5.1.3.2).
            self.disconnect(ll.LMP_LL_RESPONSE_TIMEOUT)
            return
        skds = bytes(self.rng.getrandbits(8) for _ in range(8))
        ivs = bytes(self.rng.getrandbits(8) for _ in range(4))
        self.send_control(ll.LL_CONTROL.encode("LL_ENC_RSP", skds=skds, ivs=ivs))
        ltk = self.host.on_ltk_request(f["rand"], f["ediv"]) if self.host else None
        if ltk is None:
            # The host gave a negative reply: LL_REJECT_IND with PIN or Key Missing (5.1.3.1).
            conn.enc_state = "idle"
            self.send_control(ll.LL_CONTROL.encode(
                "LL_REJECT_IND", error_code=ll.PIN_OR_KEY_MISSING))
            return
        key, key_size = ltk
        sk = session_key(key, f["skdm"], skds)
        conn.channel.set_cipher(LinkCipher(sk, f["ivm"], ivs))
        conn.pending_key_size = key_size
        conn.enc_state = "starting"
        # LL_START_ENC_REQ goes out unencrypted; from now on we receive encrypted.
        self.send_control(ll.LL_CONTROL.encode("LL_START_ENC_REQ"))
        conn.channel.rx_encrypted = True

    def _ll_start_enc_rsp(self, conn: Connection, f: dict) -> None:
        if conn.enc_state != "starting":
            self._unknown(0x06)
            return
        conn.channel.tx_encrypted = True
        self.send_control(ll.LL_CONTROL.encode("LL_START_ENC_RSP"))
        conn.enc_state = "idle"
        conn.encrypted = True
        conn.key_size = conn.pending_key_size
        if self.host is not None:
            self.host.on_encryption_change(True, conn.key_size)

    # Encryption pause (5.1.3.2) ----------------------------------------------------------------

    def _ll_pause_enc_req(self, conn: Connection, f: dict) -> None:
        if not conn.encrypted:
            self._unknown(0x0A)
            return
        # Our LL_PAUSE_ENC_RSP still goes out encrypted; the central's answer comes in clear.
        self.send_control(ll.LL_CONTROL.encode("LL_PAUSE_ENC_RSP"))
        conn.enc_state = "pausing"
        conn.channel.tx_encrypted = False
        conn.channel.rx_encrypted = False

    def _ll_pause_enc_rsp(self, conn: Connection, f: dict) -> None:
        if conn.enc_state != "pausing":
            self._unknown(0x0B)
            return
        conn.enc_state = "paused"
        conn.encrypted = False
        if self.host is not None:
            self.host.on_encryption_change(False, 0)

