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
from flobc.app.fl.txs import MAX_BALLOTS, UPDATE, vote_tx
from flobc.chain.types import Block, SignedTx
from flobc.encoding import decode, sha256
from flobc.node.process import Action, SetTimer
from flobc.node_apps.fl.attacks import LedgerView, visible_updates
from flobc.node_apps.fl.evaluator import Evaluator, release_since
from flobc.node_apps.fl.genesis import fl_app_state
from flobc.node_apps.fl.settings import FLRunConfig
from flobc.node_apps.fl.trainer_core import TrainerCore, as_vector, scheme_policy
from flobc.roles import evaluator as evaluator_role
from flobc.roles.effects import (
    BuildUpdate,
    Evaluate,
    EvaluatorEffect,
    EvaluatorInput,
    FetchModel,
    FetchPrivacySpent,
    FetchView,
    LedgerRead,
    ModelFetched,
    Prepare,
    PrivacySpent,
    ReadTasks,
    ResumePrivacy,
    Submit,
    Submitted,
    SubmitVotes,
    TasksRead,
    Train,
    TrainerEffect,
    TrainerInput,
    UpdatesCommitted,
    ViewFetched,
)
from flobc.roles.trainer import Trainer
from flobc.sim.executor import Executor, InProcessExecutor, Pending
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
    """A trainer process on the simulator: the :class:`~flobc.roles.trainer.Trainer` core,
    its effects run in-process against the trainer's validator.

    Effects run at once; training is charged virtual time (``train_ms_per_step`` x steps,
    or ``train_ms_per_epoch`` x epochs, times the trainer's speed factor) and the update
    reaches the validator when that time has passed. While it is in flight the trainer
    is busy: the core ignores ledger reads.
    """

    message_type = _NoMessages

    def __init__(self, net: SimFLNetwork, index: int):
        self.net = net
        self.index = index
        self.key = net.trainer_keys[index]
        self.node_id = self.key.node_id
        self.core = TrainerCore(
            net.cfg, index, self.key, net.ledger.genesis.chain_id, getattr(net, "subnet", None)
        )
        self.role = Trainer(
            scheme_policy(net.cfg), wants_view=self.core.wants_view, private=self.core.private
        )
        self.record = TrainerRecord()
        self.last_check: Any = None
        self._cost_ms = 0  # virtual time charged to the cycle in flight
        self._pending: Submit | None = None
        #: a deferred training (see the executor), collected when its time is up
        self._training: Pending | None = None

    @property
    def base(self) -> np.ndarray | None:
        return self.role.base  # type: ignore[no-any-return]

    @property
    def stopped(self) -> str | None:
        """Why the trainer stopped for good (its privacy budget is spent), if it did."""
        return self.role.stopped

    def start(self, now_ms: int) -> list[Action]:
        return [SetTimer("poll", now_ms + self.net.timing.poll_ms)]

    def on_message(self, sender: str, msg: Any, now_ms: int) -> list[Action]:
        return []

    def on_timer(self, name: Hashable, now_ms: int) -> list[Action]:
        if name == "submit":
            return self._submit(now_ms)
        if self.stopped:
            return []
        out: list[Action] = [SetTimer("poll", now_ms + self.net.timing.poll_ms)]
        app = self.net.validator_app(self.index)
        if app is None:
            return out
        st = app.state
        assert st.round is not None
        read = LedgerRead(
            st.version.version, st.version.weights, st.round.extension_until_ms is not None
        )
        self._cost_ms = 0
        submitting = self._run(self.role.handle(read), app)
        if self.stopped:
            return []
        if submitting:
            out.append(SetTimer("submit", now_ms + self._cost_ms))
        return out

    def _run(self, effects: list[TrainerEffect], app: FLApp) -> bool:
        """Run effects until the core waits, stops or hands over an update to submit
        (then True: it goes out when the training time has passed)."""
        queue = list(effects)
        while queue:
            eff = queue.pop(0)
            result: TrainerInput
            if isinstance(eff, FetchPrivacySpent):
                doc = app.query("trainers", {})
                result = PrivacySpent.from_trainers(doc, self.key.public_key.hex())
            elif isinstance(eff, FetchModel):
                result = ModelFetched(eff.version, as_vector(self.net.blob(eff.weights_hash)))
            elif isinstance(eff, Train):
                self._cost_ms += self._train_cost(eff.steps)
                pending = self.net.executor.train(self.core, eff)
                if self.net.executor.deferred and not self.role.wants_view:
                    # collected at "submit"; building the update reads no ledger state
                    self._training = pending
                    return True
                result = pending.result()
            elif isinstance(eff, FetchView):
                result = ViewFetched(self._view(app, eff.version))
            elif isinstance(eff, BuildUpdate | ResumePrivacy):
                result = self.core.execute(eff)
            elif isinstance(eff, Submit):
                self._pending = eff
                return True
            else:  # Wait, Stop
                continue
            queue.extend(self.role.handle(result))
        return False

    def _train_cost(self, steps: int | None) -> int:
        t = self.net.timing
        cost = (
            (t.train_ms_per_step * steps)
            if steps
            else (t.train_ms_per_epoch * max(self.net.cfg.training.epochs, 1))
        )
        return int(cost * self.net.cfg.speed_of(self.index))

    def _view(self, app: FLApp, v: int) -> LedgerView | None:
        """What this trainer's validator shows an attacker (see
        :mod:`flobc.node_apps.fl.attacks`)."""
        a = self.core.attack
        assert a is not None
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
        if self._training is not None:
            result, self._training = self._training.result(), None
            # what follows a pure training (BuildUpdate, Submit) reads no ledger state
            self._run(self.role.handle(result), self.net.validator_app(self.index))  # type: ignore[arg-type]
            if self.stopped or self._pending is None:
                return []
        assert self._pending is not None
        eff, self._pending = self._pending, None
        for i in self.net.assignment(self.index):
            if i in self.net.ledger.up():  # failover: the first live validator takes it
                self.last_check = self.net.ledger.submit(i, eff.tx, [eff.blob])
                break
        app = self.net.validator_app(self.index)
        extended = False
        if app is not None:
            r = app.state.round
            assert r is not None
            extended = r.extension_until_ms is not None
        check = self.last_check
        accepted = check is not None and bool(check.ok)
        message = "" if check is None else str(check.message)
        self.record.submissions.append((now_ms, eff.version))
        self.role.handle(Submitted(accepted, message, extended))
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


