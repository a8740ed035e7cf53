"""REPEATED-ATTEMPTS: after a pairing fails on authentication, the same peer's next Pairing
Request within the waiting interval is refused with Repeated Attempts (Core Vol 3 Part H 2.3.6).

Black-box. An authentication failure is the device's Pairing Failed with reason 0x01 Passkey
Entry Failed, 0x04 Confirm Value Failed, 0x0B DHKey Check Failed or 0x0C Numeric Comparison
Failed. A Pairing Request from the same peer address within ``window_s`` seconds of virtual time
(params or context; default 2.0) must be answered with Pairing Failed 0x09 Repeated Attempts;
any other answer fails. Without the waiting interval an attacker can try passkeys as fast as the
link allows, or probe the device's key a bit at a time.

The waiting interval may live in RAM (as in Nordic's SDK), so a restart forgets it: a power cycle
by the tester (RESET), or the device advertising another firmware image than before (application
or DFU bootloader, told apart by the Legacy DFU service in its advertising data), which takes a
reset.
"""

from __future__ import annotations

from fuzzer.oracles.base import Verdict
from fuzzer.oracles.pairing import LinkState, Pairing, PairingMonitor, peer_of
from fuzzer.protocol import smp
from fuzzer.protocol.codec import Decoded
from fuzzer.protocol.nordic_dfu import advertises_dfu
from fuzzer.trace import events as ev
from fuzzer.trace.events import Event

#: Pairing Failed reasons that mean the peer failed to authenticate.
AUTHENTICATION_FAILURES = frozenset({
    smp.PASSKEY_ENTRY_FAILED, smp.CONFIRM_VALUE_FAILED, smp.DHKEY_CHECK_FAILED,
    smp.NUMERIC_COMPARISON_FAILED,
})


class RepeatedAttempts(PairingMonitor):
    DEVICE_SMP = frozenset({"Pairing Failed"})  # and every PDU on a link with a retry
    EXTRA_KINDS = frozenset({ev.ADV})

    def configure(self) -> None:
        window = self.context.get("window_s", self.params.get("window_s", 2.0))
        try:
            self.window_us = int(float(window) * 1_000_000)
        except (TypeError, ValueError):
            self.window_us = 2_000_000

    def start(self) -> None:
        # peer -> the device's last authentication failure and its reason
        self.failures: dict[str, tuple[Event, int]] = {}
        self.support: list[Event] = []
        self.image: dict[str, bool] = {}  # device address -> advertising as a DFU bootloader

    def see(self, event: Event) -> None:
        """An advertisement: the device restarted if it now runs the other firmware image."""
        address = str((event.info or {}).get("address", ""))
        dfu = advertises_dfu(event.data)
        if self.image.setdefault(address, dfu) != dfu:
            self.image[address] = dfu
            self.failures.clear()

    def on_pairing_start(self, st: LinkState, p: Pairing, event: Event) -> None:
        last = self.failures.get(peer_of(st.link))
        if last is not None and 0 <= event.t - last[0].t <= self.window_us:
            self.notes(p)["retry"] = last
            st.watch(self)

    def on_device_smp(self, st: LinkState, p: Pairing | None, dec: Decoded, event: Event) -> None:
        reason = dec.fields.get("reason") if dec.name == "Pairing Failed" else None
        notes = p.data[self.slot] if p is not None else {}
        if "retry" in notes and not notes.get("judged"):
            notes["judged"] = True
            last, last_reason = notes["retry"]
            if reason is not None:
                # refused (0x09 Repeated Attempts is the spec's answer; a device that refuses
                # this peer's pairing for another reason also made it wait)
                self.checked += 1
                self.supported(event)
                return
            ms = (p.request.t - last.t) / 1000 if p.request is not None else 0
            answer = dec.name if reason is None else \
                f"Pairing Failed {smp.reason_name(reason)}"
            self.violate(f"peer {peer_of(st.link)} asked to pair again {ms:.0f} ms after failing "
                         f"authentication ({smp.reason_name(last_reason)})"
                         f" and the device went on with {answer} instead of Pairing Failed "
                         f"REPEATED_ATTEMPTS", event.step, [last, *p.evidence(event)],
                         signature=dec.name)
        if reason in AUTHENTICATION_FAILURES:
            self.failures[peer_of(st.link)] = (event, reason)

    def on_reset(self, event: Event) -> None:
        self.failures.clear()  # a power cycle by the tester: RAM is gone

    def verdict(self) -> Verdict:
        return self.judged(f"{self.checked} retry(ies) after an authentication failure "
                           f"refused with Repeated Attempts",
                           "no peer asked to pair again soon after failing "
                           "authentication")
