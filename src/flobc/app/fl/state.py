"""The FL application state: trainers, updates, rounds and model versions.

The live state is one msgspec Struct, bounded in size: the open round's updates, the
per-trainer records and the newest versions. Released rounds are folded into a
hash-linked history in the blob store (:mod:`flobc.app.fl.ledger_state`), and the state
keeps its head hash. Its canonical encoding is the app snapshot; the app hash is a root
over its sections (:func:`flobc.app.fl.ledger_state.state_hash`), so two validators agree
on the hash iff they agree on every score, decision and model-weights hash.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from enum import StrEnum
from typing import Any

import msgspec

from flobc.app.fl.txs import DPClaim
from flobc.encoding import decode, encode


class TrainerInfo(msgspec.Struct):
    public_key: str  # hex
    score: float
    name: str = ""
    submitted: int = 0
    accepted: int = 0
    rejected: int = 0
    nonce: int = -1
    active: bool = True
    #: registration order (genesis order, then joins): the canonical order of trainers
    index: int = 0
    #: differential privacy: cumulative ε claimed (at the network's δ), the ledger's own
    #: zCDP ρ of the trainer's Gaussian-mechanism releases, and how many DP updates it sent
    epsilon: float = 0.0
    dp_rho: float = 0.0
    dp_releases: int = 0


class UpdateStatus(StrEnum):
    """Where an update stands; a ``str`` so the ledger and JSON bytes are the plain value."""

    PENDING = "pending"  # being voted on
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SKIPPED = "skipped"  # ASP: too small to matter, not voted on
    STALE = "stale"  # still undecided when its round was released
    SUPERSEDED = "superseded"  # accepted, but replaced by the trainer's later accepted one


class UpdateInfo(msgspec.Struct):
    id: str  # hex tx hash
    trainer: str
    round: int
    base_version: int
    blob: str  # hex hash of the Δ blob
    num_samples: int
    height: int
    time_ms: int
    #: validator index (as a string key) -> its measures: score, base_score and the
    #: validation rule's own (see flobc.algorithms.validation)
    votes: dict[str, dict[str, float]] = {}
    status: UpdateStatus = UpdateStatus.PENDING
    improvement: float | None = None
    decided_height: int | None = None
    relative_norm: float = 0.0
    #: the transaction's nonce: orders one trainer's updates within a round
    nonce: int = -1
    #: local steps the trainer declared (validators train their reference step as long)
    local_steps: int = 0
    #: why the validation rule rejected it (empty when accepted or undecided)
    reason: str = ""
    #: the differential privacy its trainer declared (the validation rule judges against it)
    dp: DPClaim | None = None


class VersionInfo(msgspec.Struct):
    version: int
    weights: str  # hex hash of the float32 weight blob
    height: int
    time_ms: int
    round: int
    reason: str
    updates: list[str] = []  # aggregated update ids
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0
    scores: dict[str, float] = {}


class RoundInfo(msgspec.Struct):
    number: int
    base_version: int
    started_at_ms: int
    period_ms: int
    extension_until_ms: int | None = None
    slack_ratio: float = 0.0
    #: trainer id -> its current update id in this round
    submitted: dict[str, str] = {}
    decided: list[str] = []
    skipped: int = 0


class SortedIds(AbstractSet[str]):
    """A sorted id list (as the ledger keeps ``RoundInfo.decided``) read as a set: lookup by
    bisection, nothing copied."""

    __slots__ = ("_ids",)

    def __init__(self, ids: list[str]) -> None:
        self._ids = ids

    def __contains__(self, x: object) -> bool:
        i = bisect_left(self._ids, x)  # type: ignore[arg-type]
        return i < len(self._ids) and self._ids[i] == x

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


def add_sorted(ids: list[str], x: str) -> None:
    """Insert ``x`` into the sorted list ``ids`` unless it is there (O(log n) lookup)."""
    i = bisect_left(ids, x)
    if i == len(ids) or ids[i] != x:
        ids.insert(i, x)


class FLState(msgspec.Struct, dict=True):
    height: int = 0
    time_ms: int = 0
    trainers: dict[str, TrainerInfo] = {}
    #: the updates of the open round (released rounds' are in the history)
    updates: dict[str, UpdateInfo] = {}
    #: the newest versions (see ledger_state.RECENT_VERSIONS); all are in the history
    recent_versions: list[VersionInfo] = []
    round: RoundInfo | None = None
    #: submission delays (ms after round start) of recent rounds, for the adaptive period
    recent_delays: list[list[int]] = []
    skipped_total: int = 0
    #: decided updates whose reputation effect is applied at the next release
    unscored: list[str] = []
    #: hex hash of the newest history record (a blob naming its predecessor)
    history: str = ""

    def copy(self) -> FLState:
        """A copy to execute a block on, in O(containers), not O(records): the trainer and
        update tables are new dicts holding the same records, copied on the first write
        (:meth:`own_trainer`, :meth:`own_update`); the round and the other small fields
        are copied whole. A record must never be changed through a table without
        owning it first, so the committed state stays as it was until commit."""
        r = self.round
        new = msgspec.structs.replace(
            self,
            # key order, as the canonical encoding (and so a restored snapshot) has them
            trainers=dict(sorted(self.trainers.items())),
            updates=dict(sorted(self.updates.items())),
            recent_versions=list(self.recent_versions),
            round=None if r is None else decode(encode(r), RoundInfo),
            recent_delays=[list(d) for d in self.recent_delays],
            unscored=list(self.unscored),
        )
        new.__dict__["_owned"] = set()
        active = self.__dict__.get("_active")
        if active is not None and active[0] is self.trainers and active[1] == len(self.trainers):
            new.__dict__["_active"] = (new.trainers, len(new.trainers), active[2])
        # the records' leaf hashes carry over: a shared record is the same object
        new.__dict__["_leaves"] = self.__dict__.get("_leaves")
        return new

    def _own(self, table: dict[str, Any], key: str, prefix: str) -> Any:
        owned: set[str] | None = self.__dict__.get("_owned")
        if owned is None or prefix + key in owned:
            return table[key]  # a state not made by copy() owns all its records
        rec = table[key]
        table[key] = rec = decode(encode(rec), type(rec))
        owned.add(prefix + key)
        return rec

    def own_trainer(self, tid: str) -> TrainerInfo:
        """Trainer ``tid``'s record, this state's own to change."""
        return self._own(self.trainers, tid, "t/")  # type: ignore[no-any-return]

    def own_update(self, uid: str) -> UpdateInfo:
        """Update ``uid``'s record, this state's own to change."""
        return self._own(self.updates, uid, "u/")  # type: ignore[no-any-return]

    def add_trainer(self, tid: str, info: TrainerInfo) -> None:
        """A new trainer record (owned: it exists in this state only)."""
        self.trainers[tid] = info
        self._mark("t/" + tid)

    def add_update(self, info: UpdateInfo) -> None:
        """A new update record (owned: it exists in this state only)."""
        self.updates[info.id] = info
        self._mark("u/" + info.id)

    def _mark(self, key: str) -> None:
        owned: set[str] | None = self.__dict__.get("_owned")
        if owned is not None:
            owned.add(key)

    @property
    def version(self) -> VersionInfo:
        return self.recent_versions[-1]

    def scores(self) -> dict[str, float]:
        return {t: self.trainers[t].score for t in sorted(self.trainers)}

    def active(self) -> frozenset[str]:
        """The active trainers, computed once per state object (every update check and
        evaluation query reads it: a scan per call was O(trainers) per update). The cache
        is not encoded; it is rebuilt when the trainer table is replaced or grows (a
        registration). A trainer's ``active`` flag is set when it registers; code that
        ever changes it afterwards must call :meth:`trainers_changed`."""
        cached = self.__dict__.get("_active")
        if cached is None or cached[0] is not self.trainers or cached[1] != len(self.trainers):
            ids = frozenset(t for t, info in self.trainers.items() if info.active)
            cached = self._active = (self.trainers, len(self.trainers), ids)
        return cached[2]  # type: ignore[no-any-return]

    def trainers_changed(self) -> None:
        """Drop the cached active set (after changing a trainer's ``active`` flag)."""
        self.__dict__.pop("_active", None)
