"""AES-128 building blocks for the Bluetooth LE security functions.

Byte order: every public function in ``fuzzer.crypto`` takes and returns bytes in
little-endian order, as the values are carried on air in SMP and LL PDUs. The
Core Specification prints values most significant octet first, so a spec sample
``SPEC_HEX`` corresponds to ``bytes.fromhex(SPEC_HEX)[::-1]`` here.

The one exception is :func:`aes_cmac`, an internal helper that works in the
spec's (MSB-first) order, exactly as RFC 4493 defines AES-CMAC.

The AES block cipher itself comes from the ``cryptography`` package. Building a
``Cipher`` costs several microseconds, reusing an encryptor a fraction of one, so
encryptors (and CMAC templates) are cached per key in bounded FIFO caches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

__all__ = ["BoundedCache", "aes_cmac", "aes_ecb", "e"]

K = TypeVar("K")
V = TypeVar("V")

#: Default number of keys kept in each per-key cache.
CACHE_SIZE = 256


class BoundedCache(dict[K, V]):
    """A dict holding at most ``maxsize`` entries, evicting the oldest.

    Values are built on a miss by ``factory(key)``: ``cache[key]`` and ``cache.get(key)``
    both return the cached value, building it first if needed. Eviction is first-in
    first-out, which costs nothing on a hit (no reordering) and is enough for the fuzzer's
    access pattern: a handful of keys in use at once, replaced as pairings go on.
    """

    __slots__ = ("_factory", "_maxsize")

    def __init__(self, factory: Callable[[K], V], maxsize: int = CACHE_SIZE) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        super().__init__()
        self._factory = factory
        self._maxsize = maxsize

    def __missing__(self, key: K) -> V:
        value = self._factory(key)
        if len(self) >= self._maxsize:
            # dicts keep insertion order: the first key is the oldest entry.
            del self[next(iter(self))]
        self[key] = value
        return value

    def get(self, key: K) -> V:  # type: ignore[override]
        """Return the cached value for ``key``, building (and caching) it on a miss."""
        return self[key]


def _new_ecb_encryptor(key: bytes) -> CipherContext:
    # ECB keeps no state between blocks, so one encryptor serves every block. Every key here
    # is 16 octets: AES128 (a fixed key size) checks less than AES.
    return Cipher(algorithms.AES128(key), modes.ECB()).encryptor()


_ECB = BoundedCache[bytes, CipherContext](_new_ecb_encryptor)
# Untouched CMAC objects by key, templates for CMAC.copy() (a copy costs a third of a new
# CMAC); FIFO-bounded like BoundedCache, filled inline by aes_cmac (most keys are new).
_CMAC: dict[bytes, CMAC] = {}
_AES128 = algorithms.AES128


def _check_len(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")


def aes_ecb(key: bytes, block: bytes) -> bytes:
    """Return AES-128(key, block) in FIPS-197 byte order (first byte = MSB).

    Internal helper: no byte reversal is done. ``key`` and ``block`` are 16 bytes.
    """
    _check_len("key", key, 16)
    _check_len("block", block, 16)
    return _ECB[bytes(key)].update(block)


def e(key: bytes, plaintext: bytes) -> bytes:
    """Return the security function e(key, plaintextData), little-endian in and out.

    Core Spec Vol 3 Part H 2.2.1: e is AES-128 with the most significant octet of
    key and data fed to AES first. With the on-air (little-endian) convention that
    means: reverse key, reverse data, AES-128-ECB, reverse the result.
    """
    if len(key) != 16 or len(plaintext) != 16:
        _check_len("key", key, 16)
        _check_len("plaintext", plaintext, 16)
    return _ECB[bytes(key[::-1])].update(plaintext[::-1])[::-1]


def aes_cmac(key: bytes, message: bytes) -> bytes:
    """Return AES-CMAC(key, message) (RFC 4493), all in spec (MSB-first) order.

    Core Spec Vol 3 Part H 2.2.5 defines the LE Secure Connections functions
    f4..h7 on top of AES-CMAC with a 128-bit key; this is that primitive. Unlike
    the rest of ``fuzzer.crypto`` it does NOT use the little-endian convention.
    """
    if len(key) != 16:
        _check_len("key", key, 16)
    if type(key) is not bytes:
        key = bytes(key)
    template = _CMAC.get(key)
    if template is not None:
        mac = template.copy()
    else:
        mac = CMAC(_AES128(key))
        if len(_CMAC) >= CACHE_SIZE:
            del _CMAC[next(iter(_CMAC))]  # the oldest key (dicts keep insertion order)
        _CMAC[key] = mac.copy()
    mac.update(message)
    return mac.finalize()
