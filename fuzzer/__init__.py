"""blefuzz: stateful fuzzer and conformance checker for BLE pairing, encryption and Nordic DFU."""

__version__ = "0.1.0"
