"""Model subnetworks (paper §IV.C) in the simulator: one chain, several models.

The validators run :class:`~flobc.app.fl.composite.SubnetsApp`; each subnetwork has its own
:class:`~flobc.sim.fl_network.SimTrainer` processes (the same trainer code as a
single-model run, seeing their subnetwork's app) and, on each validator that validates it,
its own evaluator. Nothing else changes: the run is a pure function of config and seed.
"""

from __future__ import annotations

from typing import Any

from flobc.app.abci import BlockResult
from flobc.app.fl.app import FLApp
from flobc.app.fl.composite import SubnetsApp
from flobc.app.fl.subnets import split_kind
from flobc.app.fl.txs import MAX_BALLOTS, UPDATE
from flobc.chain.types import Block, SignedTx
from flobc.encoding import decode, sha256
from flobc.node.process import Action
from flobc.node_apps.fl.evaluator import Evaluator
from flobc.node_apps.fl.settings import FLRunConfig
from flobc.node_apps.fl.subnets import SubnetRun, subnet_runs, subnets_app_state
from flobc.roles import evaluator as evaluator_role
from flobc.roles.effects import UpdatesCommitted
from flobc.sim.executor import Executor, InProcessExecutor
from flobc.sim.fl_network import SimTiming, SimTrainer, SimValidators, align_clocks
from flobc.sim.ledger import SIM_PARAMS, Disk, SimLedger, sim_keys


class SubnetSide:
    """One subnetwork as its :class:`SimTrainer` processes see the network."""

    def __init__(self, net: SimSubnetsNetwork, run: SubnetRun):
        self.net = net
        self.run = run
        self.subnet = run.name
        self.cfg: FLRunConfig = run.cfg
        self.timing = net.timing
        self.trainer_keys = sim_keys(run.cfg.network.trainers, net.cfg.seed, f"trainer-{run.name}")
        self.trainers: list[SimTrainer] = []

    @property
    def ledger(self) -> SimLedger:
        return self.net.ledger

    @property
    def executor(self) -> Executor:
        return self.net.executor

    def assignment(self, trainer: int) -> list[int]:
        """Any chain validator takes transactions; spread round-robin, then failover."""
        return self.net.assignment(trainer)

    def validator_app(self, trainer: int) -> FLApp | None:
        for i in self.assignment(trainer):
            if i in self.ledger.up():
                return self.net.app(i).subnet(self.subnet)
        return None

    def blob(self, hex_hash: str) -> bytes:
        return self.net.blob(hex_hash)


class SimSubnetsNetwork(SimValidators):
    """Validators + per-subnetwork trainers and evaluators on one seeded simulated cluster."""

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
        self.runs = subnet_runs(cfg)
        if not self.runs:
            raise ValueError("the configuration has no [[subnets]]; use SimFLNetwork")
        nv = cfg.network.validators
        vkeys = sim_keys(nv, cfg.seed)
        self.sides = {run.name: SubnetSide(self, run) for run in self.runs}
        app_state, self.initial_blobs = subnets_app_state(
            self.runs,
            [k.public_key.hex() for k in vkeys],
            {n: [k.public_key.hex() for k in s.trainer_keys] for n, s in self.sides.items()},
        )
        self.ledger = SimLedger(
            nv,
            cfg.seed,
            app_factory=self._make_app,
            params=params,
            network=network,
            app_state=app_state,
            keys=vkeys,
        )
        self.clock_offset_ms = align_clocks(self.ledger)
        #: (validator, subnet) -> its evaluator (ML) and evaluator core, where it validates
        self.evaluators: dict[tuple[int, str], Evaluator] = {}
        self.roles: dict[tuple[int, str], evaluator_role.Evaluator] = {}
        for run in self.runs:
            for pos, i in enumerate(run.validators):
                self.evaluators[i, run.name] = Evaluator(run.cfg, pos)
                # the ledger spells a voter by its index in the subnetwork
                self.roles[i, run.name] = evaluator_role.Evaluator(str(pos), vote_batch)
        self._init_votes()
        self.ledger.listener_factories.append(self._listener)
        for i in range(nv):
            self.ledger.node(i).commit_listeners.append(self._listener(i))
        for side in self.sides.values():
            side.trainers = [SimTrainer(side, j) for j in range(side.cfg.network.trainers)]  # type: ignore[arg-type]
            for t in side.trainers:
                self.ledger.cluster.add(t, peers=[], skew_ms=self.clock_offset_ms)

    def _make_app(self, genesis: Any, disk: Disk) -> SubnetsApp:
        for blob in self.initial_blobs:
            disk.blobs.put(blob)
        return SubnetsApp(genesis, disk.blobs)

    # ------------------------------------------------------------------ helpers

    def app(self, i: int) -> SubnetsApp:
        return self.ledger.node(i).app  # type: ignore[return-value]

    # ------------------------------------------------------------------ evaluators

    def _listener(self, i: int) -> Any:
        def on_commit(block: Block, result: BlockResult, now_ms: int) -> list[Action]:
            ids: dict[str, list[bytes]] = {}
            for raw, res in zip(block.txs, result.tx_results, strict=True):
                if res.code != 0:
                    continue
                base, name = split_kind(decode(raw, SignedTx).kind)
                if base == UPDATE and name is not None and (i, name) in self.roles:
                    ids.setdefault(name, []).append(sha256(raw))
            for name in self.sides:  # genesis order
                if name in ids:
                    self._evaluate(i, name, UpdatesCommitted(tuple(ids[name])), now_ms)
            return []

        return on_commit

    def _evaluate(self, i: int, name: str, event: UpdatesCommitted, now_ms: int) -> None:
        """Validator ``i``'s evaluator of subnetwork ``name``, as in a single-model run."""
        app = self.app(i).subnet(name)
        role, evaluator = self.roles[i, name], self.evaluators[i, name]
        self._run_evaluator(i, role, evaluator, app, event, now_ms, name)

    # ------------------------------------------------------------------ running

    def version(self, name: str, i: int = 0) -> int:
        return self.app(i).subnet(name).state.version.version

    def run_until_version(self, version: int, timeout_ms: int) -> bool:
        """Run until every subnetwork reached ``version`` on every live validator."""
        c = self.ledger.cluster
        end = c.now + timeout_ms
        while c.now < end:
            up = self.ledger.up()
            if all(self.version(n, i) >= version for n in self.sides for i in up):
                return True
            c.run_for(100)
        return False
