"""FLApp: the deterministic federated-learning application behind the ABCI boundary.

Per block: first the round's synchronisation barrier is evaluated at the block time, then
each transaction is applied (updates, votes, registrations), then the barrier again. When
a barrier releases, the accepted updates of the round are aggregated, trust-weighted, into
a new model version. Weights live in the content-addressed blob store; the state keeps
their hashes, so the app hash commits to every model version.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, ClassVar

import msgspec
import numpy as np

from flobc.algorithms.decision import has_quorum
from flobc.algorithms.sync import Admission, Candidate
from flobc.app.abci import BlockResult, TxCheck, TxResult
from flobc.app.fl import ledger_state, privacy, queries, rounds, vote_forms
from flobc.app.fl.config import FLConfig
from flobc.app.fl.context import FLContext
from flobc.app.fl.ledger_state import History, LedgerView, state_hash
from flobc.app.fl.state import (
    FLState,
    RoundInfo,
    TrainerInfo,
    UpdateStatus,
    VersionInfo,
    add_sorted,
)
from flobc.app.fl.txs import (
    REGISTER,
    UPDATE,
    VOTE,
    RegisterBody,
    UpdateBody,
    VoteBody,
    VotesBody,
    tx_kind,
)
from flobc.chain.genesis import Genesis
from flobc.chain.types import BlockHeader, SignedTx
from flobc.crypto.keys import node_id_of
from flobc.encoding import DecodeError, decode, encode
from flobc.weights_codec import DTYPE, vector_view

log = logging.getLogger("flobc.app.fl")

#: The blob an update references must be exactly the model's float32 vector.
#: Heights between app snapshots (a node parameter; restart replays the blocks since).
DEFAULT_SNAPSHOT_INTERVAL = 100
#: Vote transactions whose state-free checks are remembered, and most ballots among them.
#: An entry is dropped once its transaction is executed, so the memory holds what waits in
#: the mempool: at 10,000 trainers x 10 validators a round's ballots are 100,000.
VOTE_CACHE_TXS = 256
VOTE_CACHE_BALLOTS = 131_072
#: Update transactions whose state-free checks are remembered, until executed (a round's
#: worth at thousands of trainers; an entry is the small signed body and its decoding)
UPDATE_CACHE_TXS = 32_768


def vote_measures(body: VoteBody) -> dict[str, float]:
    """A vote as the rule reads it and the ledger keeps it: the measures and both scores."""
    return {**body.measures, "score": body.score, "base_score": body.base_score}


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
        #: voting power by the key a vote is kept under (the validator's index as a string)
        self._power = {str(i): v.power for i, v in enumerate(self.vset.validators)}
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
        self._needs = tuple(m for m in self.ctx.rule.measures if m not in ("score", "base_score"))
        #: a vote's state-free checks (decoding, signature, ballot form) by its content: a
        #: vote is checked on arrival, at every mempool recheck, in proposals and at
        #: execution, and these parts of the answer never change
        self._vote_forms: OrderedDict[tuple[Any, ...], tuple[TxCheck, VotesBody | None]] = (
            OrderedDict()
        )
        self._vote_form_ballots = 0
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
            return self._check_votes(tx, st, first_fit=True)[0]
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
                self._update_forms.pop(self._content(tx), None)
        elif kind == VOTE:
            check, ballots = self._check_votes(tx, st)
            # ballots name distinct updates and one's vote never changes whether another
            # fits, so taking them all after checking them all is taking them in order
            for ballot in ballots:
                self._record_vote(st, tx, ballot, header)
            if not dry_run:  # executed: its remembered checks are not asked for again
                self._forget_votes(tx)
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
        key = self._content(tx)
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

    def _check_votes(
        self, tx: SignedTx, st: FLState, first_fit: bool = False
    ) -> tuple[TxCheck, list[VoteBody]]:
        """The ballots of vote transaction ``tx`` that ``st`` takes, in ballot order.

        The rule (see :class:`~flobc.app.fl.txs.VotesBody`): anything wrong with the
        transaction or with any ballot's form fails it whole, with nothing taken; a
        well-formed ballot the ledger can no longer take (the update unknown, decided, or
        already voted on by this validator: one vote per update, which also makes replays
        fail) is skipped. The transaction succeeds if at least one ballot is taken; else
        it fails with the first skipped ballot's reason. ``first_fit`` (admission and
        mempool rechecks, which only ask whether the transaction still applies) stops at
        the first ballot taken.
        """
        check, body = self._check_ballots(tx)
        if body is None:
            return check, []
        voter = str(self.validators[tx.signer.hex()])
        taken: list[VoteBody] = []
        skipped: list[tuple[VoteBody, TxCheck]] = []
        for ballot in body.ballots:
            why = self._ballot_refused(ballot, st, voter)
            if why is None:
                if first_fit:
                    return TxCheck(), [ballot]
                taken.append(ballot)
            else:
                skipped.append((ballot, why))
        if not skipped:
            return TxCheck(), taken
        first, why = skipped[0]
        if not taken:
            return why, []
        note = (
            f"{len(skipped)} of {len(body.ballots)} ballots skipped "
            f"(first: {first.update_id.hex()[:12]}: {why.message})"
        )
        return TxCheck(message=note), taken

    def _check_ballots(self, tx: SignedTx) -> tuple[TxCheck, VotesBody | None]:
        """Checks of a vote transaction that do not read the state: the signer is a
        validator, the signature holds, and every ballot is well formed (remembered for
        the last few transactions, by their whole content)."""
        key = self._content(tx)
        hit = self._vote_forms.get(key)
        if hit is not None:
            self._vote_forms.move_to_end(key)
            return hit
        out = self._ballots_form(tx)
        self._vote_forms[key] = out
        self._vote_form_ballots += len(out[1].ballots) if out[1] is not None else 0
        while len(self._vote_forms) > VOTE_CACHE_TXS or (
            self._vote_form_ballots > VOTE_CACHE_BALLOTS and len(self._vote_forms) > 1
        ):
            _, (_, old) = self._vote_forms.popitem(last=False)
            self._vote_form_ballots -= len(old.ballots) if old is not None else 0
        return out

    def _forget_votes(self, tx: SignedTx) -> None:
        gone = self._vote_forms.pop(self._content(tx), None)
        if gone is not None and gone[1] is not None:
            self._vote_form_ballots -= len(gone[1].ballots)

    @staticmethod
    def _content(tx: SignedTx) -> tuple[Any, ...]:
        """A transaction's whole content: the key its remembered checks are kept under."""
        return (tx.signer, tx.kind, tx.nonce, tx.body, tx.signature)

    def _ballots_form(self, tx: SignedTx) -> tuple[TxCheck, VotesBody | None]:
        if tx.signer.hex() not in self.validators:
            return TxCheck(403, "votes are only accepted from validators"), None
        refusal, body, form = vote_forms.body_form(tx.body, self._needs, self.ctx.rule.name)
        if refusal is not None:
            return refusal, None
        if not tx.verify(self.chain_id):
            return TxCheck(401, "bad signature"), None
        if not form.ok:
            return form, None
        return TxCheck(), body

    @staticmethod
    def _ballot_refused(body: VoteBody, st: FLState, voter: str) -> TxCheck | None:
        """Why the ledger does not take this ballot now (one vote per validator and
        update), or None when it does."""
        upd = st.updates.get(body.update_id.hex())
        if upd is None:
            return TxCheck(404, "unknown update")
        if upd.status != UpdateStatus.PENDING:
            return TxCheck(409, f"update already {upd.status}")
        if voter in upd.votes:
            return TxCheck(409, "this validator already voted on that update")
        return None

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

    def _record_vote(self, st: FLState, tx: SignedTx, body: VoteBody, header: BlockHeader) -> None:
        idx = self.validators[tx.signer.hex()]
        upd = st.own_update(body.update_id.hex())
        upd.votes[str(idx)] = vote_measures(body)
        # the votes' keys are distinct validator indices: their power without a set per ballot
        power = sum(self._power[k] for k in upd.votes)
        if not has_quorum(power, self.vset.total_power):
            return
        votes = [upd.votes[k] for k in sorted(upd.votes, key=int)]
        decision = self.ctx.rule.decide(votes, privacy.declared_noise(upd))
        upd.status = UpdateStatus.ACCEPTED if decision.accepted else UpdateStatus.REJECTED
        upd.improvement = decision.improvement
        upd.reason = decision.reason
        upd.decided_height = header.height
        trainer = st.own_trainer(upd.trainer)
        if decision.accepted:
            trainer.accepted += 1
        else:
            trainer.rejected += 1
        st.unscored.append(upd.id)  # trust moves at the next barrier, in a canonical order
        assert st.round is not None
        if upd.round == st.round.number:
            add_sorted(st.round.decided, upd.trainer)


__all__ = ["FLApp", "msgspec"]
