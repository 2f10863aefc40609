"""Rounds and model versions: recording updates, barriers, and trust-weighted releases."""

from __future__ import annotations

import numpy as np

from flobc.algorithms.adaptive_period import next_period
from flobc.algorithms.aggregators import WeightedUpdate
from flobc.algorithms.significance import relative_magnitude
from flobc.algorithms.sync import Extend, Release, RoundView
from flobc.app.fl import ledger_state
from flobc.app.fl.context import FLContext
from flobc.app.fl.state import (
    FLState,
    RoundInfo,
    SortedIds,
    UpdateInfo,
    UpdateStatus,
    VersionInfo,
    add_sorted,
)
from flobc.app.fl.txs import UpdateBody
from flobc.chain.types import BlockHeader, SignedTx
from flobc.crypto.keys import node_id_of
from flobc.encoding import sha256
from flobc.weights_codec import encode_vector, vector_view


def view(st: FLState, now_ms: int) -> RoundView:
    """The open round as the sync scheme reads it at ``now_ms``.

    The view holds live views of the round's tables (nothing is copied), so it stays
    true while the round's other fields, the tables themselves and the time stay the
    same: it is built once and reused for every update checked against this state at
    this time (each update is checked on arrival, at every mempool recheck, in proposals
    and at execution, on each validator)."""
    r = st.round
    assert r is not None
    active = st.active()
    fields = (r.number, r.base_version, r.started_at_ms, r.period_ms, r.extension_until_ms)
    hit = st.__dict__.get("_view")
    if (
        hit is not None
        and hit[0] == fields
        and hit[1] == now_ms
        and hit[2] is r.submitted
        and hit[3] is r.decided
        and hit[4] is active
    ):
        return hit[5]  # type: ignore[no-any-return]
    out = RoundView(
        round=r.number,
        base_version=r.base_version,
        started_at_ms=r.started_at_ms,
        now_ms=now_ms,
        period_ms=r.period_ms,
        active_trainers=active,
        submitted=r.submitted.keys(),
        decided=SortedIds(r.decided),
        extension_until_ms=r.extension_until_ms,
    )
    # the tables are held here, so the identities compared above stay theirs
    st.__dict__["_view"] = (fields, now_ms, r.submitted, r.decided, active, out)
    return out


def weights(ctx: FLContext, blob_hex: str) -> np.ndarray:
    data = ctx.blobs.get(bytes.fromhex(blob_hex))
    if data is None:  # data availability guarantees this never happens on a validator
        raise RuntimeError(f"missing weight blob {blob_hex}")
    return vector_view(data)


def record_update(
    ctx: FLContext, st: FLState, tx: SignedTx, body: UpdateBody, header: BlockHeader
) -> None:
    """Put an admitted update on the ledger.

    A later update of the same trainer in the round (SSP extension, BAP cumulative share)
    replaces the earlier one only once it is accepted (see :func:`release`): an earlier
    update still being voted on is not dropped, or a trainer sharing faster than
    validators decide would never get any update decided (a BAP livelock).
    """
    r = st.round
    assert r is not None
    tid = node_id_of(tx.signer)
    trainer = st.own_trainer(tid)
    trainer.nonce = tx.nonce
    trainer.submitted += 1
    upd = UpdateInfo(
        id=tx.hash.hex(),
        trainer=tid,
        round=r.number,
        base_version=body.base_version,
        blob=body.update_hash.hex(),
        num_samples=body.num_samples,
        height=header.height,
        time_ms=header.time_ms,
        nonce=tx.nonce,
        local_steps=body.local_steps,
    )
    threshold = ctx.scheme.significance_threshold()
    if threshold is not None:
        base = weights(ctx, st.version.weights)
        upd.relative_norm = relative_magnitude(weights(ctx, upd.blob), base)
        if upd.relative_norm < threshold:
            upd.status = UpdateStatus.SKIPPED
            r.skipped += 1
            st.skipped_total += 1
    st.add_update(upd)
    r.submitted[tid] = upd.id
    if upd.status == UpdateStatus.SKIPPED:
        add_sorted(r.decided, tid)


def advance(ctx: FLContext, st: FLState, now_ms: int, height: int) -> None:
    """Apply the sync barrier at block time ``now_ms``: extend or release as the rule says."""
    for _ in range(4):  # a release opens a new round, which the rule may not touch again
        assert st.round is not None
        decision = ctx.scheme.evaluate(view(st, now_ms))
        if isinstance(decision, Extend):
            st.round.extension_until_ms = decision.until_ms
            st.round.slack_ratio = decision.slack_ratio
            return
        if not isinstance(decision, Release):
            return
        release(ctx, st, now_ms, height, decision.reason)


