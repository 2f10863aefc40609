"""A validator scores the updates pending in its mempool ahead of their commit: the tasks it
builds are the ones the ledger gives once they commit, and a scored task is not scored
again (the same vote bodies, bit for bit)."""

from __future__ import annotations

import numpy as np

from flobc.app.fl.txs import UPDATE
from flobc.node_apps.fl.evaluator import Evaluator
from flobc.node_apps.fl.pending import tasks_ahead, updates_pending
from flobc.node_apps.fl.trainer_core import TrainerCore, as_vector
from flobc.roles.effects import EvaluationTask
from flobc.sim.fl_fixtures import tiny_config
from flobc.sim.fl_network import SimFLNetwork


def test_tasks_built_from_the_mempool_are_the_ledgers_once_committed() -> None:
    net = SimFLNetwork(tiny_config())
    node = net.ledger.node(0)
    assert not updates_pending(node, UPDATE)
    core = TrainerCore(net.cfg, 0, net.trainer_keys[0], net.ledger.genesis.chain_id)
    base = as_vector(net.blob(node.app.query("latest", {})["hash"]))
    local, stats = core.train(base, 0)
    delta = core.delta(base, local, version=0, rnd=0, view=None)
    tx, blob = core.upload(delta, 0, int(stats["steps"]), nonce=1)
    assert net.ledger.submit(0, tx, [blob]).ok
    assert updates_pending(node, UPDATE)
    assert not updates_pending(node, UPDATE + "@other")
    (ahead,), blobs = tasks_ahead(node, UPDATE, {})
    assert set(blobs) == set(ahead.blobs)
    uid = ahead.update_id
    while node.store.tx_location(uid) is None:  # until the update's block commits
        net.ledger.run_for(10)
    doc = node.app.query("evaluation", {"id": uid.hex()})
    assert EvaluationTask.from_query(doc) == ahead


def test_a_task_scored_ahead_is_answered_from_memory_with_the_same_body() -> None:
    net = SimFLNetwork(tiny_config(**{"validation.rule": "robust"}))
    assert net.run_until_version(1, 60_000)
    state = net.ledger.node(0).app.state  # type: ignore[attr-defined]
    tasks = [
        EvaluationTask(
            bytes.fromhex(u.id),
            state.versions[u.base_version].weights,
            u.blob,
            None,
            u.local_steps,
            0.5,
        )
        for u in list(state.updates.values())[:3]
    ]
    fresh = Evaluator(net.cfg, 0).evaluate_many(tasks, net.blob)
    ev = Evaluator(net.cfg, 0)
    ev.evaluate_many(tasks[1:], net.blob)  # two of them ahead
    calls: list[int] = []
    real = ev._evaluate_new

    def counted(todo: list[EvaluationTask], blob: object) -> object:
        calls.append(len(todo))
        return real(todo, blob)  # type: ignore[arg-type]

    ev._evaluate_new = counted  # type: ignore[method-assign]
    assert ev.evaluate_many(tasks, net.blob) == fresh
    assert calls == [1]  # only the task not scored ahead
    assert all(np.isfinite(b.score) for b in fresh)


def test_a_task_scored_ahead_needs_no_blob_when_its_update_commits() -> None:
    """Its blobs were read when it was scored ahead; the commit's Evaluate reads none (a
    2.4 MB update was read and hashed again on the event loop)."""
    net = SimFLNetwork(tiny_config())
    assert net.run_until_version(1, 60_000)
    state = net.ledger.node(0).app.state  # type: ignore[attr-defined]
    u = next(iter(state.updates.values()))
    task = EvaluationTask(
        bytes.fromhex(u.id), state.versions[u.base_version].weights, u.blob, None, u.local_steps
    )
    ev = Evaluator(net.cfg, 0)
    assert not ev.knows(task)
    (lacking,) = ev.score_tasks([task], lambda h: None)
    assert lacking.votes is None  # no blobs here and not scored ahead: no vote
    (body,) = ev.evaluate_many([task], net.blob)
    assert ev.knows(task)
    (scored,) = ev.score_tasks([task], lambda h: None)
    assert scored.votes == (body,)
