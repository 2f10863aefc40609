"""Consensus fault scenarios in the deterministic simulator, each over many seeds.

Every scenario ends by checking the ledger invariants (agreement, validity, integrity,
app-hash agreement, no double-signing, no lost commits) and liveness once faults stop.
Set ``FLOBC_SCENARIO_SEEDS`` to run more seeds; failing seeds go to ``REGRESSION_SEEDS``.
"""

from __future__ import annotations

import os

import pytest

from flobc.app.kvstore import kv_tx
from flobc.chain.types import Vote, VoteType
from flobc.consensus.messages import Step
from flobc.crypto.keys import KeyPair
from flobc.encoding import sha256
from flobc.sim.byzantine import Equivocator
from flobc.sim.invariants import check_ledger
from flobc.sim.ledger import SIM_PARAMS, SimLedger
from flobc.sim.network import NetworkConfig

N_SEEDS = int(os.environ.get("FLOBC_SCENARIO_SEEDS", "4"))
#: Seeds that once failed a scenario; they always run.
REGRESSION_SEEDS: list[int] = []
SEEDS = sorted(set(range(N_SEEDS)) | set(REGRESSION_SEEDS))
SIZES = [4, 7]
LIVENESS_MS = 15_000

CLIENT = KeyPair.from_seed(sha256(b"scenario client"))


class Load:
    """A client that submits one transaction every ``every_ms`` to rotating validators."""

    def __init__(self, ledger: SimLedger, every_ms: int = 40):
        self.ledger = ledger
        self.every_ms = every_ms
        self.nonce = 0

    def run(self, ms: int) -> None:
        end = self.ledger.cluster.now + ms
        while self.ledger.cluster.now < end:
            up = self.ledger.up()
            target = up[self.nonce % len(up)]
            tx = kv_tx(self.ledger.genesis.chain_id, CLIENT, f"k{self.nonce}", "v", self.nonce)
            if self.ledger.submit(target, tx).ok:
                self.nonce += 1
            self.ledger.run_for(self.every_ms)


def assert_live(ledger: SimLedger, nodes: list[int] | None = None, blocks: int = 3) -> None:
    """Liveness: the height advances by ``blocks`` within a bound once faults stop."""
    target = max(ledger.heights(nodes)) + blocks
    assert ledger.run_until_height(target, LIVENESS_MS, nodes), (
        f"no progress to {target} within {LIVENESS_MS} ms: heights {ledger.heights(nodes)}"
    )


def assert_invariants(ledger: SimLedger, honest: list[int] | None = None) -> None:
    problems = check_ledger(ledger, honest, after_heal=True)
    assert not problems, "\n".join(problems)


def f_of(n: int) -> int:
    return (n - 1) // 3


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_f_validators_crash(n: int, seed: int) -> None:
    ledger = SimLedger(n, seed)
    load = Load(ledger)
    load.run(1000)
    for i in range(f_of(n)):
        ledger.crash(n - 1 - i)
    load.run(2000)
    assert_live(ledger)
    for i in range(f_of(n)):
        ledger.restart(n - 1 - i)
    load.run(500)
    assert_live(ledger, list(range(n)))
    assert_invariants(ledger)


@pytest.mark.parametrize("after_proposal", [False, True])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_proposer_crashes(n: int, seed: int, after_proposal: bool) -> None:
    ledger = SimLedger(n, seed)
    Load(ledger).run(600)
    vset = ledger.genesis.validator_set()
    # Run until some validator becomes the proposer of the current height's round 0.
    h = ledger.node(0).height
    proposer = vset.proposer(h, 0)
    others = [i for i in range(n) if i != proposer]
    if after_proposal:
        ok = ledger.cluster.run_while(
            lambda: all(ledger.node(i).consensus.proposal(0) is None for i in others),
            max_time=ledger.cluster.now + 5000,
        )
        del ok
    ledger.crash(proposer)
    assert_live(ledger, others)
    ledger.restart(proposer)
    assert_live(ledger, list(range(n)))
    assert_invariants(ledger)


