"""Property: an honest legacy pairing (Just Works or Passkey Entry), with random keys, nonces and
key sizes, ends with both sides holding the same keys and an encrypted link."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzer.emulator.profile import DeviceProfile
from fuzzer.engine.central import load_models
from fuzzer.engine.procedures import PROCEDURES
from fuzzer.engine.program import Program
from fuzzer.engine.runner import Runner
from fuzzer.paths import specs_dir
from fuzzer.targets.emulator import EmulatorTarget
from fuzzer.trace import events as ev

MODELS = load_models(specs_dir() / "centrals")


def _profile(io: str, passkey: int | None) -> DeviceProfile:
    sec = {"io_capability": io}
    if passkey is not None:
        sec["passkey"] = passkey
    return DeviceProfile.from_dict({"name": "prop", "address": "C2:5A:3B:11:22:33",
                                    "security": sec}, "<test>")


def _program(args: dict) -> Program:
    return Program.from_dict({
        "name": "pair", "peers": {"phone": {"address": "4C:57:CA:10:20:30"}},
        "steps": [{"op": "connect", "peer": "phone", "to": "app"},
                  {"op": "pair", "peer": "phone", **args},
                  {"op": "read", "peer": "phone", "uuid": "2A38"}],
    }, "<test>", set(PROCEDURES))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), key_size=st.integers(7, 16),
       passkey=st.one_of(st.none(), st.integers(0, 999_999)))
def test_honest_pairing_agrees(seed: int, key_size: int, passkey: int | None) -> None:
    profile = _profile("DisplayOnly" if passkey is not None else "NoInputNoOutput", passkey)
    target = EmulatorTarget(profile, seed=seed)
    runner = Runner(target, MODELS, seed=seed)
    args = {"key_size": key_size}
    if passkey is not None:
        args["passkey"] = passkey
    runner.run_program(_program(args))
    events = runner.trace.events
    bond = [e for e in events if e.kind == ev.BOND]
    assert len(bond) == 1, [e for e in events if e.kind == ev.NOTE]
    device_bonds = target.device.firmware.bonds.bonds
    assert len(device_bonds) == 1
    stored = device_bonds[0]
    # the LTK the device distributed is the one it will accept, and the tester holds it
    assert stored.ltk.hex() == bond[0].info["ltk"]
    assert stored.ediv == bond[0].info["ediv"] and stored.rand.hex() == bond[0].info["rand"]
    assert stored.key_size == key_size == bond[0].info["key_size"]
    # masked to the negotiated size (Vol 3 Part H 2.3.4): the top 16 - size octets are zero
    assert not any(stored.ltk[key_size:])
    assert stored.authenticated == (passkey is not None)
    # the protected characteristic is served on the encrypted link
    answers = [e for e in events if e.kind == ev.PDU and e.layer == "att" and e.src == "device"]
    assert answers[-1].data[0] == 0x09 and answers[-1].link.encrypted


def test_wrong_passkey_fails_with_confirm_value_failed() -> None:
    target = EmulatorTarget(_profile("DisplayOnly", 123456), seed=3)
    runner = Runner(target, MODELS, seed=3)
    runner.run_program(_program({"passkey": 654321}))
    failed = [e for e in runner.trace.events if e.kind == ev.PDU and e.layer == "smp"
              and e.src == "device" and e.data[0] == 0x05]
    assert failed and failed[0].data[1] == 0x04  # Pairing Failed: Confirm Value Failed
    assert not target.device.firmware.bonds.bonds


IO_NAMES = ["DisplayOnly", "DisplayYesNo", "KeyboardOnly", "NoInputNoOutput", "KeyboardDisplay"]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), key_size=st.integers(7, 16),
       device_io=st.sampled_from(IO_NAMES), tester_io=st.sampled_from(IO_NAMES),
       mitm=st.booleans(), passkey=st.integers(0, 999_999))
def test_honest_secure_connections_pairing_agrees(seed, key_size, device_io, tester_io, mitm,
                                                  passkey) -> None:
    """Every LE Secure Connections association model (Just Works, Numeric Comparison, Passkey
    Entry) ends with the same LTK on both sides, masked to the negotiated size."""
    profile = DeviceProfile.from_dict({
        "name": "sc", "address": "C2:5A:3B:11:22:33",
        "security": {"secure_connections": True, "io_capability": device_io,
                     "passkey": passkey}}, "<test>")
    target = EmulatorTarget(profile, seed=seed)
    runner = Runner(target, MODELS, seed=seed)
    runner.run_program(_program({"key_size": key_size, "io_capability": tester_io,
                                 "mitm": mitm, "passkey": passkey}))
    bond = [e.info for e in runner.trace.events if e.kind == ev.BOND]
    assert len(bond) == 1, [e.info for e in runner.trace.events if e.kind == ev.NOTE]
    assert bond[0]["secure_connections"]
    stored = target.device.firmware.bonds.bonds
    assert len(stored) == 1 and stored[0].secure_connections
    assert stored[0].ltk.hex() == bond[0]["ltk"]
    assert not any(stored[0].ltk[key_size:])
    authenticated = bond[0]["method"] != "just_works"
    assert stored[0].authenticated == bond[0]["authenticated"] == authenticated
    if not mitm:
        assert bond[0]["method"] == "just_works"
    answers = [e for e in runner.trace.events
               if e.kind == ev.PDU and e.layer == "att" and e.src == "device"]
    assert answers[-1].data[0] == 0x09 and answers[-1].link.encrypted


def test_secure_connections_oob() -> None:
    """OOB: the device holds the tester's (r, C = f4(PKx, PKx, r, 0)) from out of band."""
    from fuzzer.crypto import p256
    from fuzzer.crypto.sc import f4

    private = 0x1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF
    r = bytes(range(16))
    pkx = p256.keypair_from_private(private).public_x
    confirm = f4(pkx, pkx, r, 0)
    profile = DeviceProfile.from_dict({
        "name": "oob", "address": "C2:5A:3B:11:22:33",
        "security": {"secure_connections": True, "oob": {
            "peer_r": r[::-1].hex(), "peer_confirm": confirm[::-1].hex()}}}, "<test>")
    args = {"oob_private_key": f"{private:064x}", "oob_r": r[::-1].hex()}
    target = EmulatorTarget(profile, seed=1)
    runner = Runner(target, MODELS, seed=1)
    runner.run_program(_program(args))
    bond = [e.info for e in runner.trace.events if e.kind == ev.BOND]
    assert bond and bond[0]["method"] == "oob" and bond[0]["authenticated"]
    # with another key pair the device's check of the OOB confirm value fails
    args["oob_private_key"] = f"{private + 1:064x}"
    target = EmulatorTarget(profile, seed=1)
    runner = Runner(target, MODELS, seed=1)
    runner.run_program(_program(args))
    failed = [e for e in runner.trace.events if e.kind == ev.PDU and e.layer == "smp"
              and e.src == "device" and e.data[0] == 0x05]
    assert failed and failed[0].data[1] == 0x04


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), tk=st.binary(min_size=16, max_size=16),
       key_size=st.integers(7, 16))
