"""Model subnetworks (paper §IV.C) at the ABCI boundary: routing, per-subnetwork quorums,
the app hash, snapshots, queries, and the genesis rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from flobc.app.fl.app import FLApp
from flobc.app.fl.composite import SubnetsApp, fl_app, subnet_names
from flobc.app.fl.subnets import SubnetError
from flobc.app.fl.txs import UpdateBody, VoteBody, update_tx, vote_tx
from flobc.app.registry import make_app
from flobc.chain.blobs import MemoryBlobStore
from flobc.chain.genesis import Genesis
from flobc.chain.types import BlockHeader, SignedTx
from flobc.chain.validators import Validator
from flobc.crypto.keys import KeyPair, node_id_of
from flobc.encoding import sha256
from flobc.sim.fl_fixtures import GENESIS_MS, f32, toy_fl_config
from flobc.sim.ledger import sim_keys
from flobc.weights_codec import encode_vector

CHAIN = "subnets-test"
V = sim_keys(3, 0, "validator")
TA = sim_keys(2, 0, "trainer-a")
TB = sim_keys(1, 0, "trainer-b")
W_A = f32(np.linspace(-1, 1, 4))
W_B = f32(np.linspace(0, 1, 6))


def pk(k: KeyPair) -> str:
    return k.public_key.hex()


def subnets_state(**override: Any) -> dict[str, Any]:
    """Subnet ``a``: validators 0 and 1, two trainers. Subnet ``b``: validator 2; its
    trainers are its own key and validator 0 (a validator of ``a`` may train in ``b``)."""
    a = {
        "name": "a",
        "validators": [pk(V[0]), pk(V[1])],
        **toy_fl_config(W_A, [pk(k) for k in TA]),
    }
    b = {
        "name": "b",
        "validators": [pk(V[2])],
        **toy_fl_config(W_B, [pk(TB[0]), pk(V[0])], aggregator="median"),
    }
    subnets = [a, b]
    for k, v in override.items():
        name, field = k.split("__")
        next(s for s in subnets if s["name"] == name)[field] = v
    return {"app": "fl", "fl": {"subnets": subnets}}


def genesis(app_state: dict[str, Any] | None = None) -> Genesis:
    return Genesis(
        chain_id=CHAIN,
        genesis_time_ms=GENESIS_MS,
        validators=[Validator(k.public_key) for k in V],
        app_state=app_state or subnets_state(),
    )


def new_app(app_state: dict[str, Any] | None = None) -> SubnetsApp:
    blobs = MemoryBlobStore()
    blobs.put(encode_vector(W_A))
    blobs.put(encode_vector(W_B))
    app = make_app(genesis(app_state), blobs)
    assert isinstance(app, SubnetsApp)
    return app


class Chain:
    """Executes blocks on one or more app instances at increasing times."""

    def __init__(self, *apps: SubnetsApp):
        self.apps = apps
        self.height, self.time_ms = 0, GENESIS_MS
        self.nonce: dict[bytes, int] = {}

    def next_nonce(self, key: KeyPair) -> int:
        self.nonce[key.public_key] = self.nonce.get(key.public_key, 0) + 1
        return self.nonce[key.public_key]

    def update(self, key: KeyPair, subnet: str, delta: np.ndarray) -> SignedTx:
        blob = encode_vector(f32(delta))
        for app in self.apps:
            app.blobs.put(blob)
        version = self.apps[0].subnet(subnet).live.version.version
        body = UpdateBody(version, sha256(blob), 10)
        return update_tx(CHAIN, key, body, self.next_nonce(key), subnet)

    def vote(self, key: KeyPair, subnet: str, update: SignedTx, gain: float = 0.1) -> SignedTx:
        body = VoteBody(update.hash, 0.5 + gain, 0.5)
        return vote_tx(CHAIN, key, [body], self.next_nonce(key), subnet)

    def block(self, txs: list[SignedTx], dt_ms: int = 100) -> list[Any]:
        self.height, self.time_ms = self.height + 1, self.time_ms + dt_ms
        out = []
        for app in self.apps:
            header = BlockHeader(
                CHAIN, self.height, 0, self.time_ms, V[0].address, b"", b"", b"", b"", b""
            )
            res = app.finalize_block(header, txs)
            app.commit()
            out.append(res)
        return out


def test_two_models_advance_side_by_side_on_one_chain():
    app = new_app()
    chain = Chain(app)
    ua = chain.update(TA[0], "a", np.full(4, 0.5))
    ub = chain.update(TB[0], "b", np.full(6, -0.25))
    (res,) = chain.block([ua, ub])
    assert [r.code for r in res.tx_results] == [0, 0]
    # b's only validator decides alone; a needs both of its own validators (2 of 2)
    (res,) = chain.block([chain.vote(V[2], "b", ub), chain.vote(V[0], "a", ua)])
    assert [r.code for r in res.tx_results] == [0, 0]
    assert app.subnet("b").live.updates[ub.hash.hex()].status == "accepted"
    assert app.subnet("a").live.updates[ua.hash.hex()].status == "pending"
    chain.block([chain.vote(V[1], "a", ua)])
    assert app.subnet("a").live.updates[ua.hash.hex()].status == "accepted"
    chain.block([], dt_ms=20_000)  # both rounds' deadlines pass
    assert app.subnet("a").state.version.version == 1
    assert app.subnet("b").state.version.version == 1
    assert app.subnet("a").cfg.model.size == 4 and app.subnet("b").cfg.model.size == 6
    assert app.subnet("b").ctx.aggregator.name == "median"


def test_votes_count_only_in_the_subnets_a_validator_validates():
    app = new_app()
    chain = Chain(app)
    ua = chain.update(TA[0], "a", np.full(4, 0.5))
    chain.block([ua])
    (res,) = chain.block([chain.vote(V[2], "a", ua)])
    assert res.tx_results[0].code == 403


def test_a_validator_of_one_subnet_trains_in_another():
    app = new_app()
    chain = Chain(app)
    tx = chain.update(V[0], "b", np.full(6, 0.1))
    (res,) = chain.block([tx])
    assert res.tx_results[0].code == 0
    assert node_id_of(V[0].public_key) in app.subnet("b").live.trainers


def test_transactions_are_routed_by_their_signed_subnet():
    app = new_app()
    chain = Chain(app)
    bare = update_tx(CHAIN, TA[0], UpdateBody(0, b"\0" * 32, 10), 1)
    unknown = update_tx(CHAIN, TA[0], UpdateBody(0, b"\0" * 32, 10), 1, "zzz")
    wrong = chain.update(TA[0], "b", np.full(6, 0.1))  # a's trainer is not b's
    for tx in (bare, unknown):
        check = app.check_tx(tx)
        assert check.code == 400 and "names no subnetwork" in check.message
    assert app.check_tx(wrong).code == 403
    assert not app.process_proposal(None, [bare])  # type: ignore[arg-type]
    (res,) = chain.block([bare, wrong])
    assert [r.code for r in res.tx_results] == [400, 403]


def test_identical_blocks_give_identical_hashes_and_snapshots_restore():
    a1, a2 = new_app(), new_app()
    chain = Chain(a1, a2)
    ua = chain.update(TA[1], "a", np.full(4, 0.2))
    ub = chain.update(TB[0], "b", np.full(6, 0.2))
    r1, r2 = chain.block([ua, ub])
    assert r1.app_hash == r2.app_hash == a1.info()[1] != b""
    chain.block([chain.vote(V[2], "b", ub)])
    assert a1.info() == a2.info()
    fresh = new_app()
    fresh.restore(a1.info()[0], a1.snapshot())
    assert fresh.info() == a1.info()
    # the restored app executes the next block to the same hash
    vote = chain.vote(V[0], "a", ua)
    r3, _ = chain.block([vote])
    header = BlockHeader(CHAIN, chain.height, 0, chain.time_ms, V[0].address, *[b""] * 5)
    assert fresh.finalize_block(header, [vote]).app_hash == r3.app_hash == a1.info()[1]


def test_queries_name_their_subnet():
    app = new_app()
    docs = app.query("subnets", {})
    assert [d["name"] for d in docs] == ["a", "b"]
    assert docs[0]["validators"] == [pk(V[0]), pk(V[1])] and docs[1]["trainers"] == 2
    assert app.query("latest", {"subnet": "b"})["version"] == 0
    with pytest.raises(SubnetError, match="subnet: this network has 2 subnetworks"):
        app.query("latest", {})
    with pytest.raises(SubnetError, match="subnet: unknown subnetwork 'c'"):
        app.query("latest", {"subnet": "c"})
    assert subnet_names(app) == ["a", "b"] and fl_app(app, "a") is app.subnet("a")


def test_a_single_model_genesis_is_the_plain_app():
    blobs = MemoryBlobStore()
    blobs.put(encode_vector(W_A))
    g = genesis({"app": "fl", "fl": toy_fl_config(W_A, [pk(k) for k in TA])})
    app = make_app(g, blobs)
    assert type(app) is FLApp and subnet_names(app) == [None] and fl_app(app) is app
    with pytest.raises(SubnetError, match="no subnetworks"):
        fl_app(app, "a")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"a__trainers": [pk(TA[0]), pk(V[1])]},
            f"subnet 'a': node {node_id_of(V[1].public_key)} is both a trainer and a validator",
        ),
        ({"b__validators": []}, "subnet 'b': validators is empty"),
        ({"b__validators": [pk(TB[0])]}, "subnet 'b': validator '.*' is not in the chain's"),
        ({"b__name": "a"}, "subnet 'a': the name is used twice"),
        ({"b__name": "B@x"}, r"fl.subnets\[1\].name: 'B@x' is not a subnetwork name"),
        ({"b__aggregator": "nope"}, "subnet 'b': invalid FL config in genesis"),
    ],
)
def test_bad_subnet_genesis_is_rejected_in_one_line(override, message):
    with pytest.raises(SubnetError, match=message) as info:
        new_app(subnets_state(**override))
    assert "\n" not in str(info.value)


def test_subnets_section_holds_nothing_else():
    state = subnets_state()
    state["fl"]["trainers"] = []
    with pytest.raises(SubnetError, match="holds only 'subnets'"):
        new_app(state)
    with pytest.raises(SubnetError, match="non-empty list"):
        new_app({"app": "fl", "fl": {"subnets": []}})
