"""AUTH-LEVEL: keys from Just Works are never treated as authenticated: an attribute that needs
MITM protection is refused on a link encrypted with an unauthenticated key (method-confusion
attacks; Core Vol 3 Part C 10.3.1, Vol 3 Part H 2.3.5.1).

Black-box. Whether a key is authenticated comes from the tester: BOND events (``authenticated``,
else ``method``) and KEY events (``authenticated``). A link's key is the ``ltk`` of the ENCRYPTION
event that turned it on. An attribute needs authentication when the suite names its UUID
(context ``authenticated_characteristics``) or the device itself refused it on an encrypted link
with Insufficient Authentication (ATT 0x05). Such an attribute served (Read, Read Blob, Read By
Type, Write responses) on a link encrypted with an unauthenticated key fails, whichever came
first. Handles are per GATT database: device address and advertised name, as in BOND-GATE.
"""

from __future__ import annotations

from typing import Any

from fuzzer.oracles.att_access import served
from fuzzer.oracles.base import Verdict
from fuzzer.oracles.pairing import LinkState, PairingMonitor
from fuzzer.protocol import att, gatt
from fuzzer.protocol import pairing_methods as pm
from fuzzer.protocol.codec import Decoded
from fuzzer.trace import events as ev
from fuzzer.trace.describe import decode
from fuzzer.trace.events import Event

_CHARACTERISTIC = gatt.uuid16(gatt.CHARACTERISTIC)

#: on-air octets or text -> their uuid_key, for every trace (the same attribute types and
#: suite UUIDs come back)
_UUID_KEYS: dict[bytes | str, bytes | None] = {}
_UUID_KEYS_CAP = 4096


def uuid_key(value: Any) -> bytes | None:
    """A UUID (suite text like "2A39" or a 128-bit string, or on-air octets) in its shortest
    on-air form, so 16-bit and Base-UUID 128-bit spellings compare equal; None if unreadable."""
    if not isinstance(value, (bytes, str)):
        value = str(value)
    if value in _UUID_KEYS:
        return _UUID_KEYS[value]
    try:
        key = gatt.uuid_to_le(value)
    except (ValueError, TypeError):
        key = None
    if len(_UUID_KEYS) >= _UUID_KEYS_CAP:
        _UUID_KEYS.clear()
    _UUID_KEYS[value] = key
    return key


#: (request octets, response octets) -> what the response served (see :func:`_read`), for
#: every trace (a fuzz campaign reads the same attributes again and again)
_READS: dict[tuple[bytes, bytes], tuple[tuple[tuple[int, bytes], ...],
                                        tuple[tuple[int, bytes | None], ...]]] = {}
_READS_CAP = 4096


def _read(request: Decoded, response: Decoded, key: tuple[bytes, bytes]) -> tuple[
        tuple[tuple[int, bytes], ...], tuple[tuple[int, bytes | None], ...]]:
    """What ``response`` served (``key``: the request's and its octets, under which it is
    kept): the characteristic declarations, as (value handle, its UUID) (Vol 3 Part G 3.3.1),
    and the other attributes, as (handle, UUID or None)."""
    declared: list[tuple[int, bytes]] = []
    accesses: list[tuple[int, bytes | None]] = []
    for handle, kind, value in served(request, response):
        if kind is None:
            accesses.append((handle, None))
        elif kind == _CHARACTERISTIC and len(value) in (5, 19):
            # a characteristic declaration names its value handle's UUID
            decl = gatt.decode_characteristic_declaration(value)
            u = uuid_key(value[3:])
            if decl is not None and u is not None:
                declared.append((decl["value_handle"], u))
        else:
            accesses.append((handle, uuid_key(kind)))
    read = (tuple(declared), tuple(accesses))
    if len(_READS) >= _READS_CAP:
        _READS.clear()
    _READS[key] = read
    return read


def key_authenticated(info: dict[str, Any]) -> bool | None:
    """Whether the key a KEY or BOND event describes is authenticated (MITM-protected)."""
    auth = info.get("authenticated")
    if isinstance(auth, bool):
        return auth
    method = info.get("method")
    if isinstance(method, str) and method:
        return pm.is_authenticated(method)
    return None


