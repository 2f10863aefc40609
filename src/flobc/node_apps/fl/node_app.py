"""Federated learning on a validator: the FL API and dashboard lists, the evaluator that
votes on every committed update, FL metrics and ``version`` events, and the genesis
section a network folder starts from (trainers fixed by their keys).

With model subnetworks (a genesis declaring ``fl.subnets``, paper §IV.C) the application
is a :class:`~flobc.app.fl.composite.SubnetsApp`: the routes add ``GET /v1/subnets`` and
take ``?subnet=NAME``, the OpenAPI document names the subnetworks, a validator attaches
one evaluator per subnetwork it validates, metrics carry a ``subnet`` label and
``version`` events name their subnetwork."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from flobc.app.abci import Application
from flobc.app.fl.composite import FLEntry, fl_app, subnet_names
from flobc.app.fl.config import FLConfig
from flobc.app.fl.subnets import has_subnets
from flobc.chain.genesis import Genesis
from flobc.crypto.keys import KeyPair
from flobc.node.home import NodeSettings
from flobc.node.hosting import EventFeed, NodeApp, OpenApiFragment
from flobc.node.http_runtime import HttpRuntime
from flobc.node.validator import ValidatorNode
from flobc.node_apps.fl.api import routes as api_routes
from flobc.node_apps.fl.dashboard_api import routes as dashboard_routes
from flobc.node_apps.fl.openapi import fl_openapi
from flobc.node_apps.fl.settings import FLRunConfig
from flobc.node_apps.fl.subnet_api import routes as subnet_routes
from flobc.node_apps.fl.subnets import subnet_runs
from flobc.node_apps.fl.workers import attach_evaluator


def run_config(settings: NodeSettings) -> FLRunConfig | None:
    """The FL run configuration a node's ``config.toml`` carries (``[extra.fl]``), if any."""
    raw = settings.extra.get("fl")
    return None if raw is None else FLRunConfig.model_validate(raw)


class FLNodeApp(NodeApp):
    application = FLEntry

    def __init__(self) -> None:
        #: the model subnetworks of the app :meth:`make_app` built (none: a single model);
        #: fixed by the genesis, so the OpenAPI document can name them
        self.subnets: tuple[str, ...] = ()

    def make_app(self, genesis: Genesis, blobs: Any) -> Application:
        app = super().make_app(genesis, blobs)
        self.subnets = tuple(n for n in subnet_names(app) if n is not None)
        return app

    def check_genesis(self, app_state: dict[str, Any]) -> None:
        """One FL config, or (model subnetworks) one per ``fl.subnets`` entry; the entries'
        validators are checked against the chain's when the app is built."""
        if not has_subnets(app_state):
            FLConfig.from_app_state(app_state)
            return
        for k, entry in enumerate(app_state["fl"]["subnets"]):
            body = {f: v for f, v in entry.items() if f not in ("name", "validators")}
            try:
                FLConfig.from_app_state({"fl": body})
            except ValueError as exc:
                raise ValueError(f"fl.subnets[{k}]: {exc}") from exc

    def complete_genesis(
        self, app_state: dict[str, Any], members: Sequence[tuple[str, bytes]]
    ) -> dict[str, Any]:
        """Trainers are fixed in the genesis, in the order of the network's trainer homes
        (model subnetworks are completed per subnetwork by
        :func:`flobc.node_apps.fl.subnets.with_keys` instead)."""
        fl = dict(app_state.get("fl", {}))
        fl["trainers"] = [key.hex() for role, key in members if role == "trainer"]
        return {**app_state, "fl": fl}

    def routes(self) -> list[web.AbstractRouteDef]:
        return [*api_routes, *subnet_routes, *dashboard_routes]

    def openapi(self) -> OpenApiFragment:
        return fl_openapi(self.subnets)

    def attach(
        self, runtime: HttpRuntime[ValidatorNode], settings: NodeSettings, key: KeyPair
    ) -> None:
        """The evaluator, when the node's settings carry the run's FL configuration: one
        per model subnetwork the validator validates (as its position in that subnetwork)."""
        cfg = run_config(settings)
        if cfg is None:
            return
        index = int(settings.extra["index"])
        if not cfg.subnets:
            attach_evaluator(runtime, cfg, index, key)
        for sub in subnet_runs(cfg):
            pos = sub.position(index)
            if pos is not None:
                attach_evaluator(runtime, sub.cfg, pos, key, sub.name)

    def dashboard_metric(self, settings: NodeSettings) -> str | None:
        cfg = run_config(settings)
        return None if cfg is None else cfg.training.metric

    def event_feed(self, app: Application) -> EventFeed:
        return FLEventFeed(app)

    def metrics(self, app: Application) -> Iterator[Metric]:
        return fl_metrics([(n, fl_app(app, n).state) for n in subnet_names(app)])


