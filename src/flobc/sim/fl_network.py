"""A whole FL network in the simulator: validators with the FL app, evaluators and trainers.

The validators are real :class:`ValidatorNode` objects running :class:`FLApp`; trainers
and evaluators run real ML (deterministic, single-threaded) while the *time* they take is
virtual: ``train_ms`` per epoch x the trainer's speed factor, ``eval_ms`` per evaluation.
A run is therefore a pure function of the configuration and the seed, and does not
depend on how loaded the machine is.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from flobc.app.abci import BlockResult
from flobc.app.fl.app import FLApp
from flobc.app.fl.txs import UPDATE, vote_tx
from flobc.chain.types import Block, SignedTx
from flobc.encoding import decode, sha256
from flobc.node.fl_attacks import LedgerView, visible_updates
from flobc.node.fl_evaluator import EvaluationTask, Evaluator
from flobc.node.fl_genesis import fl_app_state
from flobc.node.fl_roles import TrainerCore, as_vector
from flobc.node.fl_settings import FLRunConfig
from flobc.node.privacy import BudgetSpent
from flobc.node.process import Action, SetTimer
from flobc.node.trainer_policy import TrainerView, next_work
from flobc.sim.ledger import SIM_PARAMS, Disk, SimLedger, sim_keys


class _NoMessages(msgspec.Struct, tag="none"):
    pass


@dataclass
class SimTiming:
    """Virtual costs of ML work."""

    train_ms_per_epoch: int = 2_000
    train_ms_per_step: int = 20
    eval_ms: int = 300
    poll_ms: int = 250


@dataclass
class TrainerRecord:
    submissions: list[tuple[int, int]] = field(default_factory=list)  # (time, version)


class SimTrainer:
    """A trainer process on the simulator (talks to its validator in-process)."""

    message_type = _NoMessages

    def __init__(self, net: SimFLNetwork, index: int):
        self.net = net
        self.index = index
        self.key = net.trainer_keys[index]
        self.node_id = self.key.node_id
        self.core = TrainerCore(net.cfg, index, self.key, net.ledger.genesis.chain_id)
        self.trained_version = -1
        self.base: np.ndarray | None = None
        self.local: np.ndarray | None = None
        self.submitted = False
        self.extra_done = False
        self.submitted_in_extension = False
        self.busy = False
        self.pending: tuple[SignedTx, bytes] | None = None
        self.record = TrainerRecord()
        self.last_check: Any = None
        #: why the trainer stopped for good (its privacy budget is spent), if it did
        self.stopped: str | None = None

    def start(self, now_ms: int) -> list[Action]:
        return [SetTimer("poll", now_ms + self.net.timing.poll_ms)]

    def on_message(self, sender: str, msg: Any, now_ms: int) -> list[Action]:
        return []

    def on_timer(self, name: Hashable, now_ms: int) -> list[Action]:
        if name == "submit":
            return self._submit(now_ms)
        out: list[Action] = [SetTimer("poll", now_ms + self.net.timing.poll_ms)]
        if self.stopped:
            return []
        if self.busy:
            return out
        app = self.net.validator_app(self.index)
        if app is None:
            return out
        st = app.state
        round_ = st.round
        assert round_ is not None
        s = self.net.cfg.sync
        work = next_work(
            TrainerView(
                s.scheme,
                st.version.version,
                self.trained_version,
                self.submitted,
                self.extra_done,
                round_.extension_until_ms is not None,
                self.submitted_in_extension,
            ),
            ssp_extra_steps=s.ssp_max_extra_steps,
            share_every_steps=s.share_every_steps,
        )
        if work.kind == "wait":
            return out
        if work.kind == "train_new":
            blob = self.net.blob(st.version.weights)
            self.base = as_vector(blob).copy()
            self.trained_version = st.version.version
            self.submitted = self.extra_done = self.submitted_in_extension = False
            start = None
        else:
            start = self.local
            self.extra_done = True
        assert self.base is not None
        rnd = sum(v == self.trained_version for _, v in self.record.submissions)
        try:
            self.local, stats = self.core.train(
                self.base, self.trained_version, steps=work.steps, start=start, rnd=rnd
            )
            delta = self.core.delta(
                self.base, self.local, version=self.trained_version, rnd=rnd, view=self._view(app)
            )
            self.pending = self.core.upload(delta, self.trained_version, int(stats.get("steps", 0)))
        except BudgetSpent as exc:
            self.stopped = str(exc)
            return []
        self.busy = True
        t = self.net.timing
        cost = (
            (t.train_ms_per_step * work.steps)
            if work.steps
            else (t.train_ms_per_epoch * max(self.net.cfg.training.epochs, 1))
        )
        delay = int(cost * self.net.cfg.speed_of(self.index))
        return [*out, SetTimer("submit", now_ms + delay)]

    def _view(self, app: FLApp) -> LedgerView | None:
        """What this trainer's validator shows an attacker (see :mod:`flobc.node.fl_attacks`)."""
        a, v = self.core.attack, self.trained_version
        if a is None or not (a.wants_peers or a.wants_previous):
            return None
        peers = []
        if a.wants_peers:
            for j, uid in visible_updates(app.query("round", {"updates": True}), v):
                try:
                    blob = self.net.blob(app.query("update", {"id": uid})["blob"])
                except KeyError:
                    continue
                peers.append((j, as_vector(blob)))
        previous = None
        if a.wants_previous and v > 0:
            previous = as_vector(self.net.blob(app.state.versions[v - 1].weights))
        return LedgerView(tuple(peers), previous)

    def _submit(self, now_ms: int) -> list[Action]:
        self.busy = False
        assert self.pending is not None
        tx, blob = self.pending
        self.pending = None
        for i in self.net.assignment(self.index):
            if i in self.net.ledger.up():  # failover: the first live validator takes it
                self.last_check = self.net.ledger.submit(i, tx, [blob])
                break
        app = self.net.validator_app(self.index)
        if not self.submitted and app is not None:
            r = app.state.round
            assert r is not None
            self.submitted_in_extension = r.extension_until_ms is not None
        self.submitted = True
        self.record.submissions.append((now_ms, self.trained_version))
        return []


