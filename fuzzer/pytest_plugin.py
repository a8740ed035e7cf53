"""pytest plugin (entry point ``blefuzz``): fixtures for running blefuzz from a test suite.

``blefuzz_emulator(profile_name, seed=0)`` gives an emulator target for a built-in profile or a
profile YAML, so a firmware team can script its own checks against the emulated device.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def blefuzz_emulator():
    from fuzzer.profiles import resolve_profile
    from fuzzer.targets.emulator import EmulatorTarget

    def make(device: str, seed: int = 0) -> EmulatorTarget:
        return EmulatorTarget(resolve_profile(device), seed=seed)

    return make
