"""Helpers for tests of the FL application: a direct driver of :class:`FLApp` on a toy
model (no ML, hand-made deltas and votes), a validator network running that toy app, and
tiny run configurations for the whole-system simulator.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from flobc.app.abci import BlockResult
from flobc.app.fl.app import FLApp
from flobc.app.fl.state import FLState
from flobc.app.fl.txs import UpdateBody, VoteBody, register_tx, update_tx, vote_tx
from flobc.chain.blobs import MemoryBlobStore
from flobc.chain.genesis import Genesis
from flobc.chain.types import BlockHeader, SignedTx
from flobc.chain.validators import Validator
from flobc.crypto.keys import KeyPair, node_id_of
from flobc.encoding import sha256
from flobc.node_apps.fl.settings import FLRunConfig, load_config
from flobc.sim.fl_network import align_clocks
from flobc.sim.ledger import Disk, SimLedger, sim_keys
from flobc.weights_codec import as_wire_vector, encode_vector, vector_view, weights_hash

__all__ = [
    "GENESIS_MS",
    "AppDriver",
    "align_clocks",
    "f32",
    "tiny_config",
    "toy_fl_config",
    "toy_ledger",
]

GENESIS_MS = 1_000_000


def f32(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """A little-endian float32 vector (the wire format of weights and updates)."""
    return as_wire_vector(values)


def toy_fl_config(initial: np.ndarray, trainer_keys: Sequence[str], **fl: Any) -> dict[str, Any]:
    """The genesis ``app_state["fl"]`` of a toy model whose weights are ``initial``.

    ``fl`` overrides top-level FL settings; ``sync`` is merged into the sync settings.
    """
    sync = {"scheme": "bsp", "period_ms": 10_000, "wait_for_all": False, **fl.pop("sync", {})}
    # Toy votes are hand-made improvements: the paper's rule reads them directly.
    if "validation" not in fl:
        fl["validation"] = "paper"
        fl["validation_params"] = {"threshold": fl.pop("acceptance_threshold", 0.0)}
    return {
        "model": {
            "name": "toy",
            "input_shape": [int(initial.size)],
            "num_classes": 2,
            "spec_json": "{}",
            "size": int(initial.size),
            "initial_weights": weights_hash(initial).hex(),
        },
        "trainers": list(trainer_keys),
        "sync": sync,
        **fl,
    }


class AppDriver:
    """Drives one :class:`FLApp` directly: signed transactions, hand-built blocks.

    Trainer ``i`` signs with ``tkeys[i]``, validator ``j`` with ``vkeys[j]``; blocks are
    executed (``finalize_block`` + ``commit``) at strictly increasing times.
    """

    def __init__(
        self,
        *,
        validators: int = 3,
        trainers: int = 3,
        size: int = 8,
        seed: int = 0,
        initial: np.ndarray | None = None,
        registered: int | None = None,
        chain_id: str | None = None,
        **fl: Any,
    ):
        self.vkeys = sim_keys(validators, seed, "validator")
        self.tkeys = sim_keys(trainers, seed, "trainer")
        w0 = f32(np.linspace(-1.0, 1.0, size) if initial is None else initial)
        self.initial = w0
        n_reg = trainers if registered is None else registered
        keys = [k.public_key.hex() for k in self.tkeys[:n_reg]]
        self.fl = toy_fl_config(w0, keys, **fl)
        self.genesis = Genesis(
            chain_id=chain_id or f"fl-test-{seed}",
            genesis_time_ms=GENESIS_MS,
            validators=[Validator(k.public_key) for k in self.vkeys],
            app_state={"app": "fl", "fl": self.fl},
        )
        self.blobs = MemoryBlobStore()
        self.blobs.put(encode_vector(w0))
        self.app = FLApp(self.genesis, self.blobs)
        self.height = 0
        self.time_ms = GENESIS_MS
        self.snapshot = b""  # what the last commit returned
        self._nonces: dict[bytes, int] = defaultdict(int)

    # ------------------------------------------------------------------ identities

    @property
    def chain_id(self) -> str:
        return self.genesis.chain_id

    @property
    def state(self) -> FLState:
        return self.app.state

    def tid(self, i: int) -> str:
        """Trainer ``i``'s id in the FL state."""
        return node_id_of(self.tkeys[i].public_key)

    def next_nonce(self, key: KeyPair) -> int:
        self._nonces[key.public_key] += 1
        return self._nonces[key.public_key]

    # ------------------------------------------------------------------ transactions

    def update(
        self,
        i: int,
        delta: Sequence[float] | np.ndarray | bytes,
        *,
        base: int | None = None,
        nonce: int | None = None,
        num_samples: int = 10,
        local_steps: int = 0,
        store: bool = True,
    ) -> tuple[SignedTx, bytes]:
        """Trainer ``i``'s signed update of ``delta`` (raw bytes are used as the blob as they
        are); the blob goes into the store unless ``store=False``."""
        blob = delta if isinstance(delta, bytes) else encode_vector(delta)
        if store:
            self.blobs.put(blob)
        key = self.tkeys[i]
        body = UpdateBody(
            self.state.version.version if base is None else base,
            sha256(blob),
            num_samples,
            local_steps,
        )
        n = self.next_nonce(key) if nonce is None else nonce
        return update_tx(self.chain_id, key, body, n), blob

    def vote(
        self,
        j: int,
        update: SignedTx,
        improvement: float,
        base_score: float = 0.5,
        measures: dict[str, float] | None = None,
    ) -> SignedTx:
        """Validator ``j``'s vote: score = base_score + improvement, plus ``measures``."""
        key = self.vkeys[j]
        body = VoteBody(update.hash, base_score + improvement, base_score, measures or {})
        return vote_tx(self.chain_id, key, [body], self.next_nonce(key))

    def ballots(
        self,
        j: int,
        improvements: Sequence[tuple[SignedTx | bytes, float]],
        base_score: float = 0.5,
    ) -> SignedTx:
        """Validator ``j``'s one vote transaction with a ballot per (update or update id,
        improvement), in that order."""
        key = self.vkeys[j]
        bodies = [
            VoteBody(u if isinstance(u, bytes) else u.hash, base_score + imp, base_score)
            for u, imp in improvements
        ]
        return vote_tx(self.chain_id, key, bodies, self.next_nonce(key))

    def votes(self, update: SignedTx, improvements: Sequence[float]) -> list[SignedTx]:
        """One vote per listed improvement, from validators 0, 1, ..."""
        return [self.vote(j, update, imp) for j, imp in enumerate(improvements)]

    def register(self, key: KeyPair, name: str = "") -> SignedTx:
        return register_tx(self.chain_id, key, name, self.next_nonce(key))

    # ------------------------------------------------------------------ blocks

    def header(self, time_ms: int) -> BlockHeader:
        return BlockHeader(
            self.chain_id,
            self.height + 1,
            0,
            time_ms,
            self.genesis.validators[0].address,
            b"",
            b"",
            b"",
            self.app.info()[1],
            b"",
        )

    def block(
        self, txs: Sequence[SignedTx] = (), *, at_ms: int | None = None, dt_ms: int = 100
    ) -> BlockResult:
        """Execute and commit a block of ``txs`` at ``at_ms`` (default: ``dt_ms`` later)."""
        t = self.time_ms + dt_ms if at_ms is None else at_ms
        assert t > self.time_ms, "block times must increase"
        result = self.app.finalize_block(self.header(t), list(txs))
        self.app.commit()
        self.snapshot = self.app.snapshot()
        self.height, self.time_ms = self.height + 1, t
        return result

    def decide(self, update: SignedTx, improvements: Sequence[float]) -> BlockResult:
        """Commit the votes of validators 0.. with these improvements in one block."""
        return self.block(self.votes(update, improvements))

    def submit_and_decide(
        self, i: int, delta: Sequence[float] | np.ndarray, improvement: float, **kw: Any
    ) -> SignedTx:
        """Trainer ``i``'s update in one block, then every validator's vote in the next."""
        tx, _ = self.update(i, delta, **kw)
        res = self.block([tx])
        assert res.tx_results[0].code == 0, res.tx_results[0]
        self.decide(tx, [improvement] * len(self.vkeys))
        return tx

    # ------------------------------------------------------------------ reading

    @property
    def deadline_ms(self) -> int:
        r = self.state.round
        assert r is not None
        return r.started_at_ms + r.period_ms

    def weights(self, version: int = -1) -> np.ndarray:
        data = self.blobs.get(bytes.fromhex(self.state.versions[version].weights))
        assert data is not None
        return vector_view(data)