def align_clocks(ledger: SimLedger) -> int:
    """Set the validators' clocks to read the genesis time now; return that offset.

    Block time is the median of the validators' clocks and FL deadlines are in block time.
    :class:`SimLedger` starts the virtual clock at the genesis time, so this is 0 unless a
    ledger was built otherwise (then block time would creep by 1 ms per block).
    """
    cluster = ledger.cluster
    offset = ledger.genesis.genesis_time_ms - cluster.now
    for nid in ledger.ids:
        cluster.set_skew(nid, offset)
    return offset


class SimFLNetwork:
    """Validators + trainers of an FL run on one seeded simulated cluster."""

    def __init__(
        self,
        cfg: FLRunConfig,
        *,
        timing: SimTiming | None = None,
        params: Any = SIM_PARAMS,
        network: Any = None,
    ):
        self.cfg = cfg
        self.timing = timing or SimTiming()
        nv, nt = cfg.network.validators, cfg.network.trainers
        self.trainer_keys = sim_keys(nt, cfg.seed, "trainer")
        app_state, self.initial_blob = fl_app_state(
            cfg, [k.public_key.hex() for k in self.trainer_keys]
        )
        self.ledger = SimLedger(
            nv,
            cfg.seed,
            app_factory=self._make_app,
            params=params,
            network=network,
            app_state=app_state,
        )
        #: what every node's clock reads ahead of the virtual clock (see align_clocks)
        self.clock_offset_ms = align_clocks(self.ledger)
        cluster = self.ledger.cluster
        self.evaluators = [Evaluator(cfg, i) for i in range(nv)]
        self._vote_nonce = [0] * nv
        self.ledger.listener_factories.append(self._listener)
        for i in range(nv):
            self.ledger.node(i).commit_listeners.append(self._listener(i))
        self.trainers = [SimTrainer(self, i) for i in range(nt)]
        for t in self.trainers:
            cluster.add(t, peers=[], skew_ms=self.clock_offset_ms)

    def _make_app(self, genesis: Any, disk: Disk) -> FLApp:
        disk.blobs.put(self.initial_blob)
        return FLApp(genesis, disk.blobs)

    # ------------------------------------------------------------------ helpers

    def assignment(self, trainer: int) -> list[int]:
        """Validators a trainer talks to: its own first (spread round-robin), then failover."""
        n = self.cfg.network.validators
        return [(trainer + k) % n for k in range(n)]

    def validator_app(self, trainer: int) -> FLApp | None:
        for i in self.assignment(trainer):
            if i in self.ledger.up():
                return self.ledger.node(i).app  # type: ignore[return-value]
        return None

    def blob(self, hex_hash: str) -> bytes:
        for i in self.ledger.up():
            data = self.ledger.disks[self.ledger.ids[i]].blobs.get(bytes.fromhex(hex_hash))
            if data is not None:
                return data
        raise KeyError(hex_hash)

    def _listener(self, i: int) -> Any:
        def on_commit(block: Block, result: BlockResult, now_ms: int) -> list[Action]:
            for raw, res in zip(block.txs, result.tx_results, strict=True):
                tx = decode(raw, SignedTx)
                if tx.kind == UPDATE and res.code == 0:
                    self._schedule_vote(i, sha256(raw), now_ms)
            return []

        return on_commit

    def _schedule_vote(self, i: int, update_id: bytes, now_ms: int) -> None:
        doc = self.ledger.node(i).app.query("evaluation", {"id": update_id.hex()})
        if doc is None:
            return
        bodies = self.evaluators[i].votes(EvaluationTask.from_query(doc), self.blob)
        nv = len(self.ledger.ids)
        for k, body in enumerate(bodies):  # a second vote is an equivocation: to a peer
            self._vote_nonce[i] += 1
            tx = vote_tx(
                self.ledger.genesis.chain_id, self.ledger.keys[i], body, self._vote_nonce[i]
            )
            target = self.ledger.ids[(i + k) % nv]

            def submit(proc: Any, now: int, tx: Any = tx) -> list[Action]:
                _, actions = proc.submit_tx(tx.encoded(), [], now)
                return actions

            # ``now_ms`` is the validator's clock; the scheduler runs on virtual time.
            at = now_ms - self.ledger.cluster.skew(self.ledger.ids[i]) + self.timing.eval_ms
            self.ledger.cluster.call_at(at, target, submit)

    # ------------------------------------------------------------------ running

    def version(self, i: int = 0) -> int:
        return self.ledger.node(i).app.state.version.version  # type: ignore[attr-defined]

    def run_until_version(self, version: int, timeout_ms: int) -> bool:
        c = self.ledger.cluster
        end = c.now + timeout_ms
        while c.now < end:
            up = self.ledger.up()
            if min(self.version(i) for i in up) >= version:
                return True
            c.run_for(100)
        return False