class AuthLevel(PairingMonitor):
    EXTRA_KINDS = frozenset({ev.ADV})
    OTHER_KEYS = False

    def configure(self) -> None:
        declared = self.context.get("authenticated_characteristics", []) or []
        self.required_uuids = {k for k in map(uuid_key, declared) if k is not None}

    def start(self) -> None:
        self.key_auth: dict[bytes, bool] = {}
        self.adv_name: dict[str, str] = {}
        self.required_handles: dict[tuple, Event] = {}  # refused for lack of authentication
        self.uuid_of: dict[tuple, bytes] = {}
        self.served: dict[tuple, tuple[bytes | None, Event, Event, Event]] = {}
        self.support: list[Event] = []

    def see(self, event: Event) -> None:
        """Remember each advertiser's name: a GATT database belongs to an address and name."""
        info = event.info or {}
        self.adv_name[str(info.get("address", ""))] = str(info.get("name", ""))

    def _learn(self, key: bytes | None, info: dict[str, Any]) -> None:
        auth = key_authenticated(info)
        if key is not None and auth is not None:
            self.key_auth[key] = auth

    def on_key(self, st: LinkState | None, event: Event, key: bytes | None) -> None:
        self._learn(key, event.info or {})

    def on_bond(self, st: LinkState | None, event: Event, key: bytes | None) -> None:
        self._learn(key, event.info or {})

    def on_encryption(self, st: LinkState | None, event: Event, state: Any,
                      ltk: bytes | None) -> None:
        if st is None:
            return
        if state == "on":
            auth = self.key_auth.get(ltk) if ltk is not None else None
            st.data[self.slot]["auth"] = (auth, event)
        elif state in ("off", "failed"):
            st.data[self.slot].pop("auth", None)

    def _db(self, st: LinkState) -> tuple[str, str]:
        addr = st.link.device_address if st.link is not None else ""
        return addr, self.adv_name.get(addr, "")

    def on_att(self, st: LinkState | None, event: Event) -> None:
        if st is None:
            return
        dec = event.memo or decode(event)
        if dec is None:
            return
        notes = st.data[self.slot]
        if event.src == ev.TESTER:
            if dec.opcode >= 0 and not dec.opcode & att.COMMAND_FLAG:
                notes["request"] = event
            return
        req: Event | None = notes.pop("request", None)
        rq = (req.memo or decode(req)) if req is not None else None
        if rq is None or dec.error is not None:
            return
        auth, enc = notes.get("auth", (None, None))
        encrypted = enc is not None and (event.link is None or event.link.encrypted)
        f, rf = dec.fields, rq.fields
        if (not encrypted or (auth is None and dec.name != "Error Response")) and (
                dec.name != "Read By Type Response" or rf.get("attribute_type") != _CHARACTERISTIC):
            # neither a refusal on an encrypted link nor an access judged, nor characteristic
            # declarations naming value handles' UUIDs (Vol 3 Part G 3.3.1): nothing to note
            return
        db = self._db(st)
        if dec.name == "Error Response":
            if encrypted and f.get("error_code") == att.INSUFFICIENT_AUTHENTICATION:
                handle = f.get("attribute_handle_in_error", 0)
                self.required_handles.setdefault((*db, handle), event)
                if rq.name == "Read By Type Request":
                    u = uuid_key(rf.get("attribute_type", b""))
                    if u is not None:
                        self.uuid_of[(*db, handle)] = u
                if auth is False:
                    self.checked += 1
                    self.supported(event)
            return
        octets = (req.data, event.data)
        read = _READS.get(octets)
        if read is None:
            read = _read(rq, dec, octets)
        declared, accesses = read
        for value_handle, u in declared:
            self.uuid_of[(*db, value_handle)] = u
        if not encrypted or auth is None:
            return
        for handle, uuid in accesses:
            key = (*db, handle)
            if uuid is not None:
                self.uuid_of.setdefault(key, uuid)
            self.checked += 1
            if auth is False and key not in self.served:
                self.served[key] = (uuid, req, event, enc)  # type: ignore[assignment]

    def close(self) -> None:
        """Judge every access served under an unauthenticated key, now that all refusals are
        known."""
        for key, (uuid, req, rsp, enc) in self.served.items():
            uuid = uuid or self.uuid_of.get(key)
            declared = uuid is not None and uuid in self.required_uuids
            refused = self.required_handles.get(key)
            if not declared and refused is None:
                continue
            why = ("the suite declares it requires authentication" if declared else
                   f"the device itself refused it with Insufficient Authentication on an "
                   f"encrypted link (event #{refused.seq})")
            evidence = [enc, req, rsp] + ([refused] if refused is not None else [])
            self.violate(f"attribute handle 0x{key[2]:04x} on {key[0]} was served on a link "
                         f"encrypted with an unauthenticated (Just Works) key, but {why}",
                         rsp.step, evidence, signature=f"{key[1]}:{key[2]}")

    def verdict(self) -> Verdict:
        return self.judged(f"{self.checked} attribute access(es) on links encrypted with a "
                           f"key of known authentication; none needing MITM protection "
                           f"served under an unauthenticated key",
                           "no attribute was accessed on a link encrypted with a key of "
                           "known authentication")