class SimValidators:
    """What every simulated FL network does on the validators' side: find blobs, spread
    trainers over validators, run an evaluator core and deliver its votes.

    Subclasses set ``cfg``, ``executor``, ``timing`` and ``ledger`` and call
    :meth:`_init_votes` once the ledger exists.
    """

    cfg: FLRunConfig
    executor: Executor
    timing: SimTiming
    ledger: SimLedger

    def _init_votes(self) -> None:
        self._vote_nonce = [0] * len(self.ledger.ids)

    def assignment(self, trainer: int) -> list[int]:
        """Validators a trainer talks to: its own first (spread round-robin), then failover."""
        n = self.cfg.network.validators
        return [(trainer + k) % n for k in range(n)]

    def blob(self, hex_hash: str) -> bytes:
        data = self._blob_or_none(hex_hash)
        if data is None:
            raise KeyError(hex_hash)
        return data

    def _blob_or_none(self, hex_hash: str) -> bytes | None:
        """The blob from the first live validator that holds it."""
        for i in self.ledger.up():
            data = self.ledger.disks[self.ledger.ids[i]].blobs.get(bytes.fromhex(hex_hash))
            if data is not None:
                return data
        return None

    def _run_evaluator(
        self,
        i: int,
        role: evaluator_role.Evaluator,
        evaluator: Evaluator,
        app: FLApp,
        event: EvaluatorInput,
        now_ms: int,
        subnet: str | None = None,
    ) -> None:
        """Run validator ``i``'s evaluator core over ``app``: a batch is scored at once
        and its vote transaction reaches the mempool (or, for conflicting second ballots,
        a peer's) ``eval_ms`` later."""
        queue: list[EvaluatorEffect] = role.handle(event)
        while queue:
            eff = queue.pop(0)
            if isinstance(eff, ReadTasks):
                docs = tuple(app.query("evaluation", {"id": uid.hex()}) for uid in eff.ids)
                queue.extend(role.handle(TasksRead(docs)))
            elif isinstance(eff, Evaluate):
                queue.extend(role.handle(self.executor.score(evaluator, eff, self._blob_or_none)))
            elif isinstance(eff, Prepare):
                if not self.executor.remote:  # remote workers keep caches of their own
                    evaluator.prepare(eff, self._blob_or_none)
            else:
                self._send_votes(i, eff, now_ms, subnet)

    def _send_votes(self, i: int, eff: SubmitVotes, now_ms: int, subnet: str | None = None) -> None:
        self._vote_nonce[i] += 1
        chain_id, key = self.ledger.genesis.chain_id, self.ledger.keys[i]
        tx = vote_tx(chain_id, key, eff.bodies, self._vote_nonce[i], subnet)
        target = self.ledger.ids[(i + eff.k) % len(self.ledger.ids)]

        def submit(proc: Any, now: int, tx: Any = tx) -> list[Action]:
            _, actions = proc.submit_tx(tx.encoded(), [], now)
            return actions

        # ``now_ms`` is the validator's clock; the scheduler runs on virtual time.
        at = now_ms - self.ledger.cluster.skew(self.ledger.ids[i]) + self.timing.eval_ms
        self.ledger.cluster.call_at(at, target, submit)


