"""The wire format of model weights and updates: raw little-endian float32 bytes, named by
their SHA-256.

Lives beside :mod:`flobc.encoding` rather than in :mod:`flobc.ml` because block execution
(``app/fl``) must read and hash the same bytes without importing the ML library;
:mod:`flobc.ml.weights` re-exports it. Every encode, decode and weights hash goes through
here so that every node produces identical bytes.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from flobc.encoding import sha256

#: The element type of every weights vector and update on the wire.
DTYPE = np.dtype("<f4")


class Sized(Protocol):
    """Anything that knows its element count (e.g. :class:`flobc.ml.weights.ModelSpec`)."""

    @property
    def size(self) -> int: ...


def as_wire_vector(values: object) -> np.ndarray:
    """``values`` as a contiguous little-endian float32 vector (no copy when it is one).

    Raises ``ValueError`` when ``values`` is not one-dimensional.
    """
    v = np.asarray(values)
    if v.ndim != 1:
        raise ValueError(f"weights must be a 1-D vector, got shape {v.shape}")
    return np.ascontiguousarray(v, dtype=DTYPE)


def encode_vector(vec: object) -> bytes:
    """Raw little-endian float32 bytes of a 1-D weights vector."""
    return as_wire_vector(vec).tobytes()


def weights_hash(vec: object) -> bytes:
    """SHA-256 of the little-endian float32 bytes of ``vec`` (the id the ledger records)."""
    return sha256(encode_vector(vec))


def vector_view(data: bytes) -> np.ndarray:
    """A read-only float32 view of ``data``, unchecked: for blobs already known good (found
    by the hash the ledger records). Raises ``ValueError`` when the length is not a
    multiple of 4."""
    if len(data) % DTYPE.itemsize:
        raise ValueError(f"weights payload is {len(data)} bytes, not a multiple of 4")
    return np.frombuffer(data, dtype=DTYPE)


def decode_vector(data: bytes, spec: Sized | int, *, require_finite: bool = True) -> np.ndarray:
    """Parse bytes from :func:`encode_vector` into a writable float32 vector.

    ``spec`` is a model spec or the expected element count. Raises ``ValueError`` on a
    length mismatch, and (unless ``require_finite=False``) on NaN or infinite values.
    """
    expected = int(spec) if isinstance(spec, int) else int(spec.size)
    if len(data) != DTYPE.itemsize * expected:
        raise ValueError(
            f"weights payload is {len(data)} bytes; expected {4 * expected} "
            f"({expected} little-endian float32 values)"
        )
    vec = np.frombuffer(data, dtype=DTYPE).astype(np.float32, copy=True)
    if require_finite and not np.isfinite(vec).all():
        bad = int(np.count_nonzero(~np.isfinite(vec)))
        raise ValueError(f"weights payload contains {bad} non-finite values (NaN/inf)")
    return vec


__all__ = [
    "DTYPE",
    "Sized",
    "as_wire_vector",
    "decode_vector",
    "encode_vector",
    "vector_view",
    "weights_hash",
]
