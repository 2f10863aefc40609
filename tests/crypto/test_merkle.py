"""The Merkle root matches RFC 6962 (Certificate Transparency's reference test vectors)."""

from __future__ import annotations

import hashlib

from flobc.crypto.merkle import merkle_root

LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    bytes(range(0x60, 0x70)),
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_rfc6962_vectors() -> None:
    for n, root in enumerate(ROOTS, start=1):
        assert merkle_root(LEAVES[:n]).hex() == root, f"{n} leaves"


def test_empty_tree_is_hash_of_nothing() -> None:
    assert merkle_root([]) == hashlib.sha256(b"").digest()


def test_leaf_and_node_domains_differ() -> None:
    # A two-leaf tree must not equal a single leaf holding the two hashes concatenated.
    a, b = b"a", b"b"
    la = hashlib.sha256(b"\x00" + a).digest()
    lb = hashlib.sha256(b"\x00" + b).digest()
    assert merkle_root([a, b]) != merkle_root([la + lb])
    assert merkle_root([a, b]) == hashlib.sha256(b"\x01" + la + lb).digest()
