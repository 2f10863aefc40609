"""A vote body's decoding and ballot forms are remembered process-wide by its bytes, for
every application in the process; what depends on the application (signer, signature,
the ledger's state) is still checked by each."""

from __future__ import annotations

import msgspec
import pytest

from flobc.app.fl import vote_forms
from flobc.app.fl.txs import VoteBody, VotesBody
from flobc.encoding import encode
from flobc.sim.fl_fixtures import AppDriver


def test_a_remembered_body_vouches_for_nothing_an_app_must_check() -> None:
    a = AppDriver(validators=4, trainers=2, chain_id="chain-a")
    b = AppDriver(validators=4, trainers=2, chain_id="chain-b")  # same keys, other chain
    upd = a.update(0, [0.01] * 8)[0]
    assert a.block([upd]).tx_results[0].code == 0
    votes = a.ballots(0, [(upd, 0.1)])
    assert a.app.check_tx(votes).ok  # the body is now remembered
    # the same bytes at another chain: signed for chain-a, so b refuses the signature
    assert (b.app.check_tx(votes).code, b.app.check_tx(votes).message) == (401, "bad signature")
    # the same body from a non-validator, and under another validator's name
    stranger = msgspec.structs.replace(votes, signer=a.tkeys[0].public_key)
    assert a.app.check_tx(stranger).code == 403
    assert a.app.check_tx(msgspec.structs.replace(votes, signer=a.vkeys[1].public_key)).code == 401


def test_the_rule_s_measures_are_part_of_the_key() -> None:
    ballot = VoteBody(b"u" * 32, 0.5, 0.4, {})
    body = encode(VotesBody([ballot]))
    assert vote_forms.body_form(body, (), "r")[2].ok
    refusal, votes, form = vote_forms.body_form(body, ("loss_gain",), "r")
    assert refusal is None and votes is not None
    assert form.code == 400 and "needs measures ['loss_gain']" in form.message


def test_the_memory_is_bounded_by_ballots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vote_forms, "BODY_CACHE_BALLOTS", 3)
    bodies = [
        encode(VotesBody([VoteBody(bytes([i, k]) * 16, 0.1, 0.1) for k in range(2)]))
        for i in range(3)
    ]
    for body in bodies:
        assert vote_forms.body_form(body, (), "r")[2].ok
    assert [key[0] for key in vote_forms._forms] == [bodies[-1]]  # 2 + 2 ballots > 3
    assert vote_forms._ballots == 2
    bad = vote_forms.body_form(b"\xc1", (), "r")  # never valid msgpack
    assert bad[0] is not None and bad[0].code == 400 and bad[1] is None
