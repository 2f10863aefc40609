"""What a validator's mempool holds of its FL subnetwork's next updates.

The updates pending here are those the next blocks will carry (the block being decided
included). :func:`updates_pending` tells the evaluator to hold early ballots
(:mod:`~flobc.node_apps.fl.ballot_hold`); :func:`tasks_ahead` lets it score those updates
while their block is decided, so that their commit finds the votes computed.
"""

from __future__ import annotations

from collections.abc import Callable

from flobc.app.fl.txs import UpdateBody
from flobc.encoding import decode
from flobc.node.validator import ValidatorNode
from flobc.roles.effects import EvaluationTask


def updates_pending(node: ValidatorNode, kind: str) -> bool:
    """Whether ``node``'s mempool (the block being decided included) holds an update of
    transaction kind ``kind``."""
    return any(tx.kind == kind for _, tx in node.mempool.pending())


def tasks_ahead(
    node: ValidatorNode,
    kind: str,
    where: dict[str, str],
    skip: Callable[[EvaluationTask], bool] = lambda task: False,
) -> tuple[list[EvaluationTask], dict[str, bytes]]:
    """The evaluation tasks the ledger would give for the updates of kind ``kind`` pending
    in ``node``'s mempool, as the ``evaluation`` query builds them from the committed
    state, and the blobs they read; updates whose blobs are not all here, and tasks
    ``skip`` names (already scored), are left out."""
    pending = [(h, tx) for h, tx in node.mempool.pending() if tx.kind == kind]
    if not pending:
        return [], {}
    app = node.app
    latest = app.query("latest", where)["version"]
    share = 1.0 / max(1, int(app.query("round", where).get("active_trainers") or 0))
    hashes: dict[int, str] = {}

    def weights(v: int) -> str:
        if v not in hashes:
            hashes[v] = app.query("version", {"version": v, **where})["hash"]
        return hashes[v]

    tasks, blobs = [], {}
    for uid, tx in pending:
        body = decode(tx.body, UpdateBody)
        if not 0 <= body.base_version <= latest:
            continue
        dp = body.dp
        task = EvaluationTask(
            uid,
            weights(body.base_version),
            body.update_hash.hex(),
            weights(body.base_version - 1) if body.base_version else None,
            body.local_steps,
            share,
            None if dp is None else (dp.mechanism, dp.clip, dp.noise_multiplier),
        )
        if skip(task):
            continue
        data = {h: node.blobs.get(bytes.fromhex(h)) for h in task.blobs}
        if all(d is not None for d in data.values()):
            tasks.append(task)
            blobs.update(data)  # type: ignore[arg-type]
    return tasks, blobs
