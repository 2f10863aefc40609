"""RFC 6962 Merkle tree hash, with leaf/node domain separation."""

from __future__ import annotations

from collections.abc import Sequence

from flobc.encoding import sha256

_EMPTY = sha256(b"")


def _leaf(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def _node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def merkle_root(items: Sequence[bytes]) -> bytes:
    """The RFC 6962 Merkle Tree Hash of ``items`` (SHA-256 of empty for no items)."""
    if not items:
        return _EMPTY
    level = [_leaf(x) for x in items]
    while len(level) > 1:
        # RFC 6962 splits at the largest power of two below n; pairing left to right and
        # promoting an odd last node gives the same tree.
        nxt = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
