"""Simulated disks share a blob's bytes but keep their own set of blobs."""

from __future__ import annotations

import pytest

from flobc.chain.blobs import BlobTooLarge
from flobc.encoding import sha256
from flobc.sim.ledger import PooledBlobStore, SimLedger


def test_disks_hold_their_own_blobs_over_shared_bytes() -> None:
    pool: dict[bytes, bytes] = {}
    a, b = PooledBlobStore(pool), PooledBlobStore(pool)
    h = a.put(b"delta" * 100)
    assert h == sha256(b"delta" * 100) and a.has(h) and not b.has(h)
    assert b.put(bytes(bytearray(b"delta" * 100))) == h  # a fresh copy, as a delivery makes
    assert a.get(h) is b.get(h) is pool[h]  # one object for both disks


def test_an_oversized_blob_is_refused_and_not_pooled() -> None:
    pool: dict[bytes, bytes] = {}
    store = PooledBlobStore(pool, max_bytes=8)
    with pytest.raises(BlobTooLarge):
        store.put(b"x" * 9)
    assert pool == {} and not store.has(sha256(b"x" * 9))


def test_a_ledgers_validators_share_one_pool() -> None:
    ledger = SimLedger(3, seed=1)
    stores = [ledger.disks[nid].blobs for nid in ledger.ids]
    assert all(isinstance(s, PooledBlobStore) and s.pool is ledger.blob_pool for s in stores)