class FLEventFeed(EventFeed):
    """One ``version`` event per released model version (naming its ``subnet`` on a
    network of model subnetworks); ``hello`` and ``block`` carry the latest version and
    the open round (null with several subnetworks: each has its own)."""

    def __init__(self, app: Application) -> None:
        self._versions = {n: len(fl_app(app, n).state.versions) for n in subnet_names(app)}

    def head(self, app: Application) -> dict[str, Any]:
        names = subnet_names(app)
        if names != [None]:
            return {"version": None, "round": None}
        st = fl_app(app).state
        return {
            "version": st.version.version if st.versions else None,
            "round": st.round.number if st.round is not None else None,
        }

    def new_events(self, app: Application) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for name in subnet_names(app):
            st = fl_app(app, name).state
            where = {} if name is None else {"subnet": name}
            out += [
                (
                    "version",
                    {
                        "version": v.version,
                        "round": v.round,
                        "height": v.height,
                        "accepted": v.accepted,
                        "rejected": v.rejected,
                        "reason": v.reason,
                        **where,
                    },
                )
                for v in st.versions[self._versions[name] :]
            ]
            self._versions[name] = len(st.versions)
        return out


def fl_metrics(states: list[tuple[str | None, Any]]) -> Iterator[Metric]:
    """Model versions, update decisions and trust, as ``/v1/models/latest`` and
    ``/v1/trainers``, of each ``(subnet, state)``; with model subnetworks, one sample per
    subnetwork (label ``subnet``), else (``[(None, state)]``) unlabelled."""
    labelled = states[0][0] is not None
    extra = ["subnet"] if labelled else []

    def family(kind: Any, name: str, doc: str, labels: list[str] | None = None) -> Any:
        return kind(name, doc, labels=[*extra, *(labels or [])])

    version = family(GaugeMetricFamily, "flobc_model_version", "Latest released model version.")
    rnd = family(GaugeMetricFamily, "flobc_fl_round", "Current FL round number.")
    active = family(GaugeMetricFamily, "flobc_trainers_active", "Active trainers.")
    counts = {
        what: family(
            CounterMetricFamily,
            f"flobc_updates_{what}",
            f"Model updates {what} (ledger totals over all trainers).",
        )
        for what in ("submitted", "accepted", "rejected")
    }
    trust = family(
        GaugeMetricFamily,
        "flobc_trainer_trust",
        "Trust score of each trainer.",
        ["trainer", "name"],
    )
    for subnet, state in states:
        label = [subnet] if labelled else []
        trainers = sorted(state.trainers.items(), key=lambda kv: kv[1].index)
        version.add_metric(label, state.version.version)
        rnd.add_metric(label, state.round.number if state.round else 0)
        active.add_metric(label, sum(t.active for _, t in trainers))
        for what, fam in counts.items():
            fam.add_metric(label, sum(getattr(t, what) for _, t in trainers))
        for tid, t in trainers:
            trust.add_metric([*label, tid, t.name], t.score)
    yield from (version, rnd, active, *counts.values(), trust)


__all__ = ["FLEventFeed", "FLNodeApp", "fl_metrics", "run_config"]
