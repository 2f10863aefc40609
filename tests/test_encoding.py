"""Canonical encoding: the same object always gives the same bytes; bad bytes fail clearly."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flobc.chain.types import SignedTx, Vote
from flobc.encoding import DecodeError, decode, encode, hash_obj, sign_bytes


@given(st.dictionaries(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1), max_size=8))
def test_map_order_does_not_change_bytes(d: dict[str, int]) -> None:
    reordered = dict(reversed(list(d.items())))
    assert encode(d) == encode(reordered)
    assert hash_obj(d) == hash_obj(reordered)


def test_structs_round_trip_and_encode_as_arrays() -> None:
    v = Vote(1, 5, 0, b"\x01" * 32, 123, 2, b"s" * 64)
    data = encode(v)
    assert decode(data, Vote) == v
    assert msgspec.msgpack.decode(data)[0] == "vote"  # tag first, then fields in order


def test_decode_errors_are_clear() -> None:
    with pytest.raises(DecodeError, match="exceeds"):
        decode(b"\x00" * 10, SignedTx, max_bytes=5)
    with pytest.raises(DecodeError):
        decode(encode(["x", 1]), SignedTx)
    with pytest.raises(DecodeError):
        decode(b"\xc1", SignedTx)


def test_sign_bytes_bind_domain_and_chain() -> None:
    assert sign_bytes("a", "chain-1", 1) != sign_bytes("b", "chain-1", 1)
    assert sign_bytes("a", "chain-1", 1) != sign_bytes("a", "chain-2", 1)
