"""Malformed consensus input is rejected without a crash and without changing state."""

from __future__ import annotations

import msgspec
import pytest

from flobc.app.kvstore import kv_tx
from flobc.chain.types import Proposal, Vote, VoteType
from flobc.crypto.keys import KeyPair
from flobc.encoding import MAX_MESSAGE_BYTES, DecodeError, decode, encode, sha256
from flobc.node.wire import PeerMessage
from flobc.sim.invariants import check_ledger
from flobc.sim.ledger import SimLedger

CLIENT = KeyPair.from_seed(sha256(b"bad input client"))


def _signed_vote(ledger: SimLedger, signer: int, **fields: object) -> Vote:
    node = ledger.node(0)
    base = Vote(int(VoteType.PREVOTE), node.height, node.consensus.round, b"\x07" * 32, 1, signer)
    vote = msgspec.structs.replace(base, **fields)
    sig = ledger.keys[signer].sign(vote.message(ledger.genesis.chain_id))
    return msgspec.structs.replace(vote, signature=sig)


def _feed(ledger: SimLedger, msg: object) -> None:
    ledger.cluster.call(ledger.ids[0], lambda node, now: node.on_message(ledger.ids[1], msg, now))


@pytest.fixture()
def ledger() -> SimLedger:
    ledger = SimLedger(4, 11)
    for i in range(5):
        ledger.submit(i % 4, kv_tx(ledger.genesis.chain_id, CLIENT, f"k{i}", "v", i))
        ledger.run_for(60)
    assert ledger.run_until_height(3, 5000)
    return ledger


def _votes_held(ledger: SimLedger) -> int:
    return len(ledger.node(0).consensus.votes.all_votes())


def test_bad_signature_unknown_validator_and_wrong_height_are_ignored(ledger: SimLedger) -> None:
    before = _votes_held(ledger)
    good = _signed_vote(ledger, 1)
    bad_sig = msgspec.structs.replace(good, signature=b"\x00" * 64)
    unknown = msgspec.structs.replace(good, validator=99)
    stranger = KeyPair.from_seed(b"s" * 32)
    forged = msgspec.structs.replace(
        good, signature=stranger.sign(good.message(ledger.genesis.chain_id))
    )
    wrong_height = _signed_vote(ledger, 1, height=ledger.node(0).height + 50)
    negative_round = _signed_vote(ledger, 1, round=-3)
    for msg in (bad_sig, unknown, forged, wrong_height, negative_round):
        _feed(ledger, msg)
    assert _votes_held(ledger) == before
    ledger.run_for(2000)
    assert not check_ledger(ledger)


def test_invalid_block_is_not_voted_for(ledger: SimLedger) -> None:
    vset = ledger.genesis.validator_set()
    node = ledger.node(0)
    h, r = node.height, node.consensus.round + 1
    proposer = vset.proposer(h, r)
    block = ledger.node(proposer).driver.build_block(h, r)
    bad_header = msgspec.structs.replace(block.header, tx_root=b"\x00" * 32)
    bad = msgspec.structs.replace(block, header=bad_header)
    p = Proposal(h, r, -1, bad, proposer)
    p = msgspec.structs.replace(
        p, signature=ledger.keys[proposer].sign(p.message(ledger.genesis.chain_id))
    )
    assert node.checker.validate(bad).name == "INVALID"
    _feed(ledger, p)
    ledger.run_for(3000)
    assert not check_ledger(ledger)
    assert all(ledger.node(i).store.block_hash(h) != bad.hash for i in range(4))


def test_oversized_and_malformed_messages_fail_to_decode() -> None:
    with pytest.raises(DecodeError, match="exceeds"):
        decode(b"\x00" * (MAX_MESSAGE_BYTES + 1), PeerMessage)
    with pytest.raises(DecodeError):
        decode(b"\xc1garbage", PeerMessage)
    with pytest.raises(DecodeError):
        decode(encode(["vote", "not", "a", "vote"]), PeerMessage)


def test_garbage_on_the_simulated_wire_is_dropped(ledger: SimLedger) -> None:
    errors: list[Exception] = []
    ledger.cluster.network.on_decode_error = lambda s, r, data, exc: errors.append(exc)
    ledger.cluster.network.send_bytes(ledger.ids[1], ledger.ids[0], b"\xc1\xc1\xc1")
    ledger.run_for(500)
    assert errors
    assert ledger.run_until_height(ledger.heights()[0] + 2, 5000)
    assert not check_ledger(ledger)
