"""Canonical binary encoding and hashing.

Every object that is signed or hashed is a :class:`msgspec.Struct` declared with
``array_like=True``: it encodes as a MessagePack array in field-declaration order, so
the same object always yields the same bytes. Maps are encoded with sorted keys.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

#: Upper bound on any single encoded message accepted from the network (a message may carry
#: one model-sized blob, e.g. 2.4 MB for the paper's CNN).
MAX_MESSAGE_BYTES = 32 * 1024 * 1024

_encoder = msgspec.msgpack.Encoder(order="deterministic")


class DecodeError(ValueError):
    """Raised when bytes from outside do not decode to the expected type."""


def encode(obj: Any) -> bytes:
    """Encode ``obj`` canonically (MessagePack, deterministic map order)."""
    return _encoder.encode(obj)


_decoders: dict[Any, msgspec.msgpack.Decoder] = {}


def decode(data: bytes, typ: type[T], *, max_bytes: int = MAX_MESSAGE_BYTES) -> T:
    """Decode and validate ``data`` as ``typ``; raise :class:`DecodeError` on any problem."""
    if len(data) > max_bytes:
        raise DecodeError(f"message of {len(data)} bytes exceeds the limit of {max_bytes}")
    dec = _decoders.get(typ)
    if dec is None:
        dec = _decoders[typ] = msgspec.msgpack.Decoder(typ)
    try:
        return dec.decode(data)
    except msgspec.DecodeError as exc:  # includes ValidationError
        raise DecodeError(str(exc)) from exc


def sha256(data: bytes) -> bytes:
    """SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()


def hash_obj(obj: Any) -> bytes:
    """SHA-256 of the canonical encoding of ``obj``."""
    return sha256(encode(obj))


def sign_bytes(domain: str, chain_id: str, *fields: Any) -> bytes:
    """Bytes to sign: a domain tag and the chain id bind a signature to one purpose, one chain."""
    return encode([domain, chain_id, *fields])
