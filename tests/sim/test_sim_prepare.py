"""The simulator prepares every released version (the evaluator core's ``Prepare``), and
that changes no vote and no result: a run with preparing switched off releases the same
versions, bit for bit, with the same votes."""

from __future__ import annotations

from typing import Any

import pytest

from flobc.node_apps.fl.evaluator import Evaluator
from flobc.sim.fl_fixtures import tiny_config
from flobc.sim.fl_network import SimFLNetwork

VERSIONS = 3


def _run(monkeypatch: pytest.MonkeyPatch, prepare: bool, **overrides: Any) -> Any:
    cfg = tiny_config(**{"network.trainers": 6, "network.validators": 3, **overrides})
    prepared: list[int] = []
    real = Evaluator.prepare

    def counted(self: Evaluator, effect: Any, blob: Any) -> bool:
        prepared.append(effect.version)
        return real(self, effect, blob) if prepare else False

    monkeypatch.setattr(Evaluator, "prepare", counted)
    net = SimFLNetwork(cfg)
    votes: list[tuple[int, Any]] = []
    send = net._send_votes

    def recorded(i: int, eff: Any, *rest: Any) -> None:
        votes.append((i, eff.bodies))
        send(i, eff, *rest)

    net._send_votes = recorded  # type: ignore[method-assign]
    assert net.run_until_version(VERSIONS, 600_000)
    st = net.ledger.node(0).app.state  # type: ignore[attr-defined]
    versions = [(v.version, v.weights, v.updates, v.scores) for v in st.versions[: VERSIONS + 1]]
    return versions, votes, prepared


@pytest.mark.parametrize("overrides", [{}, {"validation.rule": "paper"}], ids=["robust", "paper"])
def test_preparing_changes_no_vote_and_no_version(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, Any]
) -> None:
    with_prep = _run(monkeypatch, True, **overrides)
    without = _run(monkeypatch, False, **overrides)
    assert with_prep[0] == without[0]
    assert with_prep[1] == without[1]  # every vote body each validator sent, in order
    assert len(with_prep[1]) >= VERSIONS
    # every validator prepared every version it saw released, in order
    assert set(with_prep[2]) >= set(range(VERSIONS))
    assert with_prep[2] == without[2]
