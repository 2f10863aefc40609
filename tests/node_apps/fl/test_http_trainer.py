"""The HTTP runtime's trainer runs the simulator's trainer: fed over its client the ledger
a simulated run showed, it uploads the same Δ bytes, for attackers (one of which reads the
previous global model over HTTP) and under differential privacy alike; and a restarted
private trainer resumes its accounting from the ledger, stopping if its budget is spent."""

from __future__ import annotations

from typing import Any

import pytest

from flobc.app.fl.state import FLState
from flobc.chain.types import SignedTx
from flobc.encoding import sha256
from flobc.ml.weights import weights_hash
from flobc.node_apps.fl.fl_client import FLClient
from flobc.node_apps.fl.trainer_core import TrainerCore, as_vector
from flobc.node_apps.fl.workers import HttpTrainer, version_waiter
from flobc.sim.fl_fixtures import tiny_config
from flobc.sim.fl_network import SimFLNetwork

VERSIONS = 2


class _Done(BaseException):
    """Ends the trainer's (endless) loop once it uploaded on every version."""


class LedgerReplay(FLClient):
    """Serves a finished simulated run's versions, one per upload, as the validators' API."""

    def __init__(self, net: SimFLNetwork) -> None:
        super().__init__([], None)  # type: ignore[arg-type]
        self.net = net
        self.state: FLState = net.ledger.node(0).app.state  # type: ignore[attr-defined]
        self.version = 0
        self.uploads: dict[int, str] = {}
        self.reads: list[str] = []

    def _doc(self, v: int) -> dict[str, Any]:
        return {"version": v, "hash": self.state.versions[v].weights}

    async def json(self, path: str) -> Any:
        self.reads.append(path)
        if path == "/v1/models/latest":
            return self._doc(self.version)
        if path.startswith("/v1/models/"):
            return self._doc(int(path.rsplit("/", 1)[1]))
        if path == "/v1/trainers":  # the start of the run: nothing spent yet
            return [
                {"public_key": t.public_key, "dp_releases": 0} for t in self.state.trainers.values()
            ]
        assert path == "/v1/round", path
        return {"extension_until_ms": None}

    async def weights(self, version: int, expected_hash: str) -> Any:
        vec = as_vector(self.net.blob(expected_hash))
        assert weights_hash(vec).hex() == expected_hash
        return vec

    async def upload(self, tx: SignedTx, blob: bytes) -> tuple[int, dict[str, Any]]:
        self.uploads[self.version] = sha256(blob).hex()
        if self.version + 1 >= VERSIONS:
            raise _Done
        self.version += 1
        return 200, {}


ATTACKS = [
    {"name": "free_ride_global", "trainers": [1]},
    {"name": "sign_flip", "trainers": [2], "params": {"scale": 4}},
]
DP = {"privacy.enabled": True, "privacy.planned_rounds": 3, "validation.rule": "paper"}


@pytest.mark.parametrize(
    ("settings", "trainers"),
    [({"attacks": ATTACKS}, [0, 1, 2]), (DP, [0, 3])],
    ids=["attacks", "privacy"],
)
async def test_http_trainer_uploads_what_the_simulated_trainer_did(
    settings: dict[str, Any], trainers: list[int]
) -> None:
    net = SimFLNetwork(tiny_config(**settings))
    assert net.run_until_version(VERSIONS, 60_000)
    state: FLState = net.ledger.node(0).app.state  # type: ignore[attr-defined]
    for j in trainers:
        tid = net.trainers[j].key.node_id
        sim = {u.base_version: u.blob for u in state.updates.values() if u.trainer == tid}
        client = LedgerReplay(net)
        core = TrainerCore(net.cfg, j, net.trainer_keys[j], net.ledger.genesis.chain_id)
        with pytest.raises(_Done):
            await HttpTrainer(core, client, 1.0).loop(poll_s=0)
        assert client.uploads == {v: sim[v] for v in range(VERSIONS)}, f"trainer {j}"


async def test_a_restarted_trainer_whose_budget_the_ledger_shows_spent_stops() -> None:
    net = SimFLNetwork(tiny_config(**DP))
    client = LedgerReplay(net)
    spent = [{"public_key": net.trainer_keys[0].public_key.hex(), "dp_releases": 3, "epsilon": 8.0}]

    async def json(path: str) -> Any:
        return spent if path == "/v1/trainers" else await LedgerReplay.json(client, path)

    client.json = json  # type: ignore[method-assign]
    core = TrainerCore(net.cfg, 0, net.trainer_keys[0], net.ledger.genesis.chain_id)
    trainer = HttpTrainer(core, client, 1.0)
    await trainer.loop(poll_s=0)  # returns: the trainer stopped
    assert trainer.role.stopped is not None and "already spent" in trainer.role.stopped
    assert client.uploads == {}


@pytest.mark.parametrize(("scheme", "follows"), [("bsp", False), ("asp", False), ("ssp", True)])
async def test_only_a_scheme_that_acts_on_the_round_makes_the_trainer_read_it(
    scheme: str, follows: bool
) -> None:
    """Under BSP a trainer's work changes only with a new version: it never reads
    ``/v1/round`` and block events do not wake it; under SSP (extensions) both happen."""
    net = SimFLNetwork(tiny_config(**{"sync.scheme": scheme}))
    assert net.run_until_version(VERSIONS, 60_000)
    client = LedgerReplay(net)
    core = TrainerCore(net.cfg, 0, net.trainer_keys[0], net.ledger.genesis.chain_id)
    with pytest.raises(_Done):
        await HttpTrainer(core, client, 1.0).loop(poll_s=0)
    assert set(client.uploads) == set(range(VERSIONS))
    assert ("/v1/round" in client.reads) is follows
    waiter = version_waiter(net.cfg, None, ["http://v0"])  # type: ignore[arg-type]
    waiter.on_event("block")
    assert waiter.wakes == (1 if follows else 0)
    waiter.on_event("version")
    assert waiter.wakes == (2 if follows else 1)


class _PushedWaiter:
    """A connected event stream whose every wait is answered at once, logged."""

    connected = True

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def wait(self, fallback_s: float) -> bool:
        self.log.append("wait")
        return True


@pytest.mark.parametrize("pushed", [True, False])
async def test_a_pushed_trainer_waits_for_news_after_an_upload_before_reading(
    pushed: bool,
) -> None:
    """With its event stream up, a trainer that just uploaded reads the ledger again only
    after a wake (the read right after an upload found the same version every round);
    without a stream it reads at once, as polling must."""
    net = SimFLNetwork(tiny_config())
    assert net.run_until_version(VERSIONS, 60_000)
    log: list[str] = []
    client = LedgerReplay(net)
    read, upload = client.json, client.upload

    async def json(path: str) -> Any:
        log.append("read")
        return await read(path)

    async def logged_upload(tx: SignedTx, blob: bytes) -> tuple[int, dict[str, Any]]:
        log.append("upload")
        return await upload(tx, blob)

    client.json = json  # type: ignore[method-assign]
    client.upload = logged_upload  # type: ignore[method-assign]
    core = TrainerCore(net.cfg, 0, net.trainer_keys[0], net.ledger.genesis.chain_id)
    waiter = _PushedWaiter(log) if pushed else None
    with pytest.raises(_Done):
        await HttpTrainer(core, client, 1.0, waiter).loop(poll_s=0)  # type: ignore[arg-type]
    between = ["upload", "wait", "read"] if pushed else ["upload", "read"]
    assert log == ["read", *between, "upload"]
