"""Batching ballots into vote transactions changes how many transactions the validators
sign, gossip and execute, not what the network decides: where decisions do not depend on
timing (BSP waiting for every trainer), one ballot per transaction and a whole block's
ballots per transaction release the same versions, bit for bit."""

from __future__ import annotations

from typing import Any

import pytest

from flobc.sim.fl_fixtures import tiny_config
from flobc.sim.fl_network import SimFLNetwork

VERSIONS = 3


def _run(vote_batch: int, **overrides: Any) -> tuple[list[Any], list[int]]:
    cfg = tiny_config(
        **{
            "network.trainers": 8,
            "network.validators": 4,
            "sync.scheme": "bsp",
            "sync.wait_for_all": True,
            "sync.period_s": 120,
            **overrides,
        }
    )
    net = SimFLNetwork(cfg, vote_batch=vote_batch)
    sent: list[int] = []
    send = net._send_votes

    def counting(i: int, eff: Any, *rest: Any) -> None:
        sent.append(len(eff.bodies))
        send(i, eff, *rest)

    net._send_votes = counting  # type: ignore[method-assign]
    assert net.run_until_version(VERSIONS, 600_000)
    states = [net.ledger.node(i).app.state for i in net.ledger.up()]  # type: ignore[attr-defined]
    versions = [
        [(v.version, v.weights, v.updates, v.scores, v.accepted, v.rejected) for v in st.versions]
        for st in states
    ]
    assert all(vs[: VERSIONS + 1] == versions[0][: VERSIONS + 1] for vs in versions)
    return versions[0][: VERSIONS + 1], sent


@pytest.mark.parametrize("overrides", [{}, {"validation.rule": "paper"}], ids=["robust", "paper"])
def test_one_ballot_per_tx_and_batches_release_the_same_versions(overrides: Any) -> None:
    singles, sent_singles = _run(1, **overrides)
    batched, sent_batched = _run(1024, **overrides)
    assert batched == singles
    assert set(sent_singles) == {1}
    assert max(sent_batched) > 1  # batches did form
    assert len(sent_batched) < len(sent_singles)
    assert sum(sent_batched) == sum(sent_singles)  # the same ballots, fewer transactions
