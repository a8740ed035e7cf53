"""Device profiles: the built-in ones load; bad ones are refused with errors that name the file
and the key at fault."""

from __future__ import annotations

import shutil

import pytest
import yaml
from test_emulator_common import BUILTINS, FIXTURES, write_profile

from fuzzer.emulator.components import DEFAULTS
from fuzzer.emulator.device import Device
from fuzzer.emulator.gatt import AttServer
from fuzzer.emulator.profile import DeviceProfile
from fuzzer.profiles import UnknownDevice, builtin_profiles, resolve_profile
from fuzzer.schema import SpecError


def test_builtin_profiles_are_the_known_ones():
    assert sorted(builtin_profiles()) == sorted((*BUILTINS, "nrf52-reference"))


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_profile_loads_and_boots(name):
    profile = resolve_profile(name)
    assert profile.name == name
    assert profile.address == "C2:5A:3B:11:22:33"
    assert profile.flaws == frozenset()
    assert profile.components == DEFAULTS
    assert profile.security.min_key_size <= profile.security.max_key_size
    assert profile.bootloader.dfu_timeout_s == 120  # default filled in
    assert profile.source == str(builtin_profiles()[name])
    # by name and by path give the same profile
    assert resolve_profile(str(builtin_profiles()[name])).raw == profile.raw
    assert Device(profile).mode == "application"


def test_bond_policies_of_the_builtins():
    assert {n: resolve_profile(n).bootloader.bond_policy for n in BUILTINS} == {
        "nrf51-s110-bond-sharing": "shared",
        "nrf51-s110-custom-bootloader": "none",
        "nrf51-s110-new-identity": "new-identity",
    }


def test_unknown_device_name():
    with pytest.raises(UnknownDevice) as exc:
        resolve_profile("nrf99-nonexistent")
    assert "nrf51-s110-bond-sharing" in str(exc.value)


def test_missing_profile_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as exc:
        resolve_profile(str(missing))
    assert exc.value.file == str(missing)


# --- bad profiles --------------------------------------------------------------------------------

