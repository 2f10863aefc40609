"""A validator that never received an update's blob fetches it from peers before voting."""

from __future__ import annotations

from typing import Any

from flobc.node.wire import BlobRequest, TxGossip
from flobc.sim.fl_fixtures import tiny_config
from flobc.sim.fl_network import SimFLNetwork
from flobc.sim.invariants import check_ledger


def test_missing_blobs_are_fetched_and_the_network_goes_on() -> None:
    net = SimFLNetwork(tiny_config(**{"network.trainers": 3, "sync.wait_for_all": True}))
    starved = net.ledger.ids[2]
    requests: list[Any] = []

    def intercept(sender: str, receiver: str, msg: Any) -> Any:
        if isinstance(msg, TxGossip) and receiver == starved:
            return None  # validator 2 never sees gossiped updates (nor their blobs)
        if isinstance(msg, BlobRequest) and sender == starved:
            requests.append(msg)
        return msg

    net.ledger.set_interceptor(intercept)
    assert net.run_until_version(2, 120_000)
    assert requests, "the starved validator never asked for blobs"
    app = net.ledger.node(2).app
    blobs = net.ledger.disks[starved].blobs
    for upd in app.state.updates.values():  # type: ignore[attr-defined]
        assert blobs.has(bytes.fromhex(upd.blob))
    assert not check_ledger(net.ledger)
