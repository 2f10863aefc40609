"""FL transaction bodies (the ``body`` of a :class:`~flobc.chain.types.SignedTx`).

A validator's votes travel as one ``fl.vote`` transaction per batch of scored updates
(:class:`VotesBody`, its ballots one :class:`VoteBody` per update), not one per update:
at 1,000 trainers x 10 validators that is the difference between ~10,000 signed,
gossiped and executed transactions per round and a few dozen.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from flobc.chain.types import SignedTx
from flobc.crypto.keys import KeyPair
from flobc.encoding import encode

UPDATE = "fl.update"
VOTE = "fl.vote"
REGISTER = "fl.register"
#: Most ballots one vote transaction may carry (a runtime splits larger batches).
MAX_BALLOTS = 1024
#: Separates a transaction kind from the model subnetwork it is for.
SEP = "@"

_BODY = {"array_like": True, "frozen": True, "forbid_unknown_fields": True}


class DPClaim(msgspec.Struct, **_BODY):
    """The differential privacy a trainer applied to an update, signed with it."""

    mechanism: str  # "gaussian" (clip + noise on Δ) | "dpsgd" (in local training)
    clip: float  # C: Δ's (gaussian) or each sample gradient's (dpsgd) L2 bound
    noise_multiplier: float  # σ: noise std is σ·C
    epsilon: float  # cumulative ε at the network's δ, this update included


class UpdateBody(msgspec.Struct, **_BODY):
    """A trainer's update Δ = w_local - w_base against model version ``base_version``."""

    base_version: int
    update_hash: bytes  # SHA-256 of the little-endian float32 Δ blob
    num_samples: int
    local_steps: int = 0
    #: Last, with a default, so encodings without it still decode.
    dp: DPClaim | None = None


class VoteBody(msgspec.Struct, **_BODY):
    """A ballot: a validator's evaluation of one update on its private validation data."""

    update_id: bytes  # hash of the update transaction
    score: float  # metric of base + Δ
    base_score: float  # metric of the base model on the same data
    #: the validation rule's measures (see flobc.algorithms.validation), e.g. loss_gain
    measures: dict[str, float] = {}


class VotesBody(msgspec.Struct, **_BODY):
    """A validator's ballots on a batch of updates (1..MAX_BALLOTS, each update once).

    Execution (:meth:`flobc.app.fl.app.FLApp`): a malformed ballot (non-finite scores,
    missing measures, an update named twice) fails the whole transaction, so no bad ballot
    carries others in; a well-formed ballot the ledger can no longer take (update unknown
    or already decided, or already voted by this validator: races an honest validator
    loses) is skipped and the rest applied in ballot order.
    """

    ballots: list[VoteBody]


class RegisterBody(msgspec.Struct, **_BODY):
    """Open registration of the signer as a trainer."""

    name: str = ""


def tx_kind(base: str, subnet: str | None) -> str:
    """``base`` for the implicit subnetwork, ``base@NAME`` for a named one (signed, so a
    transaction cannot be replayed into another subnetwork; see flobc.app.fl.subnets)."""
    return base if subnet is None else f"{base}{SEP}{subnet}"


def update_tx(
    chain_id: str, key: KeyPair, body: UpdateBody, nonce: int, subnet: str | None = None
) -> SignedTx:
    return SignedTx.create(chain_id, key, tx_kind(UPDATE, subnet), encode(body), nonce)


def vote_tx(
    chain_id: str,
    key: KeyPair,
    ballots: Sequence[VoteBody],
    nonce: int,
    subnet: str | None = None,
) -> SignedTx:
    """One signed ``fl.vote`` transaction carrying ``ballots``."""
    body = encode(VotesBody(list(ballots)))
    return SignedTx.create(chain_id, key, tx_kind(VOTE, subnet), body, nonce)


def register_tx(
    chain_id: str, key: KeyPair, name: str, nonce: int, subnet: str | None = None
) -> SignedTx:
    kind = tx_kind(REGISTER, subnet)
    return SignedTx.create(chain_id, key, kind, encode(RegisterBody(name)), nonce)
