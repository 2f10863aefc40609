"""BFT block time: the power-weighted median of the previous commit's precommit times.

As in CometBFT, a block's time is not chosen by its proposer: it is the weighted median
of the vote times in the block's ``last_commit``. With less than 1/3 Byzantine power the
median lies within the honest validators' clocks, so a Byzantine proposer cannot move it.
It is also forced to be strictly increasing.
"""

from __future__ import annotations

from flobc.chain.types import Commit
from flobc.chain.validators import ValidatorSet


def weighted_median_time(commit: Commit, vset: ValidatorSet) -> int:
    """Power-weighted median of the commit's precommit times (lower median on ties)."""
    pairs = sorted((s.time_ms, vset[s.validator].power) for s in commit.signatures)
    total = sum(p for _, p in pairs)
    acc = 0
    for t, p in pairs:
        acc += p
        if 2 * acc >= total:
            return t
    raise ValueError("empty commit")


def block_time(
    height: int,
    genesis_time_ms: int,
    prev_time_ms: int,
    last_commit: Commit | None,
    vset: ValidatorSet,
) -> int:
    """The only valid time for a block at ``height`` given its parent."""
    if height == 1 or last_commit is None:
        return genesis_time_ms
    return max(weighted_median_time(last_commit, vset), prev_time_ms + 1)
