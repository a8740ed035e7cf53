"""The emulated controller's Link Layer, peripheral role (the SoftDevice's LL).

Advertising (Vol 6 Part B 4.4.2), connection creation from CONNECT_IND (4.5), the data channel,
and the LL control procedures of Vol 6 Part B 5.1: encryption start, pause and restart (5.1.3.1,
5.1.3.2), feature exchange (5.1.4), version exchange (5.1.5), termination (5.1.6), LE ping (5.1.7),
data length update (5.1.9), LL_UNKNOWN_RSP for what the configured version does not support,
LL_REJECT_IND or LL_REJECT_EXT_IND (2.4.2.14, 2.4.2.18) and the procedure response timeout (5.2).
The host above it is told of connections, L2CAP frames and LTK requests through a small
interface, as the HCI would tell it.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from typing import Protocol

from fuzzer.crypto.rand import random_octets
from fuzzer.crypto.session import LinkCipher, session_key
from fuzzer.emulator.clock import Timer, VirtualClock
from fuzzer.emulator.data_channel import (
    MAX_OCTETS,
    MAX_TIME_1M_US,
    MIN_OCTETS,
    MIN_TIME_US,
    DataChannel,
    MicFailure,
    effective_octets,
)
from fuzzer.protocol import l2cap, ll

# Bluetooth Core versions as carried in LL_VERSION_IND (Assigned Numbers)
BT_4_0, BT_4_1, BT_4_2 = ll.VERSIONS["4.0"], ll.VERSIONS["4.1"], ll.VERSIONS["4.2"]
NORDIC_COMPANY_ID = ll.COMPANY_NORDIC

# LE feature bits (Vol 6 Part B 4.6)
FEATURE_LE_ENCRYPTION = ll.FEATURE_LE_ENCRYPTION
FEATURE_EXTENDED_REJECT_INDICATION = ll.FEATURE_EXTENDED_REJECT_INDICATION
FEATURE_PERIPHERAL_FEATURE_EXCHANGE = ll.FEATURE_PERIPHERAL_INITIATED_FEATURES_EXCHANGE
FEATURE_LE_PING = ll.FEATURE_LE_PING
FEATURE_DATA_LENGTH_EXTENSION = ll.FEATURE_LE_DATA_PACKET_LENGTH_EXTENSION

# The Core version that first defines each feature bit (Vol 6 Part B 4.6; Core 4.1 and 4.2)
FEATURE_SINCE = {
    FEATURE_LE_ENCRYPTION: BT_4_0,
    FEATURE_EXTENDED_REJECT_INDICATION: BT_4_1,
    FEATURE_PERIPHERAL_FEATURE_EXCHANGE: BT_4_1,
    FEATURE_LE_PING: BT_4_1,
    FEATURE_DATA_LENGTH_EXTENSION: BT_4_2,
}

# Vol 6 Part B 5.2: a procedure's response must come within 40 s, or the link is lost (0x22)
PROCEDURE_RESPONSE_TIMEOUT_US = 40_000_000

# What the central may send while an encryption procedure runs (Vol 6 Part B 5.1.3.1, 5.1.3.2);
# anything else (but an empty PDU) is unexpected and ends the link with 0x3D.
_EXPECTED_DURING = {
    "starting": frozenset({"LL_START_ENC_RSP", "LL_TERMINATE_IND"}),
    "pausing": frozenset({"LL_PAUSE_ENC_RSP", "LL_TERMINATE_IND"}),
    "paused": frozenset({"LL_ENC_REQ", "LL_TERMINATE_IND"}),
}

# The LLIDs of PDUs that carry L2CAP: start and continuation fragments (Vol 6 Part B 2.4)
_L2CAP_LLIDS = frozenset({ll.LLID_START, ll.LLID_CONTINUATION})

# Control PDUs without parameters that the peripheral sends (Vol 6 Part B 2.4.2), encoded once
_LL_START_ENC_REQ = ll.LL_CONTROL.encode("LL_START_ENC_REQ")
_LL_START_ENC_RSP = ll.LL_CONTROL.encode("LL_START_ENC_RSP")
_LL_PAUSE_ENC_RSP = ll.LL_CONTROL.encode("LL_PAUSE_ENC_RSP")
_LL_PING_RSP = ll.LL_CONTROL.encode("LL_PING_RSP")


def _control_handlers(cls: type) -> dict[str, Callable | None]:
    """Each LL control PDU name (and "unknown") mapped to the class's ``_ll_<name>`` method,
    or None when it has none."""
    table: dict[str, Callable | None] = {
        name: getattr(cls, "_ll_" + name[3:].lower(), None) for name in ll.LL_CONTROL.names}
    table["unknown"] = None
    return table


def default_features(version: int) -> int:
    """The LE features a controller of this Core version claims: every bit above whose version
    it reaches (a SoftDevice of that version; Vol 6 Part B 4.6)."""
    return sum(bit for bit, since in FEATURE_SINCE.items() if version >= since)


def length_params_valid(f: dict) -> bool:
    """Whether LL_LENGTH_REQ/RSP parameters reach the minimums of Vol 6 Part B 2.4.2.21 and
    4.5.10 (octets >= 27, times >= 328 µs).

    The spec only says a peer shall not send other values. Conforming controllers differ on
    what to do when one does; below the minimum we follow Apache NimBLE (``ble_ll_ctrl_len_proc``
    fails and the PDU is answered as malformed, with LL_UNKNOWN_RSP, and nothing is applied).
    Above the maximum (251 octets; 2120 µs on LE 1M, 17040 µs from 5.0) both NimBLE and Zephyr
    (``ull_dle_update_eff``) accept and the effective values are limited by our own maxima,
    which ``effective_octets`` does.
    """
    octets_ok = all(f[k] >= MIN_OCTETS for k in ("max_rx_octets", "max_tx_octets"))
    times_ok = all(f[k] >= MIN_TIME_US for k in ("max_rx_time", "max_tx_time"))
    return octets_ok and times_ok


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
        # encryption procedures (5.1.3): idle; starting (LL_START_ENC_REQ sent, waiting for
        # LL_START_ENC_RSP); pausing (LL_PAUSE_ENC_RSP sent, waiting for the central's);
        # paused (waiting for the LL_ENC_REQ that restarts encryption)
        self.enc_state = "idle"
        self.pending_key_size = 0
        self.procedure_timer: Timer | None = None
        self.peer_features: int | None = None  # learnt by the feature exchange (5.1.4)
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
        # connect requests accepted only from these (address, type); None: from anyone
        self.whitelist: set[tuple[bytes, int]] | None = None
        self._tx: list[bytes] = []

    # --- advertising and connection creation (Vol 6 Part B 4.4, 4.5) ---------------------

    def start_advertising(self) -> None:
        self.advertising = True

    def stop_advertising(self) -> None:
        self.advertising = False

    def on_connect_ind(self, init_address: bytes, init_address_type: int, access_address: int,
                       crc_init: int, interval: int, timeout: int) -> bool:
        """A CONNECT_IND addressed to us: enter the Connection State if connectable (and, with
        a whitelist, if the initiator is on it: filter policy, Vol 6 Part B 4.3.2)."""
        if not self.advertising or self.connection is not None:
            return False
        if self.whitelist is not None and (init_address, init_address_type) not in self.whitelist:
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
        if llid == ll.LLID_CONTROL:
            self._on_control(conn, payload)
        elif llid in _L2CAP_LLIDS:
            if not payload:
                return  # empty PDU (LLID continuation, length 0): always allowed
            if conn.enc_state != "idle":
                self._unexpected(conn)
                return
            # a complete frame whose length field is wrong is dropped
            parsed = conn.channel.reassembler.push_parsed(llid, payload)
            host = self.host
            if parsed is not None and host is not None:
                host.on_l2cap(parsed[0], parsed[1])

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
        self._tx.append(conn.channel.build(ll.LLID_CONTROL, pdu))  # build_control's PDU

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
        """Exit the Connection State (no PDU sent) and tell the host why."""
        conn = self.connection
        if conn is not None:
            self._stop_procedure_timer(conn)
        self.connection = None
        if self.host is not None:
            self.host.on_disconnected(reason)

    # --- procedure response timeout (Vol 6 Part B 5.2) -------------------------------------

    def _start_procedure_timer(self, conn: Connection) -> None:
        """Wait at most 40 s for the response this procedure expects from the central."""
        self._stop_procedure_timer(conn)
        conn.procedure_timer = self.clock.schedule(
            PROCEDURE_RESPONSE_TIMEOUT_US, lambda: self._procedure_timeout(conn))

    @staticmethod
    def _stop_procedure_timer(conn: Connection) -> None:
        if conn.procedure_timer is not None:
            conn.procedure_timer.cancel()
            conn.procedure_timer = None

    def _procedure_timeout(self, conn: Connection) -> None:
        """5.2: the connection is considered lost; exit the Connection State with no
        LL_TERMINATE_IND, reason LMP Response Timeout / LL Response Timeout (0x22)."""
        conn.procedure_timer = None
        if self.connection is conn:
            self._drop(ll.LMP_LL_RESPONSE_TIMEOUT)

    # --- LL control procedures (Vol 6 Part B 2.4.2, 5.1) -------------------------------------

    def _unknown(self, opcode: int) -> None:
        self.send_control(ll.LL_CONTROL.encode("LL_UNKNOWN_RSP", unknown_type=opcode))

    def _unexpected(self, conn: Connection) -> None:
        """An unexpected PDU during an encryption procedure (5.1.3.1, 5.1.3.2): exit the
        Connection State at once, reason Connection Terminated due to MIC Failure (0x3D)."""
        self._drop(ll.MIC_FAILURE)

    def peer_supports_extended_reject(self, conn: Connection) -> bool:
        """Both sides support Extended Reject Indication (4.6); we know the central's features
        only after a feature exchange (5.1.4)."""
        both = self.features & (conn.peer_features or 0)
        return bool(both & FEATURE_EXTENDED_REJECT_INDICATION)

    def _reject(self, conn: Connection, opcode: int, error: int) -> None:
        """Reject a procedure: LL_REJECT_EXT_IND when the central supports it, LL_REJECT_IND
        otherwise (2.4.2.14, 2.4.2.18, 5.1.3.1)."""
        if self.peer_supports_extended_reject(conn):
            pdu = ll.LL_CONTROL.encode("LL_REJECT_EXT_IND", reject_opcode=opcode,
                                       error_code=error)
        else:
            pdu = ll.LL_CONTROL.encode("LL_REJECT_IND", error_code=error)
        self.send_control(pdu)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._LL_HANDLERS = _control_handlers(cls)

    def _on_control(self, conn: Connection, pdu: bytes) -> None:
        if not pdu:
            return
        dec = ll.LL_CONTROL.decode(pdu)
        name, fields, error = dec.name, dec.fields, dec.error
        if conn.enc_state != "idle" and (
                name not in _EXPECTED_DURING[conn.enc_state] or error is not None):
            self._unexpected(conn)
            return
        # Unknown opcodes, control PDUs of the wrong length, and those with no procedure here
        # get LL_UNKNOWN_RSP (2.4.2).
        handler = self._LL_HANDLERS[name] if error is None else None
        if handler is None:
            self._unknown(pdu[0])
            return
        handler(self, conn, fields)

    def _ll_terminate_ind(self, conn: Connection, f: dict) -> None:
        self._drop(f["error_code"])

    def _ll_version_ind(self, conn: Connection, f: dict) -> None:
        if not conn.version_sent:  # sent at most once per connection (5.1.5)
            conn.version_sent = True
            self.send_control(ll.LL_CONTROL.encode(
                "LL_VERSION_IND", version=self.version, company=NORDIC_COMPANY_ID,
                subversion=self.subversion))

    def _ll_feature_req(self, conn: Connection, f: dict) -> None:
        conn.peer_features = int.from_bytes(f["feature_set"], "little")
        self.send_control(ll.LL_CONTROL.encode(
            "LL_FEATURE_RSP", feature_set=struct.pack("<Q", self.features)))

    def _ll_feature_rsp(self, conn: Connection, f: dict) -> None:
        conn.peer_features = int.from_bytes(f["feature_set"], "little")

    def _ll_ping_req(self, conn: Connection, f: dict) -> None:
        if not self.features & FEATURE_LE_PING:
            self._unknown(ll.LL_PING_REQ)
            return
        self.send_control(_LL_PING_RSP)

    def _ll_connection_update_ind(self, conn: Connection, f: dict) -> None:
        conn.interval_us = max(1, f["interval"]) * 1250

    def _ll_channel_map_ind(self, conn: Connection, f: dict) -> None:
        return None

    def _ll_unknown_rsp(self, conn: Connection, f: dict) -> None:
        return None

    def _ll_reject_ind(self, conn: Connection, f: dict) -> None:
        return None

    # Data length update (5.1.9) ----------------------------------------------------------------

    def max_octets(self) -> int:
        """connMaxTxOctets = connMaxRxOctets: 251 with Data Length Extension, else 27."""
        return MAX_OCTETS if self.features & FEATURE_DATA_LENGTH_EXTENSION else MIN_OCTETS

    def max_time_us(self) -> int:
        """connMaxTxTime = connMaxRxTime on LE 1M, the only PHY we have (4.5.10)."""
        return MAX_TIME_1M_US if self.features & FEATURE_DATA_LENGTH_EXTENSION else MIN_TIME_US

    def _ll_length_req(self, conn: Connection, f: dict) -> None:
        if not self.features & FEATURE_DATA_LENGTH_EXTENSION:
            self._unknown(ll.LL_LENGTH_REQ)
            return
        if not length_params_valid(f):
            self._unknown(ll.LL_LENGTH_REQ)
            return
        octets, time_us = self.max_octets(), self.max_time_us()
        self.send_control(ll.LL_CONTROL.encode(
            "LL_LENGTH_RSP", max_rx_octets=octets, max_rx_time=time_us, max_tx_octets=octets,
            max_tx_time=time_us))
        # The new effective values apply from here on, each direction on its own (4.5.10)
        conn.channel.set_lengths(
            effective_octets(octets, time_us, f["max_rx_octets"], f["max_rx_time"]),
            effective_octets(octets, time_us, f["max_tx_octets"], f["max_tx_time"]))

    def _ll_length_rsp(self, conn: Connection, f: dict) -> None:
        # We never send LL_LENGTH_REQ, so a response is not part of any procedure of ours.
        self._unknown(ll.LL_LENGTH_RSP)

    # Encryption start (5.1.3.1) ----------------------------------------------------------------

    def _ll_enc_req(self, conn: Connection, f: dict) -> None:
        if not self.features & FEATURE_LE_ENCRYPTION:
            self._unknown(ll.LL_ENC_REQ)
            return
        if conn.encrypted:
            # An encrypted link changes its key only through the pause procedure (5.1.3.2);
            # an LL_ENC_REQ outside it is not allowed now. We reject it, LMP PDU Not Allowed,
            # and keep the current key (our choice: the spec names no reaction).
            self._reject(conn, ll.LL_ENC_REQ, ll.LMP_PDU_NOT_ALLOWED)
            return
        restart = conn.enc_state == "paused"
        skds = random_octets(self.rng, 8)
        ivs = random_octets(self.rng, 4)
        self.send_control(ll.ll_enc_rsp(skds, ivs))
        ltk = self.host.on_ltk_request(f["rand"], f["ediv"]) if self.host else None
        if ltk is None:
            self._enc_key_missing(conn, restart)
            return
        key, key_size = ltk
        # A new session: new SK from the new SKD, new IV, both packet counters from 0 (5.1.3.1)
        sk = session_key(key, f["skdm"], skds)
        conn.channel.set_cipher(LinkCipher(sk, f["ivm"], ivs))
        conn.pending_key_size = key_size
        conn.enc_state = "starting"
        # LL_START_ENC_REQ goes out unencrypted; from now on we receive encrypted.
        self.send_control(_LL_START_ENC_REQ)
        conn.channel.rx_encrypted = True
        self._start_procedure_timer(conn)

    def _enc_key_missing(self, conn: Connection, restart: bool) -> None:
        """The host gave a negative LTK reply: reject with PIN or Key Missing (5.1.3.1). After a
        pause the link stays unencrypted, and the host hears that the refresh failed."""
        conn.enc_state = "idle"
        self._reject(conn, ll.LL_ENC_REQ, ll.PIN_OR_KEY_MISSING)
        if restart and self.host is not None:
            self.host.on_encryption_change(False, 0)

    def _ll_start_enc_rsp(self, conn: Connection, f: dict) -> None:
        if conn.enc_state != "starting":
            self._unknown(ll.LL_START_ENC_RSP)
            return
        self._stop_procedure_timer(conn)
        conn.channel.tx_encrypted = True
        self.send_control(_LL_START_ENC_RSP)
        conn.enc_state = "idle"
        conn.encrypted = True
        conn.key_size = conn.pending_key_size
        # HCI Encryption Change, or Encryption Key Refresh Complete after a pause (Vol 4 Part E
        # 7.7.8, 7.7.39): the host hears of it the same way here.
        if self.host is not None:
            self.host.on_encryption_change(True, conn.key_size)

    # Encryption pause (5.1.3.2) ----------------------------------------------------------------

    def _ll_pause_enc_req(self, conn: Connection, f: dict) -> None:
        if not conn.encrypted:
            self._unknown(ll.LL_PAUSE_ENC_REQ)
            return
        # Our LL_PAUSE_ENC_RSP still goes out encrypted; then we receive unencrypted, and keep
        # transmitting encrypted until the central's LL_PAUSE_ENC_RSP arrives.
        self.send_control(_LL_PAUSE_ENC_RSP)
        conn.channel.rx_encrypted = False
        conn.enc_state = "pausing"
        self._start_procedure_timer(conn)

    def _ll_pause_enc_rsp(self, conn: Connection, f: dict) -> None:
        if conn.enc_state != "pausing":
            self._unknown(ll.LL_PAUSE_ENC_RSP)
            return
        # The central's LL_PAUSE_ENC_RSP came unencrypted: transmit unencrypted too. The link is
        # paused until the central restarts encryption with LL_ENC_REQ; the host is not told
        # (a key refresh is reported once, when it completes).
        self._stop_procedure_timer(conn)
        conn.channel.set_cipher(None)
        conn.enc_state = "paused"
        conn.encrypted = False


LinkLayer._LL_HANDLERS = _control_handlers(LinkLayer)
