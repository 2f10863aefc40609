"""An update's state-free checks (decoding, signature, body bounds) are remembered per
transaction content: the answers, their order against the state's checks (registration,
nonce) and their messages are those of a fresh application, and the memory is bounded."""

from __future__ import annotations

import msgspec
import pytest

from flobc.app.fl import app as app_module
from flobc.chain.types import SignedTx
from flobc.sim.fl_fixtures import AppDriver


def _cases(d: AppDriver) -> list[SignedTx]:
    good, _ = d.update(0, [0.01] * 8)
    other, _ = d.update(1, [0.02] * 8)
    return [
        good,
        msgspec.structs.replace(other, signature=good.signature),  # forged signature
        msgspec.structs.replace(good, nonce=good.nonce + 1),  # re-nonced, same signature
        msgspec.structs.replace(good, body=b"\x01"),  # malformed body
        d.update(2, [0.03] * 8, num_samples=0)[0],  # bad bound
        d.update(0, [0.03] * 8, nonce=good.nonce, num_samples=0)[0],  # bad bound, good's nonce
    ]


def _answers(d: AppDriver, txs: list[SignedTx]) -> list[tuple[int, str]]:
    return [(c.code, c.message) for c in map(d.app.check_tx, txs)]


def test_remembered_answers_are_a_fresh_apps_answers() -> None:
    d = AppDriver(trainers=3)
    txs = _cases(d)
    first = _answers(d, txs)
    assert [code for code, _ in first] == [0, 401, 401, 400, 400, 400]
    assert _answers(d, txs) == first  # now from memory
    assert _answers(AppDriver(trainers=3), txs) == first
    # once good is executed its nonce is spent: the remembered checks are read against
    # the new state, and the nonce is still reported before the body's bounds
    assert d.block([txs[0]]).tx_results[0].code == 0
    after = _answers(d, txs)
    assert [code for code, _ in after] == [409, 401, 401, 400, 400, 409]
    assert after[0][1].startswith("replayed nonce") and after[5][1].startswith("replayed nonce")


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "UPDATE_CACHE_TXS", 2)
    d = AppDriver(trainers=3)
    txs = [d.update(i, [0.01 * (i + 1)] * 8)[0] for i in range(3)]
    assert all(d.app.check_tx(tx).ok for tx in txs)
    assert len(d.app._update_forms) == 2
    assert all(d.app.check_tx(tx).ok for tx in txs)  # evicted ones are checked again


def test_executed_transactions_are_forgotten() -> None:
    """The memory holds what may still be asked about (the mempool's), not the ledger."""
    d = AppDriver(validators=4, trainers=3)
    txs = [d.update(i, [0.01 * (i + 1)] * 8)[0] for i in range(3)]
    assert all(d.app.check_tx(tx).ok for tx in txs)
    assert d.block(txs[:2]).tx_results[0].code == 0
    assert len(d.app._update_forms) == 1  # the third waits in the mempool
    votes = d.ballots(0, [(txs[0], 0.1), (txs[1], 0.2)])
    assert d.app.check_tx(votes).ok and d.app.votes.form_ballots == 2
    assert d.block([votes]).tx_results[0].code == 0
    assert not d.app.votes.forms and d.app.votes.form_ballots == 0
    assert d.app.check_tx(votes).code == 409  # checked afresh: every ballot already in