class SimFLNetwork(SimValidators):
    """Validators + trainers of an FL run on one seeded simulated cluster."""

    def __init__(
        self,
        cfg: FLRunConfig,
        *,
        timing: SimTiming | None = None,
        params: Any = SIM_PARAMS,
        network: Any = None,
        executor: Executor | None = None,
        vote_batch: int = MAX_BALLOTS,
    ):
        self.cfg = cfg
        #: most ballots per vote transaction (see :mod:`flobc.roles.evaluator`)
        self.vote_batch = vote_batch
        #: where trainings and scoring run (:mod:`flobc.sim.executor`)
        self.executor: Executor = executor or InProcessExecutor()
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
        #: the validators' evaluator cores (:class:`flobc.roles.evaluator.Evaluator`)
        self.roles = [
            evaluator_role.Evaluator(str(self.ledger.node(i).me), vote_batch) for i in range(nv)
        ]
        self._init_votes()
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

    def validator_app(self, trainer: int) -> FLApp | None:
        for i in self.assignment(trainer):
            if i in self.ledger.up():
                return self.ledger.node(i).app  # type: ignore[return-value]
        return None

    def _listener(self, i: int) -> Any:
        def on_commit(block: Block, result: BlockResult, now_ms: int) -> list[Action]:
            ids = tuple(
                sha256(raw)
                for raw, res in zip(block.txs, result.tx_results, strict=True)
                if res.code == 0 and decode(raw, SignedTx).kind == UPDATE
            )
            if ids:
                self._evaluate(i, UpdatesCommitted(ids), now_ms)
            versions = self.ledger.node(i).app.state.versions  # type: ignore[attr-defined]
            release = release_since(versions, seen[0])
            seen[0] = len(versions)
            if release is not None:  # prepared now: the same votes, computed earlier
                self._evaluate(i, release, now_ms)
            return []

        seen = [0]
        return on_commit

    def _evaluate(self, i: int, event: EvaluatorInput, now_ms: int) -> None:
        node = self.ledger.node(i)
        self._run_evaluator(i, self.roles[i], self.evaluators[i], node.app, event, now_ms)  # type: ignore[arg-type]

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
