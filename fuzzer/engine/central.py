"""The honest centrals the tester plays, and what each remembers (its bonds).

A central model (specs/centrals/*.yaml) says how a real phone behaves: its pairing parameters and
what it does on reconnecting to a device it is bonded with. The ``ios`` model starts encryption
with the stored LTK at once and disconnects if that fails, as iOS does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzzer.engine.program import PeerSpec
from fuzzer.schema import Field, SpecError, load_yaml, validate

MODEL_SCHEMA = {
    "name": Field(str, required=True),
    "description": Field(str, default=""),
    "io_capability": Field(str, default="DisplayYesNo", choices=(
        "DisplayOnly", "DisplayYesNo", "KeyboardOnly", "NoInputNoOutput", "KeyboardDisplay")),
    "bonding": Field(bool, default=True),
    "mitm": Field(bool, default=False),
    "secure_connections": Field(bool, default=True),
    "max_key_size": Field(int, default=16, min=7, max=16),
    "initiator_keys": Field(list, default=lambda: ["enc", "id"],
                            items=Field(str, choices=("enc", "id", "sign"))),
    "responder_keys": Field(list, default=lambda: ["enc", "id"],
                            items=Field(str, choices=("enc", "id", "sign"))),
    "encrypt_on_reconnect": Field(bool, default=True),
    "on_encryption_failure": Field(str, default="disconnect",
                                   choices=("disconnect", "stay", "repair")),
}

IO_CODES = {"DisplayOnly": 0, "DisplayYesNo": 1, "KeyboardOnly": 2, "NoInputNoOutput": 3,
            "KeyboardDisplay": 4}
KEY_BITS = {"enc": 1, "id": 2, "sign": 4}


@dataclass
class CentralModel:
    """How one kind of central behaves."""

    name: str
    description: str
    io_capability: int
    bonding: bool
    mitm: bool
    secure_connections: bool
    max_key_size: int
    initiator_keys: int
    responder_keys: int
    encrypt_on_reconnect: bool
    on_encryption_failure: str

    @classmethod
    def load(cls, path: str | Path) -> CentralModel:
        v = validate(load_yaml(path), MODEL_SCHEMA, path)
        return cls(
            name=v["name"], description=v["description"],
            io_capability=IO_CODES[v["io_capability"]], bonding=v["bonding"], mitm=v["mitm"],
            secure_connections=v["secure_connections"],
            max_key_size=v["max_key_size"],
            initiator_keys=sum(KEY_BITS[k] for k in set(v["initiator_keys"])),
            responder_keys=sum(KEY_BITS[k] for k in set(v["responder_keys"])),
            encrypt_on_reconnect=v["encrypt_on_reconnect"],
            on_encryption_failure=v["on_encryption_failure"],
        )


@dataclass
class StoredBond:
    """What the central keeps for a device it bonded with (keys as on air)."""

    device_address: str  # the identity the device bonded under
    ltk: bytes  # the LTK the device distributed (the central encrypts with it)
    ediv: int
    rand: bytes
    key_size: int
    irk: bytes = b""
    authenticated: bool = False


@dataclass
class Peer:
    """A central the tester plays in one run: its identity, model and memory."""

    spec: PeerSpec
    model: CentralModel
    bonds: dict[str, StoredBond] = field(default_factory=dict)
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)  # address -> last ADV info
    #: the spec's name (read for every key the tester records)
    name: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.name = self.spec.name


def load_models(directory: Path) -> dict[str, CentralModel]:
    """Every central model in ``directory`` by name."""
    models = {}
    for path in sorted(directory.glob("*.yaml")):
        model = CentralModel.load(path)
        if model.name in models:
            raise SpecError(path, "name", f"duplicate central model {model.name!r}")
        models[model.name] = model
    return models