@pytest.mark.parametrize("step", [Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_restart_after_each_step(n: int, seed: int, step: Step) -> None:
    ledger = SimLedger(n, seed)
    load = Load(ledger)
    load.run(400)
    victim = seed % n
    for _ in range(3):
        ledger.cluster.run_while(
            lambda: ledger.node(victim).consensus.step != step,
            max_time=ledger.cluster.now + 5000,
        )
        ledger.restart(victim)
        load.run(100)
    assert_live(ledger, list(range(n)))
    assert_invariants(ledger)


@pytest.mark.parametrize("nil_to_half", [False, True])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_equivocating_validators(n: int, seed: int, nil_to_half: bool) -> None:
    ledger = SimLedger(n, seed)
    byz = list(range(f_of(n)))
    victims = list(range(f_of(n), n))[: (n - f_of(n)) // 2]
    Equivocator(ledger, byz, victims, nil_to_victims=nil_to_half)
    load = Load(ledger)
    load.run(3000)
    honest = list(range(f_of(n), n))
    assert_live(ledger, honest)
    assert_invariants(ledger, honest)


@pytest.mark.parametrize("seed", SEEDS)
def test_even_partition_stalls_then_heals(seed: int) -> None:
    ledger = SimLedger(4, seed)
    load = Load(ledger)
    load.run(600)
    ids = ledger.ids
    ledger.cluster.partition([{ids[0], ids[1]}, {ids[2], ids[3]}])
    ledger.run_for(500)  # let in-flight commits land
    frozen = ledger.heights()
    load.run(3000)
    assert ledger.heights() == frozen, "a 2+2 partition must not commit"
    ledger.cluster.heal()
    assert_live(ledger)
    assert_invariants(ledger)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_minority_partition_adopts_majority_chain(n: int, seed: int) -> None:
    ledger = SimLedger(n, seed)
    load = Load(ledger)
    load.run(500)
    ids = ledger.ids
    minority = set(ids[: f_of(n)])
    ledger.cluster.partition([minority, set(ids) - minority])
    load.run(3000)
    majority = list(range(f_of(n), n))
    assert min(ledger.heights(majority)) > max(ledger.heights(list(range(f_of(n))))) + 5
    ledger.cluster.heal()
    top = max(ledger.heights())
    assert ledger.run_until_height(top, LIVENESS_MS, list(range(n)))
    assert_invariants(ledger)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_unreliable_network(n: int, seed: int) -> None:
    timeout = SIM_PARAMS.timeout_prevote_ms
    net = NetworkConfig(latency_ms=1, jitter_ms=2 * timeout, drop_prob=0.1, dup_prob=0.1)
    ledger = SimLedger(n, seed, network=net)
    load = Load(ledger, every_ms=100)
    load.run(6000)
    ledger.cluster.network.config = NetworkConfig(latency_ms=2, jitter_ms=3)
    assert_live(ledger, list(range(n)))
    assert_invariants(ledger)


@pytest.mark.parametrize("skew", [-20_000, 20_000])
@pytest.mark.parametrize("seed", SEEDS)
def test_clock_skew_on_one_node(seed: int, skew: int) -> None:
    ledger = SimLedger(4, seed)
    ledger.cluster.set_skew(ledger.ids[seed % 4], skew)
    load = Load(ledger)
    load.run(3000)
    assert_live(ledger)
    assert_invariants(ledger)
    times = [ledger.node(0).store.block(h).header.time_ms for h in range(2, ledger.heights()[0])]
    now = ledger.cluster.now + ledger.genesis.genesis_time_ms
    assert max(times) <= now + 1000, "one skewed clock must not drag block time ahead"


@pytest.mark.parametrize("seed", SEEDS)
def test_negative_control_too_many_equivocators(seed: int) -> None:
    """With n/3 or more equivocating validators the checker must report a violation."""
    ledger = SimLedger(4, seed)
    Equivocator(ledger, byzantine=[0, 1], victims=[3])
    Load(ledger).run(3000)
    problems = check_ledger(ledger, honest=[2, 3])
    assert any(p.startswith(("agreement", "halted", "app hash")) for p in problems), problems


def test_double_sign_checker_fires() -> None:
    """The no-double-signing check itself can fail."""
    ledger = SimLedger(4, 0)
    Load(ledger).run(500)
    key = ledger.keys[1]
    for block_hash in (b"\x01" * 32, b"\x02" * 32):
        v = Vote(int(VoteType.PREVOTE), 99, 0, block_hash, 1, 1)
        v = Vote(
            v.kind,
            v.height,
            v.round,
            v.block_hash,
            v.time_ms,
            v.validator,
            key.sign(v.message(ledger.genesis.chain_id)),
        )
        ledger.cluster.network.send(ledger.ids[1], ledger.ids[0], v)
    ledger.run_for(50)
    assert any(p.startswith("double sign") for p in check_ledger(ledger))
