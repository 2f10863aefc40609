"""The static validator set: membership, voting power, quorums and proposer rotation."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from flobc.chain.types import Commit, Vote
from flobc.crypto.keys import address_of, verify
from flobc.encoding import hash_obj


class Validator(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    public_key: bytes
    power: int = 1
    url: str = ""  # where its HTTP API listens, e.g. http://127.0.0.1:26600

    @property
    def address(self) -> bytes:
        return address_of(self.public_key)


class CommitError(ValueError):
    """A commit certificate that does not prove what it claims."""


class ValidatorSet:
    """An ordered, immutable validator set (the order is the genesis order)."""

    def __init__(self, validators: Iterable[Validator]):
        self.validators: tuple[Validator, ...] = tuple(validators)
        if not self.validators:
            raise ValueError("a validator set needs at least one validator")
        if any(v.power <= 0 for v in self.validators):
            raise ValueError("voting power must be positive")
        keys = [v.public_key for v in self.validators]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate validator key")
        self.total_power = sum(v.power for v in self.validators)
        self.hash = hash_obj([[v.public_key, v.power] for v in self.validators])
        self._index = {v.address: i for i, v in enumerate(self.validators)}

    def __len__(self) -> int:
        return len(self.validators)

    def __getitem__(self, i: int) -> Validator:
        return self.validators[i]

    def index_of(self, address: bytes) -> int | None:
        return self._index.get(address)

    @property
    def quorum(self) -> int:
        """Smallest power that is more than 2/3 of the total."""
        return self.total_power * 2 // 3 + 1

    @property
    def one_third_plus(self) -> int:
        """Smallest power that is more than 1/3 of the total (f+1 with equal powers)."""
        return self.total_power // 3 + 1

    def power_of(self, indices: Iterable[int]) -> int:
        return sum(self.validators[i].power for i in set(indices))

    def proposer(self, height: int, round_: int) -> int:
        """Round-robin proposer of (height, round)."""
        return (height + round_) % len(self.validators)

    def valid_index(self, i: int) -> bool:
        return 0 <= i < len(self.validators)

    def verify_vote(self, chain_id: str, vote: Vote) -> bool:
        if not self.valid_index(vote.validator):
            return False
        return verify(
            self.validators[vote.validator].public_key, vote.message(chain_id), vote.signature
        )

    def verify_commit(self, chain_id: str, commit: Commit, height: int, block_hash: bytes) -> None:
        """Raise :class:`CommitError` unless ``commit`` proves ``block_hash`` at ``height``."""
        if commit.height != height or commit.block_hash != block_hash:
            raise CommitError("commit is for another block")
        if not block_hash:
            raise CommitError("commit for nil")
        seen: set[int] = set()
        for vote in commit.votes():
            if vote.validator in seen:
                raise CommitError("duplicate signature in commit")
            seen.add(vote.validator)
            if not self.verify_vote(chain_id, vote):
                raise CommitError(f"bad precommit signature from validator {vote.validator}")
        if self.power_of(seen) < self.quorum:
            raise CommitError("commit lacks more than 2/3 of voting power")
