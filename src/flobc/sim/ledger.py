"""A simulated validator network: real :class:`ValidatorNode` objects on the simulator.

Each validator has a simulated *disk* (block store, blob store, write-ahead log and sign
guard) that survives :meth:`SimLedger.crash`; :meth:`SimLedger.restart` builds a fresh
node object from that disk, exactly as a real process restarts from its home folder.
Every signed consensus message that leaves a validator is recorded, so the invariant
checker can prove that no honest validator ever double-signed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flobc.app.abci import Application, TxCheck
from flobc.app.kvstore import KVStoreApp
from flobc.chain.blobs import MemoryBlobStore
from flobc.chain.genesis import ConsensusParams, Genesis
from flobc.chain.store import MemoryBlockStore
from flobc.chain.types import Proposal, SignedTx, Vote
from flobc.chain.validators import Validator
from flobc.consensus.sign_guard import SignGuard
from flobc.crypto.keys import KeyPair
from flobc.encoding import sha256
from flobc.node.consensus_log import ConsensusLog, MemoryWAL
from flobc.node.errors import FatalNodeError
from flobc.node.process import Action
from flobc.node.validator import NodeConfig, ValidatorNode
from flobc.sim.cluster import Cluster
from flobc.sim.network import NetworkConfig

#: Builds the application of one validator from the genesis and that validator's disk.
AppFactory = Callable[[Genesis, "Disk"], Application]

#: Timeouts scaled for simulated networks with a few ms of latency.
SIM_PARAMS = ConsensusParams(
    timeout_propose_ms=300,
    timeout_propose_delta_ms=100,
    timeout_prevote_ms=200,
    timeout_prevote_delta_ms=100,
    timeout_precommit_ms=200,
    timeout_precommit_delta_ms=100,
    empty_block_interval_ms=200,
)


class PooledBlobStore(MemoryBlobStore):
    """A validator's blob store whose bytes are shared with the other simulated disks.

    Each disk keeps its own set of hashes (what this validator has, as a real node's
    folder would), but a blob's bytes are one object in the process: every delivery
    decodes a fresh copy of a gossiped blob, and ten validators kept ten copies of every
    update (at 10,000 trainers, ~230 MB more per round). Bytes are immutable and named
    by their hash, so sharing them changes no answer.
    """

    def __init__(self, pool: dict[bytes, bytes] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.pool: dict[bytes, bytes] = {} if pool is None else pool

    def put(self, data: bytes) -> bytes:
        h = sha256(data)
        shared = self.pool.get(h)
        if shared is None:
            shared = bytes(data)
        out = super().put(shared)  # refuses an oversized blob before the pool keeps it
        self.pool.setdefault(h, shared)
        return out


@dataclass
class Disk:
    """What a validator keeps across a crash."""

    store: MemoryBlockStore = field(default_factory=MemoryBlockStore)
    blobs: MemoryBlobStore = field(default_factory=PooledBlobStore)
    wal: MemoryWAL = field(default_factory=MemoryWAL)
    guard: SignGuard = field(default_factory=lambda: SignGuard(None))


class HaltingNode(ValidatorNode):
    """A validator that, like a real process, stops for good on a fatal error."""

    halted: str | None = None

    def _guard(self, fn: Callable[[], list[Action]]) -> list[Action]:
        if self.halted is not None:
            return []
        try:
            return fn()
        except FatalNodeError as exc:
            self.halted = str(exc)
            return []

    def start(self, now_ms: int) -> list[Action]:
        return self._guard(lambda: super(HaltingNode, self).start(now_ms))

    def on_message(self, sender: str, msg: Any, now_ms: int) -> list[Action]:
        return self._guard(lambda: super(HaltingNode, self).on_message(sender, msg, now_ms))

    def on_timer(self, name: Any, now_ms: int) -> list[Action]:
        return self._guard(lambda: super(HaltingNode, self).on_timer(name, now_ms))


def kv_app(genesis: Genesis, disk: Disk) -> Application:
    return KVStoreApp(genesis.chain_id)


def sim_key(i: int, seed: int, label: str = "validator") -> KeyPair:
    """Key pair ``i`` of a simulation (what :func:`sim_keys` lists)."""
    return KeyPair.from_seed(sha256(f"{label}/{seed}/{i}".encode()))


def sim_keys(n: int, seed: int, label: str = "validator") -> list[KeyPair]:
    """Deterministic key pairs for a simulation."""
    return [sim_key(i, seed, label) for i in range(n)]


class SimLedger:
    """``n`` validators on a seeded :class:`Cluster`."""

    def __init__(
        self,
        n: int,
        seed: int = 0,
        *,
        app_factory: AppFactory = kv_app,
        params: ConsensusParams = SIM_PARAMS,
        network: NetworkConfig | None = None,
        app_state: dict[str, Any] | None = None,
        keys: list[KeyPair] | None = None,
        node_config: NodeConfig | None = None,
    ):
        self.keys = keys or sim_keys(n, seed)
        self.genesis = Genesis(
            chain_id=f"sim-{seed}",
            genesis_time_ms=1_000_000,
            validators=[Validator(k.public_key) for k in self.keys],
            consensus=params,
            app_state=app_state or {},
        )
        self.app_factory = app_factory
        self.node_config = node_config or NodeConfig(gossip_interval_ms=100)
        self.cluster = Cluster(
            seed,
            network or NetworkConfig(latency_ms=2, jitter_ms=3),
            start_ms=self.genesis.genesis_time_ms,
        )
        self.ids = [k.node_id for k in self.keys]
        #: blob bytes shared by the simulated disks (see PooledBlobStore)
        self.blob_pool: dict[bytes, bytes] = {}
        self.disks = {nid: Disk(blobs=PooledBlobStore(self.blob_pool)) for nid in self.ids}
        #: (validator index, height, round, kind) -> distinct signatures seen on the wire
        self.signed: dict[tuple[int, int, int, str], set[bytes]] = defaultdict(set)
        #: transactions some node reported committed: tx hash -> height
        self.acknowledged: dict[bytes, int] = {}
        self.cluster.network.interceptor = self._record_signed
        self._user_interceptor: Callable[[str, str, Any], Any] | None = None
        #: ``f(validator index) -> commit listener``, attached to every (re)started node
        self.listener_factories: list[Callable[[int], Any]] = []
        for nid in self.ids:
            self.cluster.add(self._make_node(nid))

    # ------------------------------------------------------------------ nodes

    def _make_node(self, node_id: str) -> HaltingNode:
        key = self.keys[self.ids.index(node_id)]
        disk = self.disks[node_id]
        node = HaltingNode(
            self.genesis,
            key,
            self.app_factory(self.genesis, disk),
            store=disk.store,
            blobs=disk.blobs,
            consensus_log=ConsensusLog(
                disk.wal, disk.guard, me=self.ids.index(node_id), chain_id=self.genesis.chain_id
            ),
            config=self.node_config,
        )
        node.commit_listeners.append(self._on_commit)
        index = self.ids.index(node_id)
        node.commit_listeners += [f(index) for f in self.listener_factories]
        return node

    def _on_commit(self, block: Any, result: Any, now_ms: int) -> list[Any]:
        for raw in block.txs:
            self.acknowledged.setdefault(sha256(raw), block.height)
        return []

    def halted(self) -> dict[int, str]:
        """Validators that stopped on a fatal error (e.g. app-hash divergence), with why."""
        out = {}
        for i in self.up():
            reason = self.node(i).halted
            if reason is not None:
                out[i] = reason
        return out

    def node(self, i: int | str) -> HaltingNode:
        nid = self.ids[i] if isinstance(i, int) else i
        return self.cluster.process(nid)

    def up(self) -> list[int]:
        return [i for i, nid in enumerate(self.ids) if self.cluster.is_up(nid)]

    def crash(self, i: int) -> None:
        self.cluster.crash(self.ids[i])

    def restart(self, i: int) -> ValidatorNode:
        nid = self.ids[i]
        return self.cluster.restart(nid, lambda: self._make_node(nid))  # type: ignore[return-value]

    # ------------------------------------------------------------------ driving

    def submit(self, i: int, tx: SignedTx, blobs: list[bytes] | None = None) -> TxCheck:
        result: list[TxCheck] = []

        def call(node: ValidatorNode, now: int) -> list[Any]:
            check, actions = node.submit_tx(tx.encoded(), blobs or [], now)
            result.append(check)
            return actions

        self.cluster.call(self.ids[i], call)
        return result[0]

    def run_for(self, ms: int) -> None:
        self.cluster.run_for(ms)

    def heights(self, nodes: list[int] | None = None) -> list[int]:
        idx = self.up() if nodes is None else nodes
        return [self.disks[self.ids[i]].store.height() for i in idx]

    def run_until_height(
        self, height: int, timeout_ms: int, nodes: list[int] | None = None
    ) -> bool:
        """Run until every listed (default: every up) node has committed ``height``."""
        deadline = self.cluster.now + timeout_ms
        while self.cluster.now < deadline:
            if min(self.heights(nodes)) >= height:
                return True
            self.cluster.run_for(50)
        return min(self.heights(nodes)) >= height

    # ------------------------------------------------------------------ wire recording

    def set_interceptor(self, fn: Callable[[str, str, Any], Any] | None) -> None:
        """Install a Byzantine rewrite ``(sender, receiver, msg) -> msg | None | list``."""
        self._user_interceptor = fn

    def _record_signed(self, sender: str, receiver: str, msg: Any) -> Any:
        out = (
            msg if self._user_interceptor is None else self._user_interceptor(sender, receiver, msg)
        )
        for m in out if isinstance(out, list) else [out]:
            if isinstance(m, Vote):
                self.signed[(m.validator, m.height, m.round, f"vote{m.kind}")].add(m.signature)
            elif isinstance(m, Proposal):
                self.signed[(m.validator, m.height, m.round, "proposal")].add(m.signature)
        return out
