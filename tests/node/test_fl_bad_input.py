"""Bad FL transactions through a validator's admission path (``submit_tx``: ``check_tx``
then ``check_blob``) in the simulator: each gets a clear 4xx and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import numpy as np
import pytest

from flobc.app.abci import TxCheck
from flobc.app.fl.app import FLApp
from flobc.app.fl.txs import UpdateBody, VoteBody, update_tx, vote_tx
from flobc.chain.types import SignedTx
from flobc.encoding import sha256
from flobc.sim.fl_fixtures import f32, toy_ledger
from flobc.sim.invariants import check_ledger
from flobc.sim.ledger import sim_keys

SIZE = 8
GOOD = f32(np.full(SIZE, 0.05))


class World:
    """A 3-validator toy FL network past a few versions, with one committed update."""

    def __init__(self) -> None:
        self.ledger, self.d = toy_ledger(3, seed=5, trainers=2, size=SIZE, sync={"period_ms": 2000})
        self.ledger.run_for(4_500)  # two empty rounds: version 2
        assert self.version >= 2
        self.good, blob = self.update(0, GOOD, nonce=5)
        assert self.submit(self.good, [blob]).ok
        tid = self.d.tid(0)
        assert self.ledger.cluster.wait_for(
            lambda: all(self.app(i).state.trainers[tid].nonce == 5 for i in range(3)), 3_000
        )
        assert self.committed(self.good)
        self.admitted = [self.good]

    def app(self, i: int = 0) -> FLApp:
        return self.ledger.node(i).app  # type: ignore[return-value]

    @property
    def version(self) -> int:
        return self.app().state.version.version

    def committed(self, tx: SignedTx) -> bool:
        return sha256(tx.encoded()) in self.ledger.acknowledged

    def update(
        self,
        i: int,
        delta: np.ndarray | bytes,
        *,
        nonce: int,
        base: int | None = None,
        num_samples: int = 10,
    ) -> tuple[SignedTx, bytes]:
        return self.d.update(
            i,
            delta,
            base=self.version if base is None else base,
            nonce=nonce,
            num_samples=num_samples,
            store=False,
        )

    def submit(self, tx: SignedTx | bytes, blobs: list[bytes] | None = None) -> TxCheck:
        raw = tx if isinstance(tx, bytes) else tx.encoded()
        out: list[TxCheck] = []

        def call(node: object, now: int) -> list[object]:
            check, actions = node.submit_tx(raw, blobs or [], now)  # type: ignore[attr-defined]
            out.append(check)
            return actions

        self.ledger.cluster.call(self.ledger.ids[1], call)
        return out[0]

    def fingerprint(self) -> list[tuple[int, bytes, int]]:
        return [
            (len(self.ledger.node(i).mempool), self.app(i).info()[1], self.app(i).state.height)
            for i in range(3)
        ]

    def holds(self, blob: bytes) -> bool:
        return any(self.ledger.disks[nid].blobs.has(sha256(blob)) for nid in self.ledger.ids)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    w = World()
    yield w
    w.ledger.run_for(3_000)  # none of the rejected transactions ever reaches a block
    assert set(w.ledger.acknowledged) == {sha256(tx.encoded()) for tx in w.admitted}
    assert not check_ledger(w.ledger)


def _rejected(
    world: World,
    tx: SignedTx | bytes,
    blobs: list[bytes],
    code: int,
    message: str,
    *,
    new_blobs: bool = True,
) -> None:
    """``tx`` is refused with ``code`` and ``message``; mempools, app hashes and (for blobs
    not held before) every blob store are unchanged."""
    before = world.fingerprint()
    check = world.submit(tx, blobs)
    assert (check.code, check.ok) == (code, False), check
    assert message in check.message, check.message
    assert world.fingerprint() == before
    for blob in blobs if new_blobs else ():
        assert not world.holds(blob)


def test_wrong_shape(world: World) -> None:
    tx, blob = world.update(1, f32(np.full(SIZE - 1, 0.1)), nonce=10)
    _rejected(world, tx, [blob], 422, f"update has {SIZE - 1} values; the model spec has {SIZE}")


def test_oversized_update(world: World) -> None:
    tx, blob = world.update(1, f32(np.full(SIZE * 1000, 0.1)), nonce=10)
    _rejected(world, tx, [blob], 422, f"{SIZE * 1000} values")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values(world: World, bad: float) -> None:
    tx, blob = world.update(1, f32([0.1] * (SIZE - 1) + [bad]), nonce=10)
    _rejected(world, tx, [blob], 422, "NaN or infinite")


def test_bad_signature(world: World) -> None:
    tx, blob = world.update(0, f32(np.full(SIZE, 0.3)), nonce=10)
    sig = bytes([tx.signature[0] ^ 1]) + tx.signature[1:]
    _rejected(world, msgspec.structs.replace(tx, signature=sig), [blob], 401, "bad signature")


def test_signature_of_another_chain(world: World) -> None:
    blob = f32(np.full(SIZE, 0.3)).tobytes()
    tx = update_tx(
        "another-chain", world.d.tkeys[1], UpdateBody(world.version, sha256(blob), 10), 1
    )
    _rejected(world, tx, [blob], 401, "bad signature")


def test_replay_of_the_committed_transaction(world: World) -> None:
    _rejected(world, world.good, [GOOD.tobytes()], 409, "duplicate transaction", new_blobs=False)


def test_older_and_equal_nonce(world: World) -> None:
    for nonce in (3, 5):
        tx, blob = world.update(0, f32(np.full(SIZE, 0.2)), nonce=nonce)
        _rejected(world, tx, [blob], 409, f"replayed nonce {nonce} (last 5)")


def test_stale_base_version(world: World) -> None:
    tx, blob = world.update(1, f32(np.full(SIZE, 0.2)), nonce=1, base=world.version - 1)
    _rejected(world, tx, [blob], 409, f"stale base version {world.version - 1}")


def test_unregistered_key(world: World) -> None:
    stranger = sim_keys(1, 99, "stranger")[0]
    blob = f32(np.full(SIZE, 0.2)).tobytes()
    tx = update_tx(world.d.chain_id, stranger, UpdateBody(world.version, sha256(blob), 10), 1)
    _rejected(world, tx, [blob], 403, "is not a registered trainer")


def test_missing_or_mismatched_blob(world: World) -> None:
    tx, _ = world.update(1, f32(np.full(SIZE, 0.2)), nonce=1)
    _rejected(world, tx, [], 422, "missing blob")
    other = f32(np.full(SIZE, 0.7)).tobytes()  # a blob that is not the one referenced
    _rejected(world, tx, [other], 422, "missing blob")


@pytest.mark.parametrize("samples", [0, -1, 10**12])
def test_sample_count_out_of_range(world: World, samples: int) -> None:
    tx, blob = world.update(1, f32(np.full(SIZE, 0.2)), nonce=1, num_samples=samples)
    _rejected(world, tx, [blob], 400, "num_samples must be in 1..")


def test_malformed_bytes_and_bodies(world: World) -> None:
    _rejected(world, b"\x93garbage", [], 400, "malformed transaction")
    tx = SignedTx.create(world.d.chain_id, world.d.tkeys[1], "fl.update", b"\x01\x02", 1)
    _rejected(world, tx, [], 400, "malformed update")
    odd = SignedTx.create(world.d.chain_id, world.d.tkeys[1], "fl.mint", b"", 1)
    _rejected(world, odd, [], 400, "unknown transaction kind")


def test_votes_only_from_validators_and_on_known_pending_updates(world: World) -> None:
    body = VoteBody(world.good.hash, 0.9, 0.1)
    by_trainer = vote_tx(world.d.chain_id, world.d.tkeys[0], [body], 11)
    _rejected(world, by_trainer, [], 403, "only accepted from validators")
    unknown = vote_tx(world.d.chain_id, world.d.vkeys[0], [VoteBody(b"\x00" * 32, 0.9, 0.1)], 1)
    _rejected(world, unknown, [], 404, "unknown update")
    nan = vote_tx(world.d.chain_id, world.d.vkeys[0], [VoteBody(world.good.hash, np.nan, 0.1)], 1)
    _rejected(world, nan, [], 400, "finite")


def test_an_accepted_transaction_changes_the_mempool_control(world: World) -> None:
    """Negative control: the fingerprint does see an admitted transaction."""
    before = world.fingerprint()
    tx, blob = world.update(1, f32(np.full(SIZE, 0.01)), nonce=2)
    check = world.submit(tx, [blob])
    assert check.ok
    assert world.fingerprint() != before
    assert world.holds(blob)
    world.admitted.append(tx)
    _rejected(world, tx, [blob], 409, "duplicate transaction", new_blobs=False)  # still pooled
