"""BOND-GATE: an attribute that requires encryption is never served on an unencrypted link.

Black-box. An attribute is known to require encryption when the suite declares it (by UUID, the
product's own security requirements) or when the device itself refused it for lack of
encryption or authentication (ATT errors 0x05, 0x0C, 0x0F; Core Vol 3 Part F 3.4.1.1). An access
that the device served (Read, Read Blob, Read By Type, Write responses) on a link that was not
encrypted is a violation for such an attribute, whichever came first.
"""

from __future__ import annotations

import functools

from fuzzer.oracles.att_access import served_by
from fuzzer.oracles.base import INCONCLUSIVE, PASS, Monitor, Verdict
from fuzzer.protocol import att, gatt
from fuzzer.trace import events as ev
from fuzzer.trace.describe import decode
from fuzzer.trace.events import Event, Trace

_PDU = frozenset({ev.PDU})
_REFUSALS = {att.INSUFFICIENT_AUTHENTICATION, att.INSUFFICIENT_ENCRYPTION,
             att.INSUFFICIENT_ENCRYPTION_KEY_SIZE}


@functools.lru_cache(maxsize=256)
def _on_air(uuid: str | int) -> bytes:
    """A suite's UUID in on-air octets (the suite names the same ones for every trace)."""
    return gatt.uuid_to_le(uuid)


class EncryptedAttributeGate(Monitor):
    KINDS = frozenset({ev.ADV, ev.CONNECT, ev.PDU})
    LAYERS = frozenset({"att"})

    def configure(self) -> None:
        declared = self.context.get("protected_characteristics", []) or []
        self.protected_uuids = {_on_air(u) if isinstance(u, (str, int)) else gatt.uuid_to_le(u)
                                for u in declared}

    def start(self) -> None:
        # (device address, adv name) identifies one GATT database (application or bootloader)
        self.protected_handles: dict[tuple, Event] = {}
        self.uuid_of: dict[tuple, bytes] = {}
        self.served: list[tuple[tuple, bytes | None, Event, Event]] = []
        self.refused_seen: list[Event] = []
        self.adv_name: dict[str, str] = {}
        self.db = ("", "")
        self.request: Event | None = None
        self.checked = 0

    def listen(self, trace: Trace) -> None:
        """Listen to ADV and CONNECT events, the tester's ATT PDUs and the device's, each kind
        with its handler."""
        trace.subscribe(self.on_adv, frozenset({ev.ADV}))
        trace.subscribe(self.on_connect, frozenset({ev.CONNECT}))
        trace.subscribe(self.on_request, _PDU, self.LAYERS, frozenset({ev.TESTER}))
        trace.subscribe(self.on_answer, _PDU, self.LAYERS, frozenset({ev.DEVICE}))

    def observe(self, event: Event) -> None:
        """Take one event (a monitor fed alone; on a trace, each kind of event goes to its
        handler directly)."""
        kind = event.kind
        if kind == ev.ADV:
            self.on_adv(event)
        elif kind == ev.CONNECT:
            self.on_connect(event)
        elif kind == ev.PDU and event.layer == "att":
            if event.src == ev.TESTER:
                self.on_request(event)
            elif event.src == ev.DEVICE:
                self.on_answer(event)

    def on_adv(self, event: Event) -> None:
        """An advertiser's name: a GATT database belongs to an address and name."""
        self.adv_name[event.info["address"]] = event.info.get("name", "")

    def on_connect(self, event: Event) -> None:
        """A new link: to the GATT database of the device's address and name."""
        addr = event.info["peripheral_address"]
        self.db = (addr, self.adv_name.get(addr, ""))
        self.request = None

    def on_request(self, event: Event) -> None:
        """A tester ATT PDU: a request (not a command) awaits the device's answer."""
        dec = event.memo or decode(event)
        if dec is not None and not dec.opcode & att.COMMAND_FLAG:
            self.request = event

    def on_answer(self, event: Event) -> None:
        """A device ATT PDU: the answer to the last request, a refusal or attributes served."""
        dec = event.memo or decode(event)
        req = self.request
        if dec is None or req is None:
            return
        rq = req.memo or decode(req)
        if rq is None:
            return
        self.request = None
        f, rf = dec.fields, rq.fields
        if dec.name == "Error Response":
            if f.get("error_code") in _REFUSALS:
                self.refused_seen.append(event)
                handle = f.get("attribute_handle_in_error", 0)
                self.protected_handles.setdefault((*self.db, handle), event)
                if rq.name == "Read By Type Request":
                    self.uuid_of[(*self.db, handle)] = rf.get("attribute_type", b"")
            return
        encrypted = event.link is not None and event.link.encrypted
        for handle, uuid, _value in served_by((req.data, event.data), rq, dec):
            key = (*self.db, handle)
            if uuid:
                self.uuid_of[key] = uuid
            self.checked += 1
            if not encrypted:
                self.served.append((key, uuid, req, event))

    def close(self) -> None:
        """Judge every access served on an unencrypted link, now that all refusals are known."""
        for key, uuid, req, rsp in self.served:
            uuid = uuid or self.uuid_of.get(key)
            declared = uuid is not None and uuid in self.protected_uuids
            refused = self.protected_handles.get(key)
            if declared or refused is not None:
                why = ("the suite declares it requires encryption" if declared else
                       f"the device itself refused it for lack of security (event "
                       f"#{refused.seq})")
                evidence = [req, rsp] + ([refused] if refused is not None else [])
                self.violate(
                    f"attribute handle 0x{key[2]:04x} on {key[0]} was served on an unencrypted "
                    f"link, but {why}", rsp.step, evidence, signature=f"{key[1]}:{key[2]}")

    def verdict(self) -> Verdict:
        if self.violations:
            return self.failed()
        if self.refused_seen or self.checked:
            return Verdict(PASS, f"{len(self.refused_seen)} refusal(s) on unencrypted links; no "
                                 f"protected attribute served without encryption",
                           support=self.refused_seen, checked=self.checked)
        return Verdict(INCONCLUSIVE, "no attribute access was observed")
