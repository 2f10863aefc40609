"""Vote bookkeeping for one height: who voted for what, with voting-power tallies."""

from __future__ import annotations

from collections import defaultdict

from flobc.chain.types import NIL, Commit, CommitSig, Vote, VoteType
from flobc.chain.validators import ValidatorSet


class RoundVotes:
    """The votes of one type in one round; the first vote of each validator counts."""

    def __init__(self, vset: ValidatorSet):
        self._vset = vset
        self.by_validator: dict[int, Vote] = {}
        self.power_for: dict[bytes, int] = defaultdict(int)
        self.total = 0

    def add(self, vote: Vote) -> Vote | None:
        """Record ``vote``; return the conflicting earlier vote if this is an equivocation."""
        prior = self.by_validator.get(vote.validator)
        if prior is not None:
            return prior if prior.block_hash != vote.block_hash else None
        self.by_validator[vote.validator] = vote
        power = self._vset[vote.validator].power
        self.power_for[vote.block_hash] += power
        self.total += power
        return None

    def has_quorum_for(self, block_hash: bytes) -> bool:
        return self.power_for.get(block_hash, 0) >= self._vset.quorum

    def has_quorum_any(self) -> bool:
        return self.total >= self._vset.quorum

    def quorum_value(self) -> bytes | None:
        """The value (block hash or NIL) that has more than 2/3, if any."""
        for value, power in self.power_for.items():
            if power >= self._vset.quorum:
                return value
        return None

    def commit(self, height: int, round_: int, block_hash: bytes) -> Commit:
        """A commit certificate from the precommits for ``block_hash``, in validator order."""
        sigs = [
            CommitSig(v.validator, v.time_ms, v.signature)
            for i, v in sorted(self.by_validator.items())
            if v.block_hash == block_hash
        ]
        return Commit(height, round_, block_hash, sigs)


class HeightVotes:
    """All prevotes and precommits of one height, by round."""

    def __init__(self, vset: ValidatorSet):
        self._vset = vset
        self._rounds: dict[tuple[int, int], RoundVotes] = {}
        #: validators seen sending anything (vote or proposal) per round, for the f+1 rule
        self._senders: dict[int, set[int]] = defaultdict(set)

    def get(self, round_: int, kind: VoteType) -> RoundVotes:
        key = (round_, int(kind))
        rv = self._rounds.get(key)
        if rv is None:
            rv = self._rounds[key] = RoundVotes(self._vset)
        return rv

    def add(self, vote: Vote) -> Vote | None:
        self._senders[vote.round].add(vote.validator)
        return self.get(vote.round, VoteType(vote.kind)).add(vote)

    def saw_sender(self, round_: int, validator: int) -> None:
        self._senders[round_].add(validator)

    def sender_power(self, round_: int) -> int:
        return self._vset.power_of(self._senders.get(round_, ()))

    def rounds(self) -> list[int]:
        return sorted({r for r, _ in self._rounds})

    def own_votes(self, validator: int) -> list[Vote]:
        """Every vote ``validator`` cast at this height (for re-broadcast)."""
        return [
            rv.by_validator[validator]
            for _, rv in sorted(self._rounds.items())
            if validator in rv.by_validator
        ]

    def all_votes(self) -> list[Vote]:
        return [
            v for _, rv in sorted(self._rounds.items()) for _, v in sorted(rv.by_validator.items())
        ]


__all__ = ["NIL", "HeightVotes", "RoundVotes"]
