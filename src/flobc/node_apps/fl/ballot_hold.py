"""Early ballots wait for the next ones: one vote transaction, and a block fewer, per round.

A validator scores updates as their blocks commit. Trainers finish close together, so a
round's first update is often proposed alone and the others follow in the next block. A
vote on that first update, sent at once, reaches the proposer while the next block is being
decided and takes a block of its own; the votes on the others, ready a moment later, then
wait for that block to commit before theirs can be proposed. On ``flobc bench round``'s
workload that was about one block of the five of a round, and half its vote transactions
(docs/results/benchmark-processes/breakdown-2026-12-03.md).

:class:`BallotHold` keeps ballots back while updates are pending at this validator (in
its mempool, which includes the block being decided) and sends them with the ballots of
those updates once they commit and are scored. It never holds a ballot once no update is
pending, nor longer than ``max_s``: the ledger sees the same ballots, at most one block
later, so no decision changes; a release that waits for every update comes a block sooner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flobc.app.fl.txs import MAX_BALLOTS

#: Longest a ballot is held back (seconds).
HOLD_MAX_S = 1.0


class BallotHold:
    """The ballots a validator has scored but not yet sent (sans-I/O: the caller says
    whether updates are pending and what time it is)."""

    def __init__(self, max_s: float = HOLD_MAX_S, max_ballots: int = MAX_BALLOTS) -> None:
        if max_ballots < 1:
            raise ValueError(f"max_ballots must be at least 1 (got {max_ballots})")
        self.max_s = max_s
        self.max_ballots = max_ballots
        self.held: list[Any] = []
        self._ids: set[bytes] = set()
        #: when the oldest held ballot was held (None: nothing held)
        self.since: float | None = None

    def offer(self, bodies: Sequence[Any], pending: bool, now: float) -> list[tuple[Any, ...]]:
        """Ballots just scored (each names its update as ``update_id``): the vote
        transactions to send now, held ballots first; none while updates are pending and
        the oldest held ballot is younger than ``max_s``. A ballot on an update already
        held is dropped (a transaction names each update once)."""
        for body in bodies:
            if body.update_id not in self._ids:
                self._ids.add(body.update_id)
                self.held.append(body)
        if not self.held:
            return []
        if self.since is None:
            self.since = now
        if pending and now - self.since < self.max_s:
            return []
        return self.flush()

    def due(self, pending: bool, now: float) -> bool:
        """Whether held ballots should go now: no update is pending any more, or the
        oldest has waited ``max_s``."""
        if not self.held or self.since is None:
            return False
        return not pending or now - self.since >= self.max_s

    def flush(self) -> list[tuple[Any, ...]]:
        """Every held ballot as vote transactions of at most ``max_ballots`` each, in the
        order scored; nothing is held afterwards."""
        step = self.max_ballots
        out = [tuple(self.held[i : i + step]) for i in range(0, len(self.held), step)]
        self.held, self._ids, self.since = [], set(), None
        return out
