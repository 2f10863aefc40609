"""Read-only views of the FL state for the wire API (plain JSON-ready dicts)."""

from __future__ import annotations

from typing import Any

import msgspec

from flobc.algorithms.sync import labour_ratio, slack_ratio
from flobc.app.fl import rounds
from flobc.app.fl.context import FLContext
from flobc.app.fl.ledger_state import LedgerView
from flobc.app.fl.state import FLState, UpdateStatus, VersionInfo

#: ``round_status`` of a trainer with no update in the open round
NO_UPDATE = "waiting"


def version_doc(v: VersionInfo) -> dict[str, Any]:
    return {
        "version": v.version,
        "hash": v.weights,
        "height": v.height,
        "time_ms": v.time_ms,
        "round": v.round,
        "reason": v.reason,
        "updates": v.updates,
        "accepted": v.accepted,
        "rejected": v.rejected,
        "skipped": v.skipped,
        "scores": v.scores,
    }


def round_doc(ctx: FLContext, st: FLState, *, with_updates: bool = False) -> dict[str, Any]:
    """The current round; ``with_updates`` adds ``updates``: each trainer's current update
    of the round (id, trainer index, base version), public like everything on the ledger,
    read by colluding attacks (:mod:`flobc.node_apps.fl.attacks`). Off by default: trainers poll
    this document and it would grow with the number of trainers."""
    r = st.round
    assert r is not None
    view = rounds.view(st, st.time_ms)
    doc: dict[str, Any] = {
        "round": r.number,
        "scheme": ctx.scheme.name,
        "base_version": r.base_version,
        "started_at_ms": r.started_at_ms,
        "period_ms": r.period_ms,
        "deadline_ms": ctx.scheme.deadline_ms(view),
        "max_end_ms": r.started_at_ms + ctx.scheme.round_cap_ms,
        "extension_until_ms": r.extension_until_ms,
        "slack_ratio": slack_ratio(view) if view.n_active else 0.0,
        "labour_ratio": labour_ratio(view) if view.n_active else 0.0,
        "submitted": len(r.submitted),
        "decided": len(r.decided),
        "active_trainers": view.n_active,
        "skipped": r.skipped,
        "skipped_total": st.skipped_total,
        "block_time_ms": st.time_ms,
        "height": st.height,
    }
    if with_updates:
        doc["updates"] = [
            {
                "id": uid,
                "trainer": st.trainers[tid].index,
                "base_version": st.updates[uid].base_version,
            }
            for tid, uid in sorted(r.submitted.items(), key=lambda kv: st.trainers[kv[0]].index)
        ]
    return doc


def evaluation_doc(st: LedgerView, update_id: str) -> dict[str, Any] | None:
    """What a validator needs to vote on an update, or None once votes are closed.

    ``share`` is the weight the update gets in an equally weighted aggregate of the
    active trainers; ``previous`` is the version before the base (the last global step).
    """
    upd = st.live.updates.get(update_id)  # pending updates are all in the open round
    if upd is None or upd.status != UpdateStatus.PENDING:
        return None
    return {
        "update": upd.id,
        "base": st.versions[upd.base_version].weights,
        "previous": st.versions[upd.base_version - 1].weights if upd.base_version else None,
        "delta": upd.blob,
        "local_steps": upd.local_steps,
        "share": 1.0 / max(1, len(st.active())),
        "dp": None if upd.dp is None else [upd.dp.mechanism, upd.dp.clip, upd.dp.noise_multiplier],
        "voted": sorted(upd.votes, key=int),
    }


def query(ctx: FLContext, st: LedgerView, path: str, params: dict[str, Any]) -> Any:
    """Paths: latest, version (version=), trainers, update (id=), round (updates=), config,
    evaluation (id=) and unvoted (validator=) for the validators' evaluators; ``st`` is the
    committed state with its history."""
    if path == "latest":
        return version_doc(st.version)
    if path == "version":
        v = int(params["version"])
        if not 0 <= v < len(st.versions):
            raise KeyError(f"no model version {v}")
        return version_doc(st.versions[v])
    if path == "trainers":
        r = st.round
        assert r is not None
        out = []
        for tid, t in sorted(st.trainers.items(), key=lambda kv: kv[1].index):
            uid = r.submitted.get(tid)
            status = st.live.updates[uid].status if uid else NO_UPDATE
            out.append(
                {
                    "id": tid,
                    "index": t.index,
                    "name": t.name,
                    "public_key": t.public_key,
                    "score": t.score,
                    "submitted": t.submitted,
                    "accepted": t.accepted,
                    "rejected": t.rejected,
                    "active": t.active,
                    "round_status": status,
                    "epsilon": t.epsilon,
                    "dp_releases": t.dp_releases,
                }
            )
        return out
    if path == "update":
        upd = st.updates.get(str(params["id"]))
        if upd is None:
            raise KeyError("unknown update")
        return msgspec.to_builtins(upd)
    if path == "round":
        return round_doc(ctx, st.live, with_updates=bool(params.get("updates")))
    if path == "evaluation":
        return evaluation_doc(st, str(params["id"]))
    if path == "unvoted":
        me = str(params["validator"])
        return [
            u.id
            for u in st.live.updates.values()  # only the open round has pending updates
            if u.status == UpdateStatus.PENDING and me not in u.votes
        ]
    if path == "config":
        return msgspec.to_builtins(ctx.cfg)
    raise KeyError(f"unknown query {path!r}")
