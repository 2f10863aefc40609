"""Federated learning on a validator: the FL API and dashboard lists, the evaluator that
votes on every committed update, FL metrics and ``version`` events, and the genesis
section a network folder starts from (trainers fixed by their keys)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from flobc.app.abci import Application
from flobc.app.fl.app import FLApp
from flobc.app.fl.config import FLConfig
from flobc.crypto.keys import KeyPair
from flobc.node.home import NodeSettings
from flobc.node.hosting import EventFeed, NodeApp, OpenApiFragment
from flobc.node.http_runtime import HttpRuntime
from flobc.node.validator import ValidatorNode
from flobc.node_apps.fl.api import routes as api_routes
from flobc.node_apps.fl.dashboard_api import routes as dashboard_routes
from flobc.node_apps.fl.openapi import fl_openapi
from flobc.node_apps.fl.settings import FLRunConfig
from flobc.node_apps.fl.workers import attach_evaluator


def run_config(settings: NodeSettings) -> FLRunConfig | None:
    """The FL run configuration a node's ``config.toml`` carries (``[extra.fl]``), if any."""
    raw = settings.extra.get("fl")
    return None if raw is None else FLRunConfig.model_validate(raw)


class FLNodeApp(NodeApp):
    application = FLApp

    def check_genesis(self, app_state: dict[str, Any]) -> None:
        FLConfig.from_app_state(app_state)

    def complete_genesis(
        self, app_state: dict[str, Any], members: Sequence[tuple[str, bytes]]
    ) -> dict[str, Any]:
        """Trainers are fixed in the genesis, in the order of the network's trainer homes."""
        fl = dict(app_state.get("fl", {}))
        fl["trainers"] = [key.hex() for role, key in members if role == "trainer"]
        return {**app_state, "fl": fl}

    def routes(self) -> list[web.AbstractRouteDef]:
        return [*api_routes, *dashboard_routes]

    def openapi(self) -> OpenApiFragment:
        return fl_openapi()

    def attach(
        self, runtime: HttpRuntime[ValidatorNode], settings: NodeSettings, key: KeyPair
    ) -> None:
        """The evaluator, when the node's settings carry the run's FL configuration."""
        cfg = run_config(settings)
        if cfg is not None:
            attach_evaluator(runtime, cfg, int(settings.extra["index"]), key)

    def dashboard_metric(self, settings: NodeSettings) -> str | None:
        cfg = run_config(settings)
        return None if cfg is None else cfg.training.metric

    def event_feed(self, app: Application) -> EventFeed:
        return FLEventFeed(app)

    def metrics(self, app: Application) -> Iterator[Metric]:
        return fl_metrics(app.state)  # type: ignore[attr-defined]


class FLEventFeed(EventFeed):
    """One ``version`` event per released model version; ``hello`` and ``block`` carry the
    latest version and the open round."""

    def __init__(self, app: Application) -> None:
        self._versions = len(app.state.versions)  # type: ignore[attr-defined]

    def head(self, app: Application) -> dict[str, Any]:
        st = app.state  # type: ignore[attr-defined]
        return {
            "version": st.version.version if st.versions else None,
            "round": st.round.number if st.round is not None else None,
        }

    def new_events(self, app: Application) -> list[tuple[str, dict[str, Any]]]:
        st = app.state  # type: ignore[attr-defined]
        out = [
            (
                "version",
                {
                    "version": v.version,
                    "round": v.round,
                    "height": v.height,
                    "accepted": v.accepted,
                    "rejected": v.rejected,
                    "reason": v.reason,
                },
            )
            for v in st.versions[self._versions :]
        ]
        self._versions = len(st.versions)
        return out


def fl_metrics(state: Any) -> Iterator[Metric]:
    """Model versions, update decisions and trust, as ``/v1/models/latest`` and ``/v1/trainers``."""
    trainers = sorted(state.trainers.items(), key=lambda kv: kv[1].index)
    yield GaugeMetricFamily(
        "flobc_model_version", "Latest released model version.", value=state.version.version
    )
    yield GaugeMetricFamily(
        "flobc_fl_round",
        "Current FL round number.",
        value=state.round.number if state.round else 0,
    )
    yield GaugeMetricFamily(
        "flobc_trainers_active", "Active trainers.", value=sum(t.active for _, t in trainers)
    )
    for what in ("submitted", "accepted", "rejected"):
        yield CounterMetricFamily(
            f"flobc_updates_{what}",
            f"Model updates {what} (ledger totals over all trainers).",
            value=sum(getattr(t, what) for _, t in trainers),
        )
    trust = GaugeMetricFamily(
        "flobc_trainer_trust", "Trust score of each trainer.", labels=["trainer", "name"]
    )
    for tid, t in trainers:
        trust.add_metric([tid, t.name], t.score)
    yield trust


__all__ = ["FLEventFeed", "FLNodeApp", "fl_metrics", "run_config"]
