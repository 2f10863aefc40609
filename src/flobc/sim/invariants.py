"""Ledger invariants checked after every simulated scenario.

:func:`check_ledger` returns every violation it finds (an empty list means the run was
correct); tests assert on that list so that a negative control can show the checker
does report violations.
"""

from __future__ import annotations

from collections.abc import Iterable

from flobc.chain.types import tx_hash
from flobc.chain.validators import CommitError
from flobc.sim.ledger import SimLedger


def check_ledger(
    ledger: SimLedger, honest: Iterable[int] | None = None, *, after_heal: bool = False
) -> list[str]:
    """Agreement, validity, integrity, app-hash agreement, no double-signing, and (with
    ``after_heal``) no lost commits: every acknowledged transaction is on every honest node.
    """
    honest_idx = sorted(range(len(ledger.ids)) if honest is None else honest)
    stores = {i: ledger.disks[ledger.ids[i]].store for i in honest_idx}
    vset = ledger.genesis.validator_set()
    chain_id = ledger.genesis.chain_id
    problems: list[str] = []
    top = max((s.height() for s in stores.values()), default=0)
    for h in range(1, top + 1):
        hashes = {i: s.block_hash(h) for i, s in stores.items() if s.height() >= h}
        if len(set(hashes.values())) > 1:
            problems.append(f"agreement: height {h} has different blocks {_short(hashes)}")
        apps = {i: s.app_hash(h) for i, s in stores.items() if s.height() >= h}
        if len(set(apps.values())) > 1:
            problems.append(f"app hash: height {h} differs {_short(apps)}")
    for i, store in stores.items():
        problems += _check_chain(i, store, vset, chain_id)
    for (validator, h, r, kind), sigs in sorted(ledger.signed.items()):
        if validator in honest_idx and len(sigs) > 1:
            problems.append(
                f"double sign: validator {validator} signed {len(sigs)} {kind}s at {h}/{r}"
            )
    for i, reason in sorted(ledger.halted().items()):
        if i in honest_idx:
            problems.append(f"halted: node {i}: {reason}")
    if after_heal:
        for th, h in ledger.acknowledged.items():
            for i, store in stores.items():
                if store.tx_location(th) is None:
                    problems.append(f"lost commit: tx {th.hex()[:12]} (height {h}) missing on {i}")
    return problems


def _check_chain(i: int, store: object, vset: object, chain_id: str) -> list[str]:
    problems: list[str] = []
    seen: set[bytes] = set()
    prev_hash = b""
    prev_time = -1
    for h in range(1, store.height() + 1):  # type: ignore[attr-defined]
        cb = store.committed_block(h)  # type: ignore[attr-defined]
        block = cb.block
        if block.header.prev_hash != prev_hash:
            problems.append(f"validity: node {i} block {h} does not link to its parent")
        if block.header.time_ms <= prev_time:
            problems.append(f"validity: node {i} block {h} time is not increasing")
        try:
            vset.verify_commit(chain_id, cb.commit, h, block.hash)  # type: ignore[attr-defined]
        except CommitError as exc:
            problems.append(f"validity: node {i} block {h}: {exc}")
        for raw in block.txs:
            th = tx_hash(raw)
            if th in seen:
                problems.append(f"integrity: node {i} committed tx {th.hex()[:12]} twice")
            seen.add(th)
        prev_hash, prev_time = block.hash, block.header.time_ms
    return problems


def _short(values: dict[int, bytes | None]) -> dict[int, str]:
    return {i: (v or b"").hex()[:12] for i, v in values.items()}
