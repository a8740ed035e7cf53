"""Pairing method selection from IO capabilities (Core Vol 3 Part H 2.3.5.1, Table 2.8).

Used by both the emulated responder and the tester's initiator, so both sides choose alike.
"""

from __future__ import annotations

DISPLAY_ONLY, DISPLAY_YES_NO, KEYBOARD_ONLY, NO_INPUT_NO_OUTPUT, KEYBOARD_DISPLAY = range(5)
IO_CAPABILITY_NAMES = {
    DISPLAY_ONLY: "DisplayOnly", DISPLAY_YES_NO: "DisplayYesNo", KEYBOARD_ONLY: "KeyboardOnly",
    NO_INPUT_NO_OUTPUT: "NoInputNoOutput", KEYBOARD_DISPLAY: "KeyboardDisplay",
}
IO_CAPABILITY_CODES = {v: k for k, v in IO_CAPABILITY_NAMES.items()}

JUST_WORKS = "just_works"
PASSKEY_INITIATOR_INPUTS = "passkey_initiator_inputs"  # responder displays, initiator types
PASSKEY_RESPONDER_INPUTS = "passkey_responder_inputs"  # initiator displays, responder types
PASSKEY_BOTH_INPUT = "passkey_both_input"

_J, _PI, _PR, _PB = JUST_WORKS, PASSKEY_INITIATOR_INPUTS, PASSKEY_RESPONDER_INPUTS, \
    PASSKEY_BOTH_INPUT
# Legacy pairing: _LEGACY[responder io][initiator io]
_LEGACY = {
    DISPLAY_ONLY: (_J, _J, _PI, _J, _PI),
    DISPLAY_YES_NO: (_J, _J, _PI, _J, _PI),
    KEYBOARD_ONLY: (_PR, _PR, _PB, _J, _PR),
    NO_INPUT_NO_OUTPUT: (_J, _J, _J, _J, _J),
    KEYBOARD_DISPLAY: (_PR, _PR, _PI, _J, _PI),
}


def legacy_method(initiator_io: int, responder_io: int, initiator_mitm: bool,
                  responder_mitm: bool) -> str:
    """The legacy pairing method (2.3.5.1): Just Works unless either side asks for MITM
    protection, then the IO capability table decides. Unknown IO capabilities give Just Works
    (callers reject reserved values before asking)."""
    if not (initiator_mitm or responder_mitm):
        return JUST_WORKS
    row = _LEGACY.get(responder_io)
    if row is None or not 0 <= initiator_io < len(row):
        return JUST_WORKS
    return row[initiator_io]


NUMERIC_COMPARISON = "numeric_comparison"
OOB = "oob"
_NC = NUMERIC_COMPARISON
# LE Secure Connections: _SC[responder io][initiator io] (Vol 3 Part H 2.3.5.1, Table 2.8)
_SC = {
    DISPLAY_ONLY: (_J, _J, _PI, _J, _PI),
    DISPLAY_YES_NO: (_J, _NC, _PI, _J, _NC),
    KEYBOARD_ONLY: (_PR, _PR, _PB, _J, _PR),
    NO_INPUT_NO_OUTPUT: (_J, _J, _J, _J, _J),
    KEYBOARD_DISPLAY: (_PR, _NC, _PI, _J, _NC),
}


def sc_method(initiator_io: int, responder_io: int, initiator_mitm: bool, responder_mitm: bool,
              initiator_oob: bool, responder_oob: bool) -> str:
    """The LE Secure Connections pairing method (2.3.5.1, Tables 2.6–2.8): OOB when either side
    has the peer's OOB data, else Just Works unless either side asks for MITM protection, else
    the IO capability table."""
    if initiator_oob or responder_oob:
        return OOB
    if not (initiator_mitm or responder_mitm):
        return JUST_WORKS
    row = _SC.get(responder_io)
    if row is None or not 0 <= initiator_io < len(row):
        return JUST_WORKS
    return row[initiator_io]


def legacy_method_with_oob(initiator_io: int, responder_io: int, initiator_mitm: bool,
                           responder_mitm: bool, initiator_oob: bool, responder_oob: bool) -> str:
    """Legacy pairing: OOB only when both sides have OOB data (Table 2.6), else as
    :func:`legacy_method`."""
    if initiator_oob and responder_oob:
        return OOB
    return legacy_method(initiator_io, responder_io, initiator_mitm, responder_mitm)


def is_authenticated(method: str) -> bool:
    """Whether keys from ``method`` are MITM-protected (everything but Just Works)."""
    return method != JUST_WORKS