# ---------------------------------------------------------------------- simulator


def toy_ledger(n: int, seed: int = 0, **fl: Any) -> tuple[SimLedger, AppDriver]:
    """``n`` simulated validators running the toy FL app, and an :class:`AppDriver` of the
    same chain (its keys sign valid transactions for the ledger; its own app is unused).

    ``fl`` goes to :class:`AppDriver` (``trainers``, ``size``, ``sync``, ...).
    """
    driver = AppDriver(validators=n, seed=seed, chain_id=f"sim-{seed}", **fl)
    initial = encode_vector(driver.initial)

    def factory(genesis: Genesis, disk: Disk) -> FLApp:
        disk.blobs.put(initial)
        return FLApp(genesis, disk.blobs)

    ledger = SimLedger(
        n, seed, app_factory=factory, app_state=driver.genesis.app_state, keys=driver.vkeys
    )
    assert ledger.genesis.chain_id == driver.chain_id
    align_clocks(ledger)
    return ledger, driver


def tiny_config(**overrides: Any) -> FLRunConfig:
    """A quick FL run: digits, logistic regression, 600 samples, 3 validators, 4 trainers."""
    base: dict[str, Any] = {
        "network.validators": 3,
        "network.trainers": 4,
        "model.name": "logreg",
        "data.max_train_samples": 600,
        "data.max_test_samples": 300,
        "training.epochs": 1,
        "sync.period_s": 5,
        "sync.wait_for_all": False,
    }
    base.update(overrides)
    return load_config(None, **base)