def test_honest_legacy_oob_pairing_agrees(seed: int, tk: bytes, key_size: int) -> None:
    """Legacy OOB: both sides hold the same 128-bit TK from out of band."""
    profile = DeviceProfile.from_dict({
        "name": "oob", "address": "C2:5A:3B:11:22:33",
        "security": {"oob": {"legacy_tk": tk.hex()}}}, "<test>")
    target = EmulatorTarget(profile, seed=seed)
    runner = Runner(target, MODELS, seed=seed)
    runner.run_program(_program({"sc": False, "oob_tk": tk.hex(), "key_size": key_size}))
    bond = [e.info for e in runner.trace.events if e.kind == ev.BOND]
    assert bond and bond[0]["method"] == "oob" and bond[0]["authenticated"]
    assert target.device.firmware.bonds.bonds[0].ltk.hex() == bond[0]["ltk"]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), private=st.integers(1, 2**255),
       r=st.binary(min_size=16, max_size=16), key_size=st.integers(7, 16))
def test_honest_secure_connections_oob_pairing_agrees(seed, private, r, key_size) -> None:
    """SC OOB with a random key pair and random r given to the device out of band."""
    from fuzzer.crypto import p256
    from fuzzer.crypto.sc import f4

    pkx = p256.keypair_from_private(private).public_x
    profile = DeviceProfile.from_dict({
        "name": "oob", "address": "C2:5A:3B:11:22:33",
        "security": {"secure_connections": True, "oob": {
            "peer_r": r[::-1].hex(), "peer_confirm": f4(pkx, pkx, r, 0)[::-1].hex()}}},
        "<test>")
    target = EmulatorTarget(profile, seed=seed)
    runner = Runner(target, MODELS, seed=seed)
    runner.run_program(_program({"oob_private_key": f"{private:064x}", "oob_r": r[::-1].hex(),
                                 "key_size": key_size}))
    bond = [e.info for e in runner.trace.events if e.kind == ev.BOND]
    assert bond and bond[0]["method"] == "oob" and bond[0]["secure_connections"]
    stored = target.device.firmware.bonds.bonds
    assert bond[0]["debug_key"] == (private == p256.DEBUG_PRIVATE_KEY)
    if private == p256.DEBUG_PRIVATE_KEY:
        # a key from the debug key pair is not kept as a bond outside debug mode (2.3.5.6.1)
        assert stored == []
        return
    assert stored[0].ltk.hex() == bond[0]["ltk"] and not any(stored[0].ltk[key_size:])


def test_oob_pairing_with_the_debug_key_pair_leaves_no_bond_on_the_device() -> None:
    from fuzzer.crypto import p256

    test_honest_secure_connections_oob_pairing_agrees.hypothesis.inner_test(
        0, p256.DEBUG_PRIVATE_KEY, bytes(16), 7)


def test_keypress_notifications_both_ways() -> None:
    """With Keypress set on both sides, the side that types sends keypress notifications."""
    profile = DeviceProfile.from_dict({
        "name": "kp", "address": "C2:5A:3B:11:22:33",
        "security": {"secure_connections": True, "io_capability": "DisplayOnly",
                     "passkey": 4242, "keypress": True}}, "<test>")
    target = EmulatorTarget(profile, seed=2)
    runner = Runner(target, MODELS, seed=2)
    runner.run_program(_program({"passkey": 4242, "keypress": True,
                                 "io_capability": "KeyboardOnly"}))
    sent = [e for e in runner.trace.events if e.kind == ev.PDU and e.layer == "smp"
            and e.src == "tester" and e.data[0] == 0x0E]
    assert [e.data[1] for e in sent] == [0, 1, 1, 1, 1, 1, 1, 4]
    assert [e for e in runner.trace.events if e.kind == ev.BOND]
