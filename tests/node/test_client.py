"""The validator API clients against one real validator process on loopback."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import msgspec
import pytest

from flobc.app.kvstore import kv_tx
from flobc.chain.genesis import ConsensusParams
from flobc.chain.types import SignedTx, tx_hash
from flobc.crypto import KeyPair
from flobc.node.client import (
    ApiRejected,
    AsyncFailoverClient,
    AsyncValidatorClient,
    FailoverClient,
    NodeUnavailable,
    ValidatorClient,
)
from flobc.orchestration import processes as net
from flobc.orchestration.netdir import create_network, free_loopback_ports, list_nodes

pytestmark = [pytest.mark.processes, pytest.mark.timeout(60)]

PARAMS = ConsensusParams(timeout_commit_ms=0, empty_block_interval_ms=200)


@dataclass
class Node:
    url: str
    chain_id: str
    key: KeyPair
    nonces: Iterator[int]

    def tx(self, key: str = "k", value: str = "v") -> SignedTx:
        return kv_tx(self.chain_id, self.key, key, value, next(self.nonces))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    netdir: Path = tmp_path_factory.mktemp("client") / "net"
    genesis = create_network(netdir, validators=1, consensus=PARAMS)
    rows: list[net.NodeRow] = []
    try:
        rows = net.up(netdir, timeout=20)
        log = net.log_file(netdir, "validator-0")
        assert [r.state for r in rows] == [net.READY], log.read_text()[-2000:]
        url = list_nodes(netdir)[0].url
        yield Node(url, genesis.chain_id, KeyPair.generate(), itertools.count(1))
    finally:
        net.down(netdir)
        for r in rows:
            if r.proc is not None:
                r.proc.wait(5)


@pytest.fixture
def dead_url() -> str:
    return f"http://127.0.0.1:{free_loopback_ports(1)[0]}"


def test_status_and_blocks(node: Node) -> None:
    c = ValidatorClient(node.url)
    st = c.status()
    assert st["chain_id"] == node.chain_id and st["validator_index"] == 0
    assert c.height() >= st["height"]
    assert c.block(10**9) is None


def test_submit_and_wait_committed(node: Node) -> None:
    c = ValidatorClient(node.url)
    tx = node.tx("a", "1")
    h = c.submit(tx)
    assert h == tx_hash(tx.encoded()).hex()
    st = c.wait_committed(h, timeout=10, poll_s=0.005)
    assert st.committed and st.height is not None and st.index == 0
    block = c.block(st.height)
    assert block is not None and h in block["tx_hashes"]
    assert c.tx_status(h) == st


def test_rejections(node: Node) -> None:
    c = ValidatorClient(node.url)
    tx = node.tx()
    c.wait_committed(c.submit(tx), timeout=10)
    with pytest.raises(ApiRejected) as dup:
        c.submit(tx)
    assert dup.value.status == 409 and "duplicate" in dup.value.message
    stale = kv_tx(node.chain_id, node.key, "k", "other", tx.nonce)
    with pytest.raises(ApiRejected) as exc:
        c.submit(stale)
    assert exc.value.status == 409
    forged = msgspec.structs.replace(node.tx(), signature=b"\0" * 64)
    with pytest.raises(ApiRejected) as exc:
        c.submit(forged)
    assert exc.value.status == 401
    with pytest.raises(ApiRejected) as exc:
        c.submit_raw(b"\x93not a tx")
    assert exc.value.status == 400 and exc.value.message


def test_submit_batch_checks_each_tx_on_its_own(node: Node) -> None:
    c = ValidatorClient(node.url)
    first, second = node.tx("b1", "1"), node.tx("b2", "2")
    forged = msgspec.structs.replace(node.tx("b3", "3"), signature=b"\0" * 64)
    results = c.submit_batch([first, second.encoded(), (forged, []), first])
    assert [r.hash for r in results] == [
        tx_hash(t.encoded()).hex() for t in (first, second, forged, first)
    ]
    assert [(r.accepted, r.code) for r in results] == [
        (True, None),
        (True, None),
        (False, 401),
        (False, 409),
    ]
    assert results[2].error == "bad signature" and "duplicate" in (results[3].error or "")
    for r in results[:2]:
        assert c.wait_committed(r.hash, timeout=10, poll_s=0.005).committed
    assert c.tx_status(results[2].hash).state == "unknown"


def test_malformed_batch_admits_nothing(node: Node) -> None:
    c = ValidatorClient(node.url)
    good = node.tx("m", "1")
    with pytest.raises(ApiRejected) as exc:
        c.submit_batch([good, b"\x93not a tx"])
    assert exc.value.status == 400 and exc.value.message.startswith("txs[1]: malformed")
    assert exc.value.body["index"] == 1
    assert c.tx_status(tx_hash(good.encoded()).hex()).state == "unknown"
    with pytest.raises(ApiRejected) as exc:
        c.submit_batch([])
    assert exc.value.status == 400 and "1 to 1000" in exc.value.message
    with pytest.raises(ApiRejected) as exc:
        c._request("POST", "/v1/tx-batches", b"\xc1")  # not MessagePack
    assert exc.value.status == 400
    assert c.status()["mempool"] == 0 and c.tx_status(tx_hash(good.encoded()).hex()).state == (
        "unknown"
    )


def test_unknown_tx_and_bad_hash(node: Node) -> None:
    c = ValidatorClient(node.url)
    st = c.tx_status("00" * 32)
    assert st.state == "unknown" and not st.committed
    with pytest.raises(ApiRejected) as exc:
        c.tx_status("zz")
    assert exc.value.status == 400
    with pytest.raises(TimeoutError):
        c.wait_committed("00" * 32, timeout=0.05)


def test_unreachable_node(dead_url: str) -> None:
    with pytest.raises(NodeUnavailable):
        ValidatorClient(dead_url, timeout=1).status()


def test_failover(node: Node, dead_url: str) -> None:
    c = FailoverClient([dead_url, node.url], timeout=1)
    assert c.status()["chain_id"] == node.chain_id
    assert c.url == node.url  # stays on the live node
    h = c.submit(node.tx())
    assert c.wait_committed(h, timeout=10).committed
    with pytest.raises(NodeUnavailable, match="no validator reachable"):
        FailoverClient([dead_url, dead_url], timeout=1).status()
    with pytest.raises(ValueError):
        FailoverClient([])


def test_failover_resubmit_counts_duplicate_as_accepted(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = FailoverClient([node.url, node.url])
    first = c.clients[0]
    real_submit = first.submit_raw

    def delivered_then_lost(raw: bytes, blobs: object = ()) -> str:
        real_submit(raw)
        raise NodeUnavailable("connection reset after delivery")

    monkeypatch.setattr(first, "submit_raw", delivered_then_lost)
    tx = node.tx()
    assert c.submit(tx) == tx_hash(tx.encoded()).hex()
    assert c.current == 1
    with pytest.raises(ApiRejected):  # without a failed attempt, a duplicate is an error
        c.submit(tx)


async def test_async_client(node: Node) -> None:
    async with aiohttp.ClientSession() as session:
        a = AsyncValidatorClient(node.url, session)
        b = AsyncValidatorClient(node.url, session)
        assert (await a.status())["chain_id"] == node.chain_id
        tx = node.tx("async", "1")
        h = await b.submit(tx)
        st = await a.wait_committed(h, timeout=10, poll_s=0.005)
        assert st.committed and st.height is not None
        block = await a.block(st.height)
        assert block is not None and h in block["tx_hashes"]
        assert await a.block(10**9) is None
        with pytest.raises(ApiRejected) as exc:
            await a.submit(tx)
        assert exc.value.status == 409
        assert (await a.tx_status("00" * 32)).state == "unknown"
        batch = [node.tx("async-b", "1"), node.tx("async-b", "2")]
        results = await b.submit_batch(batch)
        assert [r.accepted for r in results] == [True, True]
        assert (await a.wait_committed(results[1].hash, timeout=10, poll_s=0.005)).committed
        await a.close()  # a shared session is not closed by its clients
        assert not session.closed


async def test_async_own_session_and_unreachable(node: Node, dead_url: str) -> None:
    async with AsyncValidatorClient(node.url) as c:
        assert await c.height() >= 0
    async with AsyncValidatorClient(dead_url, timeout=1) as dead:
        with pytest.raises(NodeUnavailable):
            await dead.status()


async def test_async_failover(node: Node, dead_url: str) -> None:
    async with AsyncFailoverClient([dead_url, node.url], timeout=1) as c:
        h = await c.submit(node.tx())
        assert c.url == node.url
        assert (await c.wait_committed(h, timeout=10)).committed
        assert (await c.block(1)) is not None
    async with AsyncFailoverClient([dead_url], timeout=1) as dead:
        with pytest.raises(NodeUnavailable):
            await dead.status()
