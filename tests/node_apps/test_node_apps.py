"""The hosted applications: every application has its node plug-in, FL's genesis section is
completed with the trainers and checked before a network folder is written, and FL's event
feed announces each released version once."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from flobc.app.registry import APPLICATIONS
from flobc.node_apps import NODE_APPS, node_app_for
from flobc.node_apps.fl.node_app import FLEventFeed, FLNodeApp
from flobc.node_apps.kv import KVNodeApp
from flobc.orchestration.fl_setup import fl_network_args
from flobc.orchestration.netdir import create_network
from flobc.sim.fl_fixtures import tiny_config


def test_every_application_is_hosted() -> None:
    assert set(NODE_APPS) == set(APPLICATIONS)
    assert {cls.application for cls in NODE_APPS.values()} == set(APPLICATIONS.values())
    assert isinstance(node_app_for({}), KVNodeApp)
    assert isinstance(node_app_for({"app": "fl"}), FLNodeApp)


def test_fl_genesis_lists_the_trainers_in_order() -> None:
    state = {"app": "fl", "fl": {"sync": "bsp"}}
    members = [("trainer", b"\x01"), ("observer", b"\x02"), ("trainer", b"\x03")]
    out = FLNodeApp().complete_genesis(state, members)
    assert out["fl"] == {"sync": "bsp", "trainers": ["01", "03"]}
    assert "trainers" not in state["fl"]  # the caller's dict is left alone


def test_a_bad_fl_section_writes_nothing(tmp_path: Path) -> None:
    args = fl_network_args(None, cfg=tiny_config())
    args["app_state"] = {**args["app_state"], "fl": {**args["app_state"]["fl"], "sync": "x"}}
    net = tmp_path / "net"
    with pytest.raises(ValueError, match="invalid FL config in genesis"):
        create_network(net, validators=3, trainers=4, **args)
    assert not net.exists()


def test_a_good_fl_section_is_written_with_its_trainers(tmp_path: Path) -> None:
    g = create_network(
        tmp_path / "net", validators=3, trainers=4, **fl_network_args(None, cfg=tiny_config())
    )
    assert len(g.app_state["fl"]["trainers"]) == 4 and g.app_state["app"] == "fl"


def _app(versions: list[int], round_number: int | None) -> SimpleNamespace:
    vs = [
        SimpleNamespace(version=v, round=v, height=10 * v, accepted=v, rejected=0, reason="r")
        for v in versions
    ]
    rnd = None if round_number is None else SimpleNamespace(number=round_number)
    return SimpleNamespace(state=SimpleNamespace(versions=vs, version=vs[-1], round=rnd))


def test_fl_event_feed_announces_each_version_once() -> None:
    app = _app([0], None)
    feed = FLEventFeed(app)  # type: ignore[arg-type]
    assert feed.new_events(app) == []  # type: ignore[arg-type]
    assert feed.head(app) == {"version": 0, "round": None}  # type: ignore[arg-type]
    app = _app([0, 1, 2], 3)
    events = feed.new_events(app)  # type: ignore[arg-type]
    assert [(k, d["version"], d["height"]) for k, d in events] == [
        ("version", 1, 10),
        ("version", 2, 20),
    ]
    assert feed.new_events(app) == []  # type: ignore[arg-type]
    assert feed.head(app) == {"version": 2, "round": 3}  # type: ignore[arg-type]