def _refused(path, key: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        resolve_profile(str(path))
    err = info.value
    assert err.file == str(path)
    assert err.key == key
    assert str(path) in str(err) and key in str(err)
    return err


def test_unknown_key_suggests_the_nearest(tmp_path):
    path = write_profile(tmp_path, "typo")
    data = yaml.safe_load(path.read_text())
    data["adress"] = data.pop("address")
    path.write_text(yaml.safe_dump(data))
    err = _refused(path, "adress")
    assert "unknown key" in err.message
    assert "did you mean 'address'?" in err.message


def test_unknown_nested_key_suggests_the_nearest(tmp_path):
    path = write_profile(tmp_path, "typo2", security={"min_keysize": 8})
    err = _refused(path, "security.min_keysize")
    assert "did you mean 'min_key_size'?" in err.message


def test_wrong_type(tmp_path):
    path = write_profile(tmp_path, "seven", security={"min_key_size": "seven"})
    err = _refused(path, "security.min_key_size")
    assert "expected an integer" in err.message and "'seven'" in err.message


def test_bool_is_not_an_integer(tmp_path):
    path = write_profile(tmp_path, "boolish", bootloader={"dfu_timeout_s": True})
    _refused(path, "bootloader.dfu_timeout_s")


def test_bad_choice(tmp_path):
    path = write_profile(tmp_path, "sometimes", bootloader={"bond_policy": "sometimes"})
    err = _refused(path, "bootloader.bond_policy")
    assert "none, shared, new-identity" in err.message and "'sometimes'" in err.message


@pytest.mark.parametrize("value,word", [(6, "at least"), (17, "at most")])
def test_key_size_out_of_range(tmp_path, value, word):
    path = write_profile(tmp_path, "range", security={"max_key_size": value})
    err = _refused(path, "security.max_key_size")
    assert word in err.message


def test_min_key_size_above_max_key_size(tmp_path):
    path = write_profile(tmp_path, "minmax", security={"min_key_size": 12, "max_key_size": 10})
    err = _refused(path, "security.min_key_size")
    assert "must not exceed max_key_size (10)" in err.message


def test_bad_address(tmp_path):
    path = write_profile(tmp_path, "addr", address="C2:5A:3B:11:22")
    _refused(path, "address")


def test_unknown_flaw(tmp_path):
    path = write_profile(tmp_path, "flawed", flaws=["gatt-ignores-encryption", "rowhammer"])
    err = _refused(path, "flaws[1]")
    assert "unknown flaw 'rowhammer'" in err.message
    assert "gatt-ignores-encryption" in err.message  # the known ones are listed


def test_known_flaws_load(tmp_path):
    path = write_profile(tmp_path, "ok", flaws=["gatt-ignores-encryption", "reuse-bonded-ltk",
                                                "bootloader-keeps-gpregret"])
    profile = resolve_profile(str(path))
    assert profile.flaws == {"gatt-ignores-encryption", "reuse-bonded-ltk",
                             "bootloader-keeps-gpregret"}
    assert set(profile.flaw_descriptions()) == profile.flaws


def test_unknown_component_name(tmp_path):
    path = write_profile(tmp_path, "comp", components={"radio": "x.py:Y"})
    err = _refused(path, "components.radio")
    assert "unknown component" in err.message and "gatt" in err.message


@pytest.mark.parametrize("cls", ["NotAServer", "WrongBase"])
def test_component_class_that_does_not_subclass_the_default(tmp_path, cls):
    shutil.copy(FIXTURES / "components.py", tmp_path / "components.py")
    path = write_profile(tmp_path, "notsub", components={"gatt": f"components.py:{cls}"})
    err = _refused(path, "components.gatt")
    assert "must subclass fuzzer.emulator.gatt.AttServer" in err.message


def test_component_file_missing(tmp_path):
    path = write_profile(tmp_path, "nofile", components={"gatt": "missing.py:Whatever"})
    err = _refused(path, "components.gatt")
    assert "no such file" in err.message and "missing.py" in err.message


def test_component_class_missing_from_its_file(tmp_path):
    shutil.copy(FIXTURES / "components.py", tmp_path / "components.py")
    path = write_profile(tmp_path, "noclass", components={"gatt": "components.py:Nope"})
    err = _refused(path, "components.gatt")
    assert "no class 'Nope'" in err.message


def test_component_file_that_raises(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    path = write_profile(tmp_path, "broken", components={"gatt": "broken.py:X"})
    err = _refused(path, "components.gatt")
    assert "RuntimeError: boom" in err.message


def test_component_reference_without_colon(tmp_path):
    path = write_profile(tmp_path, "nocolon", components={"gatt": "fuzzer.emulator.gatt"})
    err = _refused(path, "components.gatt")
    assert "module:Class" in err.message


def test_component_by_module_path(tmp_path):
    path = write_profile(tmp_path, "bymodule",
                         components={"gatt": "fuzzer.emulator.gatt:AttServer"})
    assert resolve_profile(str(path)).components["gatt"] is AttServer


def test_replacement_component_brings_its_own_flaw(tmp_path):
    shutil.copy(FIXTURES / "components.py", tmp_path / "components.py")
    path = write_profile(tmp_path, "quirky", components={"gatt": "components.py:QuirkyAttServer"},
                         flaws=["quirky-gatt"])
    profile = resolve_profile(str(path))
    assert profile.components["gatt"].__name__ == "QuirkyAttServer"
    assert issubclass(profile.components["gatt"], AttServer)
    assert "quirky-gatt" in profile.flaws
    dev = Device(profile)
    assert type(dev.firmware.att).__name__ == "QuirkyAttServer"
    # without the replacement the flaw is unknown
    plain = write_profile(tmp_path, "plain", flaws=["quirky-gatt"])
    _refused(plain, "flaws[0]")


def test_invalid_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(SpecError) as exc:
        DeviceProfile.load(path)
    assert exc.value.file == str(path) and "invalid YAML" in exc.value.message


def test_missing_required_key(tmp_path):
    path = tmp_path / "noaddr.yaml"
    path.write_text("name: x\n")
    err = _refused(path, "address")
    assert "missing required key" in err.message


def test_minimal_profile_gets_section_defaults(tmp_path):
    path = tmp_path / "minimal.yaml"
    path.write_text('name: minimal\naddress: "C2:5A:3B:11:22:33"\n')
    profile = resolve_profile(str(path))
    assert profile.security.min_key_size == 7
    assert profile.application.name == "Nordic_HRM"
    assert profile.bootloader.bond_policy == "none"
    assert Device(profile).mode == "application"


def test_partial_section_keeps_the_other_defaults(tmp_path):
    path = tmp_path / "partial.yaml"
    path.write_text('name: partial\naddress: "C2:5A:3B:11:22:33"\n'
                    'bootloader: {bond_policy: shared}\n')
    profile = resolve_profile(str(path))
    assert profile.bootloader.bond_policy == "shared"
    assert profile.bootloader.name == "DfuTarg" and profile.bootloader.pairing is False
    assert profile.security.max_key_size == 16