def apply_reputation(ctx: FLContext, st: FLState) -> None:
    """Move trust scores for every update decided since the last barrier.

    The reward-penalty steps are applied in (round, trainer registration index, nonce)
    order, never in the order votes happened to land, so the scores (and with them the
    aggregation weights) depend only on the decisions: the same on every validator and in
    every runtime, whatever the trainers' keys.
    """
    decided = sorted(
        (st.updates[u] for u in st.unscored),
        key=lambda u: (u.round, st.trainers[u.trainer].index, u.nonce),
    )
    evidence = {t: (info.accepted, info.rejected) for t, info in st.trainers.items()}
    assert all(u.improvement is not None for u in decided)
    if getattr(ctx.policy, "order_free", False):
        # the evidence is fixed for the batch, so every step gives the same scores: one
        # step, not one per decision (O(updates x trainers) per release at scale)
        decided = decided[-1:]
    for u in decided:
        assert u.improvement is not None
        scores = ctx.policy.update(
            st.scores(),
            u.trainer,
            u.improvement,
            u.status == UpdateStatus.ACCEPTED,
            evidence=evidence,
        )
        for t, score in scores.items():
            st.own_trainer(t).score = score
    st.unscored = []


def release(ctx: FLContext, st: FLState, now_ms: int, height: int, reason: str) -> None:
    """Apply trust, aggregate the round's accepted updates into a new model version with the
    genesis' aggregation rule (trust-weighted FedAvg by default), and open a new round."""
    r = st.round
    assert r is not None
    apply_reputation(ctx, st)
    base_version = st.version
    # the round's records change status below: this state's own copies
    round_updates = [st.own_update(k) for k, u in list(st.updates.items()) if u.round == r.number]
    # Each trainer's latest *accepted* update counts (a later one that is rejected or still
    # undecided does not throw away an earlier accepted one).
    latest: dict[str, UpdateInfo] = {}
    for u in round_updates:
        if u.status == UpdateStatus.ACCEPTED and u.base_version == base_version.version:
            prev = latest.get(u.trainer)
            if prev is None or u.nonce > prev.nonce:
                latest[u.trainer] = u
    # Sum in trainer registration order: fixed on every validator and independent of keys
    # and transaction hashes, so the simulator and real processes aggregate bit-identically.
    chosen = sorted(latest.values(), key=lambda u: st.trainers[u.trainer].index)
    for u in round_updates:
        if u.status == UpdateStatus.PENDING:
            u.status = UpdateStatus.STALE
    if chosen:
        base = weights(ctx, base_version.weights)
        new = ctx.aggregator.aggregate(
            base,
            [
                WeightedUpdate(weights(ctx, u.blob), st.trainers[u.trainer].score, u.num_samples)
                for u in chosen
            ],
            server_lr=ctx.cfg.server_lr,
        )
        data = encode_vector(new)
        weights_hex = sha256(data).hex()
        ctx.blobs.put(data)
    else:
        weights_hex = base_version.weights
    version = VersionInfo(
        version=base_version.version + 1,
        weights=weights_hex,
        height=height,
        time_ms=now_ms,
        round=r.number,
        reason=reason,
        updates=[u.id for u in chosen],
        accepted=sum(u.status == UpdateStatus.ACCEPTED for u in round_updates),
        rejected=sum(u.status == UpdateStatus.REJECTED for u in round_updates),
        skipped=r.skipped,
        scores=st.scores(),
    )
    aggregated = {u.id for u in chosen}
    for u in round_updates:
        if u.status == UpdateStatus.ACCEPTED and u.id not in aggregated:
            u.status = UpdateStatus.SUPERSEDED  # replaced by the trainer's later accepted update
    # The round is final: it leaves the live state for the history (the blob store).
    ledger_state.fold(st, ctx.blobs, version, round_updates)
    # A trainer's completion time is its first submission of the round: an SSP extension
    # or BAP re-share later in the round must not stretch the adaptive period.
    first_at: dict[str, int] = {}
    for u in round_updates:
        first_at[u.trainer] = min(u.time_ms, first_at.get(u.trainer, u.time_ms))
    delays = sorted(max(0, t - r.started_at_ms) for t in first_at.values())
    st.recent_delays = [*st.recent_delays, delays][-ctx.cfg.sync.adaptive_window :]
    st.round = RoundInfo(r.number + 1, base_version.version + 1, now_ms, _period(ctx, st, r))


def _period(ctx: FLContext, st: FLState, finished: RoundInfo) -> int:
    s = ctx.cfg.sync
    if not s.adaptive:
        return s.period_ms
    flat = [d for round_delays in st.recent_delays for d in round_delays]
    return next_period(
        flat,
        percentile=s.adaptive_percentile,
        min_ms=s.adaptive_min_ms,
        max_ms=s.adaptive_max_ms,
        current_ms=finished.period_ms,
    )
