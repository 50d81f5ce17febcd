"""Counter-based randomness for the simulated market.

Everything random in the simulator is a pure function of the seed and a *name* (symbol,
day, chunk, contract, minute), never of call order or process: two processes built with the
same settings compute identical markets without sharing state. Two tools:

- :func:`stream`: a numpy ``Generator`` over a Philox stream whose 128-bit key is a stable
  hash of (seed, parts), for drawing vectors (a day's minute increments, a chunk of daily
  returns).
- :func:`mix64` / :func:`hash_uniform`: a vectorised splitmix64 finaliser, for one number per
  (contract, minute) without building a generator (stale/crossed quotes, quote sizes).

Python's own ``hash()`` is salted per process, so identities are hashed with BLAKE2b.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

U64Array = npt.NDArray[np.uint64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_TWO_POW_53 = float(1 << 53)


def stable_hash64(*parts: object) -> int:
    """A 64-bit hash of ``parts`` (their ``str``), identical in every process and run."""
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def stream(seed: int, *parts: object) -> np.random.Generator:
    """An independent Philox stream named by (seed, parts)."""
    digest = hashlib.blake2b(
        "\x1f".join(str(p) for p in (seed, *parts)).encode(), digest_size=16
    ).digest()
    key = np.frombuffer(digest, dtype=np.uint64).copy()
    return np.random.Generator(np.random.Philox(key=key))


def mix64(values: U64Array) -> U64Array:
    """splitmix64 finaliser applied elementwise (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        z = values + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MUL1
        z = (z ^ (z >> np.uint64(27))) * _MUL2
        return z ^ (z >> np.uint64(31))


def combine(a: U64Array, b: U64Array | int) -> U64Array:
    """Hash-combine two uint64 identities (order matters)."""
    other = np.asarray(b, dtype=np.uint64) if not isinstance(b, int) else np.uint64(b)
    return mix64(a ^ mix64(np.asarray(other, dtype=np.uint64)))


def hash_uniform(values: U64Array) -> npt.NDArray[np.float64]:
    """Uniform [0, 1) floats from uint64 hashes (the top 53 bits)."""
    return (values >> np.uint64(11)).astype(np.float64) / _TWO_POW_53
