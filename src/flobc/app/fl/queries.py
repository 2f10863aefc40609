"""Read-only views of the FL state for the wire API (plain JSON-ready dicts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from flobc.app.fl import rounds
from flobc.app.fl.state import FLState, VersionInfo

if TYPE_CHECKING:
    from flobc.app.fl.app import FLApp


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


def round_doc(app: FLApp, st: FLState) -> dict[str, Any]:
    r = st.round
    assert r is not None
    view = rounds.view(st, st.time_ms)
    from flobc.algorithms.sync import labour_ratio, slack_ratio

    return {
        "round": r.number,
        "scheme": app.cfg.sync.scheme,
        "base_version": r.base_version,
        "started_at_ms": r.started_at_ms,
        "period_ms": r.period_ms,
        "deadline_ms": r.started_at_ms + r.period_ms if app.cfg.sync.scheme != "bap" else None,
        "max_end_ms": r.started_at_ms + app.sync_rule.round_cap_ms,
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


def query(app: FLApp, path: str, params: dict[str, Any]) -> Any:
    """Paths: latest, version (version=), trainers, update (id=), round, config."""
    st = app.state
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
            status = st.updates[uid].status if uid else "waiting"
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
        return round_doc(app, st)
    if path == "config":
        return msgspec.to_builtins(app.cfg)
    raise KeyError(f"unknown query {path!r}")
