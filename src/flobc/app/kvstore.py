"""A tiny key-value application: the consensus tests' stand-in for the FL application.

Transactions of kind ``kv.set`` carry a msgpack ``[key, value]``; each signer's nonce must
be strictly greater than its last, so a replayed transaction is rejected.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from flobc.app.abci import BlockResult, TxCheck, TxResult
from flobc.chain.genesis import Genesis
from flobc.chain.types import BlockHeader, SignedTx
from flobc.encoding import encode, hash_obj

MAX_KV_BYTES = 64 * 1024


class _State(msgspec.Struct):
    height: int = 0
    data: dict[str, str] = {}
    nonces: dict[str, int] = {}
    last_time_ms: int = 0
    #: Hash chain over every block's applied writes: O(block) per block, not O(state).
    app_hash: bytes = b""


class KVStoreApp:
    """Deterministic string-to-string map ordered by consensus."""

    #: selected by a genesis ``app_state`` of ``{"app": "kv"}`` (see :mod:`flobc.app.registry`)
    name: ClassVar[str] = "kv"

    def __init__(self, chain_id: str):
        self.chain_id = chain_id
        self._committed = _State()
        self._pending: _State | None = None

    @classmethod
    def from_genesis(cls, genesis: Genesis, blobs: Any) -> KVStoreApp:
        return cls(genesis.chain_id)

    def info(self) -> tuple[int, bytes]:
        return self._committed.height, self._committed.app_hash

    def _check(self, tx: SignedTx, state: _State) -> TxCheck:
        if tx.kind != "kv.set":
            return TxCheck(400, f"unknown transaction kind {tx.kind!r}")
        if len(tx.body) > MAX_KV_BYTES:
            return TxCheck(413, "value too large")
        try:
            key, value = msgspec.msgpack.decode(tx.body, type=tuple[str, str])
        except msgspec.DecodeError as exc:
            return TxCheck(400, f"malformed kv.set body: {exc}")
        if not tx.verify(self.chain_id):
            return TxCheck(401, "bad signature")
        if tx.nonce <= state.nonces.get(tx.signer.hex(), -1):
            return TxCheck(409, "replayed or stale nonce")
        del key, value
        return TxCheck()

    def check_tx(self, tx: SignedTx) -> TxCheck:
        return self._check(tx, self._committed)

    def required_blobs(self, tx: SignedTx) -> tuple[bytes, ...]:
        return ()

    def check_blob(self, tx: SignedTx, data: bytes) -> TxCheck:
        return TxCheck()

    def prepare_proposal(self, header: BlockHeader, txs: list[SignedTx]) -> list[int]:
        order = sorted(range(len(txs)), key=lambda i: (txs[i].signer, txs[i].nonce))
        state = msgspec.structs.replace(self._committed, nonces=dict(self._committed.nonces))
        keep = []
        for i in order:
            if self._check(txs[i], state).ok:
                state.nonces[txs[i].signer.hex()] = txs[i].nonce
                keep.append(i)
        return keep

    def process_proposal(self, header: BlockHeader, txs: list[SignedTx]) -> bool:
        state = msgspec.structs.replace(self._committed, nonces=dict(self._committed.nonces))
        for tx in txs:
            if not self._check(tx, state).ok:
                return False
            state.nonces[tx.signer.hex()] = tx.nonce
        return True

    def finalize_block(self, header: BlockHeader, txs: list[SignedTx]) -> BlockResult:
        c = self._committed
        state = _State(header.height, dict(c.data), dict(c.nonces), header.time_ms)
        results = []
        writes: list[list[str]] = []
        for tx in txs:
            check = self._check(tx, state)
            if not check.ok:
                results.append(TxResult(check.code, check.message))
                continue
            key, value = msgspec.msgpack.decode(tx.body, type=tuple[str, str])
            state.data[key] = value
            state.nonces[tx.signer.hex()] = tx.nonce
            writes.append([key, value, tx.signer.hex(), str(tx.nonce)])
            results.append(TxResult())
        state.app_hash = hash_obj([c.app_hash, header.height, writes])
        self._pending = state
        return BlockResult(state.app_hash, results)

    def commit(self) -> bytes:
        assert self._pending is not None, "commit without finalize_block"
        self._committed, self._pending = self._pending, None
        return encode(self._committed)

    def snapshot(self) -> bytes:
        return encode(self._committed)

    def restore(self, height: int, snapshot: bytes) -> None:
        self._committed = msgspec.msgpack.decode(snapshot, type=_State)
        assert self._committed.height == height

    def query(self, path: str, params: dict[str, Any]) -> Any:
        if path == "get":
            return self._committed.data[params["key"]]
        raise KeyError(path)


def kv_tx(chain_id: str, key_pair: Any, key: str, value: str, nonce: int) -> SignedTx:
    """A signed ``kv.set`` transaction."""
    return SignedTx.create(chain_id, key_pair, "kv.set", encode([key, value]), nonce)
