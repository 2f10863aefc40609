"""Simulated time from a transaction's submission to its commit when the round-0 proposer
of the next height has crashed (virtual ms: the simulator's clock, so the machine's load
does not enter), at two empty-block intervals, 20 seeds each.

Usage: ``PYTHONPATH=<tree>/src python scripts/crashed_proposer.py OUT.json``.
"""

from __future__ import annotations

import json
import statistics
import sys

import msgspec

from flobc.app.kvstore import kv_tx
from flobc.chain.types import tx_hash
from flobc.crypto.keys import KeyPair
from flobc.encoding import sha256
from flobc.sim.ledger import SIM_PARAMS, SimLedger


def once(seed: int, empty_ms: int) -> int:
    """One network: commit a height, crash the next height's round-0 proposer, submit."""
    params = msgspec.structs.replace(SIM_PARAMS, empty_block_interval_ms=empty_ms)
    ledger = SimLedger(4, seed=seed, params=params)
    ledger.run_for(500)
    h = max(ledger.heights())
    ledger.run_until_height(h, 5000)
    h = ledger.node(0).height  # the height being decided
    crashed = ledger.genesis.validator_set().proposer(h + 1, 0)
    # let height h commit, then crash the proposer of h + 1 at once
    while min(ledger.node(i).height for i in ledger.up()) <= h:
        ledger.run_for(1)
    ledger.crash(crashed)
    entry = (crashed + 1) % 4
    tx = kv_tx(ledger.genesis.chain_id, KeyPair.from_seed(sha256(b"c%d" % seed)), "k", "v", 1)
    t0 = ledger.cluster.now + 20
    ledger.run_for(20)
    assert ledger.submit(entry, tx).ok
    th = tx_hash(tx.encoded())
    while not ledger.node(entry).store.has_tx(th):
        ledger.run_for(1)
    return ledger.cluster.now - t0


out: dict[str, object] = {}
for empty_ms in (200, 1000):
    times = [once(seed, empty_ms) for seed in range(20)]
    out[f"empty_block_interval_ms={empty_ms}"] = {
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "samples": times,
    }
out["params"] = {k: getattr(SIM_PARAMS, k) for k in SIM_PARAMS.__struct_fields__}
with open(sys.argv[1], "w") as fh:
    json.dump(out, fh, indent=2)
print(
    json.dumps(
        {k: v["median_ms"] for k, v in out.items() if isinstance(v, dict) and "median_ms" in v}
    )
)
