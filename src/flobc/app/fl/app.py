"""FLApp: the deterministic federated-learning application behind the ABCI boundary.

Per block: first the round's synchronisation barrier is evaluated at the block time, then
each transaction is applied (updates, votes, registrations), then the barrier again. When
a barrier releases, the accepted updates of the round are aggregated, trust-weighted, into
a new model version. Weights live in the content-addressed blob store; the state keeps
their hashes, so the app hash commits to every model version.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import msgspec
import numpy as np

from flobc.algorithms.sync import Admission, Candidate
from flobc.app.abci import BlockResult, TxCheck, TxResult
from flobc.app.fl import ledger_state, privacy, queries, rounds
from flobc.app.fl.config import FLConfig
from flobc.app.fl.context import FLContext
from flobc.app.fl.ledger_state import History, LedgerView, state_hash
from flobc.app.fl.state import FLState, RoundInfo, TrainerInfo, VersionInfo
from flobc.app.fl.txs import (
    REGISTER,
    UPDATE,
    VOTE,
    RegisterBody,
    UpdateBody,
    tx_kind,
)
from flobc.app.fl.votes import VoteBook, vote_measures
from flobc.app.fl.votes import content as tx_content
from flobc.chain.genesis import Genesis
from flobc.chain.types import BlockHeader, SignedTx
from flobc.crypto.keys import node_id_of
from flobc.encoding import DecodeError, decode, encode
from flobc.weights_codec import DTYPE, vector_view

log = logging.getLogger("flobc.app.fl")

#: The blob an update references must be exactly the model's float32 vector.
#: Heights between app snapshots (a node parameter; restart replays the blocks since).
DEFAULT_SNAPSHOT_INTERVAL = 100
#: Update transactions whose state-free checks are remembered, until executed (a round's
#: worth at thousands of trainers; an entry is the small signed body and its decoding)
UPDATE_CACHE_TXS = 32_768


class FLApp:
    """Federated learning over the ledger (see the module docstring)."""

    #: selected by a genesis ``app_state`` of ``{"app": "fl", "fl": ...}``
    name: ClassVar[str] = "fl"

    def __init__(
        self,
        genesis: Genesis,
        blobs: Any,
        snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
        subnet: str | None = None,
    ):
        if snapshot_interval < 1:
            raise ValueError(f"snapshot_interval must be at least 1 (got {snapshot_interval})")
        self.chain_id = genesis.chain_id
        self.cfg = FLConfig.from_app_state(genesis.app_state)
        #: the genesis' strategies (sync scheme, reputation, validation, aggregation)
        self.ctx = FLContext.build(self.cfg, blobs)
        self.blobs = blobs
        self.validators = {v.public_key.hex(): i for i, v in enumerate(genesis.validators)}
        self.vset = genesis.validator_set()
        self.snapshot_interval = snapshot_interval
        #: the model subnetwork this app runs (None: the implicit only one); its
        #: transactions carry it in their signed kind (see flobc.app.fl.subnets)
        self.subnet = subnet
        self._kinds = {tx_kind(k, subnet): k for k in (UPDATE, VOTE, REGISTER)}
        self._committed = self._genesis_state(genesis)
        self._pending: FLState | None = None
        self._pending_hash = b""
        self._app_hash = b""  # of the committed state (b"" before the first block)
        self._history = History(blobs)
        self._history.follow(self._committed.history)
        #: measures the rule needs beyond the two scores every ballot has
        needs = tuple(m for m in self.ctx.rule.measures if m not in ("score", "base_score"))
        #: vote checks (their state-free part remembered) and ballot recording
        rule_key = (self.cfg.validation, tuple(sorted(self.cfg.validation_params.items())))
        self.votes = VoteBook(
            self.chain_id, self.validators, self.vset, self.ctx.rule, rule_key, needs
        )
        #: an update's state-free checks by its content (see :meth:`_update_form`)
        self._update_forms: dict[tuple[Any, ...], tuple[TxCheck, TxCheck, Any]] = {}

    @classmethod
    def from_genesis(cls, genesis: Genesis, blobs: Any) -> FLApp:
        return cls(genesis, blobs)

    def _genesis_state(self, genesis: Genesis) -> FLState:
        st = FLState(time_ms=genesis.genesis_time_ms)
        n = len(self.cfg.trainers)
        for i, pk in enumerate(self.cfg.trainers):
            tid = node_id_of(bytes.fromhex(pk))
            st.trainers[tid] = TrainerInfo(pk, 1.0 / n if n else 0.0, index=i)
        v0 = VersionInfo(
            0,
            self.cfg.model.initial_weights,
            0,
            genesis.genesis_time_ms,
            0,
            "genesis",
            scores=st.scores(),
        )
        ledger_state.fold(st, self.blobs, v0, [])
        st.round = RoundInfo(1, 0, genesis.genesis_time_ms, self.cfg.sync.period_ms)
        return st

    # ------------------------------------------------------------------ ABCI

    def info(self) -> tuple[int, bytes]:
        return self._committed.height, self._app_hash

    @property
    def state(self) -> LedgerView:
        """The committed state and its history (read-only use)."""
        return LedgerView(self._committed, self._history)

    @property
    def live(self) -> FLState:
        """The committed live state alone (bounded; read-only use)."""
        return self._committed

    def check_tx(self, tx: SignedTx) -> TxCheck:
        return self._check(tx, self._committed, self._committed.time_ms)

    def required_blobs(self, tx: SignedTx) -> tuple[bytes, ...]:
        if self.kind(tx) != UPDATE:
            return ()
        try:
            return (decode(tx.body, UpdateBody).update_hash,)
        except DecodeError:
            return ()

    def check_blob(self, tx: SignedTx, data: bytes) -> TxCheck:
        """Content checks of an update's Δ blob: shape (length), finiteness, DP norm band."""
        expected = self.cfg.model.size * DTYPE.itemsize
        if len(data) != expected:
            return TxCheck(
                422, f"update has {len(data) // 4} values; the model spec has {self.cfg.model.size}"
            )
        vec = vector_view(data)
        if not np.isfinite(vec).all():
            return TxCheck(422, "update contains NaN or infinite values")
        if self.cfg.privacy is not None:
            try:
                body = decode(tx.body, UpdateBody)
            except DecodeError as exc:
                return TxCheck(400, f"malformed update: {exc}")
            return privacy.check_delta(self.cfg.privacy, body, vec)
        return TxCheck()

    def prepare_proposal(self, header: BlockHeader, txs: list[SignedTx]) -> list[int]:
        st = self._committed.copy()
        rounds.advance(self.ctx, st, header.time_ms, header.height)
        order = sorted(range(len(txs)), key=lambda i: (txs[i].signer, txs[i].nonce))
        keep = []
        for i in order:
            if self._apply(txs[i], st, header, dry_run=True).code == 0:
                keep.append(i)
        # The block executes in the order the dry run validated (a signer's txs by nonce),
        # not mempool order, where a higher nonce could come first and fail the lower one.
        return keep

    def process_proposal(self, header: BlockHeader, txs: list[SignedTx]) -> bool:
        # Failing transactions are recorded as failed at execution; a proposal is only
        # refused for transactions that can never be valid (bad signature, unknown kind).
        return all(tx.kind in self._kinds and tx.verify(self.chain_id) for tx in txs)

    def finalize_block(self, header: BlockHeader, txs: list[SignedTx]) -> BlockResult:
        st = self._committed.copy()
        st.height, st.time_ms = header.height, header.time_ms
        rounds.advance(self.ctx, st, header.time_ms, header.height)
        results = [self._apply(tx, st, header) for tx in txs]
        rounds.advance(self.ctx, st, header.time_ms, header.height)
        self._pending, self._pending_hash = st, state_hash(st)
        return BlockResult(self._pending_hash, results)

    def commit(self) -> bytes | None:
        """Commit the executed block; every ``snapshot_interval`` heights return a snapshot
        (between snapshots a restart replays the blocks since the last one)."""
        assert self._pending is not None, "commit without finalize_block"
        self._committed, self._pending = self._pending, None
        self._app_hash = self._pending_hash
        self._history.follow(self._committed.history)
        if self._committed.height % self.snapshot_interval == 0:
            return self.snapshot()
        return None

    def snapshot(self) -> bytes:
        """The committed live state's canonical encoding (bounded: the history is in blobs)."""
        return encode(self._committed)

    def restore(self, height: int, snapshot: bytes) -> None:
        st = decode(snapshot, FLState, max_bytes=1 << 31)
        if st.height != height:
            raise ValueError(f"snapshot is of height {st.height}, expected {height}")
        self._history.follow(st.history)
        self._committed, self._app_hash = st, (state_hash(st) if st.height else b"")

    def query(self, path: str, params: dict[str, Any]) -> Any:
        return queries.query(self.ctx, self.state, path, params)

    # ------------------------------------------------------------------ transactions

    def kind(self, tx: SignedTx) -> str | None:
        """The base kind (UPDATE, VOTE, REGISTER) of a transaction for this subnetwork."""
        return self._kinds.get(tx.kind)

    def _check(self, tx: SignedTx, st: FLState, now_ms: int) -> TxCheck:
        kind = self.kind(tx)
        if kind == UPDATE:
            return self._check_update(tx, st, now_ms)[0]
        if kind == VOTE:
            return self.votes.check(tx, st, first_fit=True)[0]
        if kind == REGISTER:
            return self._check_register(tx, st)
        return TxCheck(400, f"unknown transaction kind {tx.kind!r}")

    def _apply(
        self, tx: SignedTx, st: FLState, header: BlockHeader, dry_run: bool = False
    ) -> TxResult:
        kind = self.kind(tx)
        if kind == UPDATE:
            check, body = self._check_update(tx, st, header.time_ms)
            if check.ok and not dry_run:
                blob = self.blobs.get(body.update_hash)  # type: ignore[union-attr]
                content = self.check_blob(tx, blob) if blob is not None else TxCheck(422, "blob")
                if not content.ok:
                    return TxResult(content.code, content.message)
            if check.ok:
                rounds.record_update(self.ctx, st, tx, body, header)  # type: ignore[arg-type]
                trainer = st.own_trainer(node_id_of(tx.signer))
                privacy.record(self.cfg.privacy, trainer, body, st.updates.get(tx.hash.hex()))
            if not dry_run:  # executed: it leaves the mempool, and a replay fails on its nonce
                self._update_forms.pop(tx_content(tx), None)
        elif kind == VOTE:
            check, ballots = self.votes.check(tx, st)
            # ballots name distinct updates and one's vote never changes whether another
            # fits, so taking them all after checking them all is taking them in order
            for ballot in ballots:
                self.votes.record(st, tx, ballot, header)
            if not dry_run:  # executed: its remembered checks are not asked for again
                self.votes.forget(tx)
        elif kind == REGISTER:
            check = self._check_register(tx, st)
            if check.ok:
                tid = node_id_of(tx.signer)
                body = decode(tx.body, RegisterBody)
                scores = self.ctx.policy.on_register(st.scores(), tid)
                st.add_trainer(
                    tid,
                    TrainerInfo(
                        tx.signer.hex(), 0.0, body.name, nonce=tx.nonce, index=len(st.trainers)
                    ),
                )
                for t, s in scores.items():
                    st.own_trainer(t).score = s
        else:
            check = TxCheck(400, f"unknown transaction kind {tx.kind!r}")
        return TxResult(check.code, check.message)

    def _check_update(self, tx: SignedTx, st: FLState, now_ms: int) -> tuple[TxCheck, Any]:
        tid = node_id_of(tx.signer)
        trainer = st.trainers.get(tid)
        if trainer is None or not trainer.active:
            return TxCheck(403, f"{tid} is not a registered trainer"), None
        sealed, form, body = self._update_form(tx)
        if not sealed.ok:
            return sealed, None
        if tx.nonce <= trainer.nonce:
            return TxCheck(409, f"replayed nonce {tx.nonce} (last {trainer.nonce})"), None
        if not form.ok:
            return form, None
        dp_check = privacy.check_claim(self.cfg.privacy, trainer, body)
        if not dp_check.ok:
            return dp_check, None
        assert st.round is not None
        view = rounds.view(st, now_ms)
        earlier = st.round.submitted.get(tid)
        candidate = Candidate(
            tid,
            body.base_version,
            now_ms,
            body.local_steps,
            None if earlier is None else st.updates[earlier].time_ms,
        )
        admission = self.ctx.scheme.admits(view, st.version.version, candidate)
        if admission != Admission.OK:
            return TxCheck(409, self._refusal(admission, st, body)), None
        return TxCheck(blobs=(body.update_hash,)), body

    def _update_form(self, tx: SignedTx) -> tuple[TxCheck, TxCheck, Any]:
        """An update's checks that do not read the state, remembered by its whole content
        for the last :data:`UPDATE_CACHE_TXS` updates (checked on arrival, at each mempool
        recheck, in proposals and at execution): the decoding and signature (``sealed``),
        then the body's bounds (``form``), which the ledger reports after the nonce."""
        key = tx_content(tx)
        hit = self._update_forms.get(key)
        if hit is not None:
            return hit
        out = self._update_form_uncached(tx)
        self._update_forms[key] = out
        if len(self._update_forms) > UPDATE_CACHE_TXS:
            # oldest first (dicts keep insertion order): a round's updates age out together
            del self._update_forms[next(iter(self._update_forms))]
        return out

    def _update_form_uncached(self, tx: SignedTx) -> tuple[TxCheck, TxCheck, Any]:
        ok = TxCheck()
        try:
            body = decode(tx.body, UpdateBody)
        except DecodeError as exc:
            return TxCheck(400, f"malformed update: {exc}"), ok, None
        if not tx.verify(self.chain_id):
            return TxCheck(401, "bad signature"), ok, None
        if len(body.update_hash) != 32:
            return ok, TxCheck(400, "update_hash must be 32 bytes"), None
        if not 0 < body.num_samples <= self.cfg.max_samples:
            return ok, TxCheck(400, f"num_samples must be in 1..{self.cfg.max_samples}"), None
        cap = self.cfg.max_local_steps
        if body.local_steps < 0 or (cap and body.local_steps > cap):
            return ok, TxCheck(400, f"local_steps must be in 0..{cap or 'any'}"), None
        return ok, ok, body

    def _refusal(self, admission: Admission, st: FLState, body: UpdateBody) -> str:
        """Why the sync scheme refuses an update, for the submitter."""
        assert st.round is not None
        number = st.round.number
        if admission == Admission.STALE_BASE:
            return f"stale base version {body.base_version}; current is {st.version.version}"
        if admission == Admission.LATE:
            return f"round {number} is closed for updates (deadline passed)"
        if admission == Admission.STEP_LIMIT:
            return (
                f"an update during the SSP extension may add at most "
                f"{self.cfg.sync.ssp_max_extra_steps} local steps (got {body.local_steps})"
            )
        hint = self.ctx.scheme.resubmission_hint
        return f"already submitted an update in round {number}{hint}"

    def _check_register(self, tx: SignedTx, st: FLState) -> TxCheck:
        if not self.cfg.open_registration:
            return TxCheck(403, "registration is closed (permissioned network)")
        if node_id_of(tx.signer) in st.trainers:
            return TxCheck(409, "already registered")
        try:
            decode(tx.body, RegisterBody)
        except DecodeError as exc:
            return TxCheck(400, f"malformed registration: {exc}")
        if not tx.verify(self.chain_id):
            return TxCheck(401, "bad signature")
        return TxCheck()


__all__ = ["FLApp", "msgspec", "vote_measures"]
