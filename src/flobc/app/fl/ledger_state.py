"""Bounded FL ledger state: released rounds fold into a hash-linked history in the blob store.

The live :class:`~flobc.app.fl.state.FLState` holds only the open round's updates, the
per-trainer records and the two newest versions, so copying, hashing and snapshotting it
cost the same at round 1,000 as at round 1. At each release the round is folded into a
:class:`RoundRecord` (the new version and the final record of every update of the round),
stored as a content-addressed blob that names its predecessor; the live state keeps only
the newest record's hash (``history``). The app hash commits to that head, so it commits
to the whole history while hashing O(1) of it per block.

Readers get :class:`LedgerView`: the live state, plus every version and every past update
by id, read back from the record chain through an in-memory index (:class:`History`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import msgspec

from flobc.app.fl.state import FLState, UpdateInfo, VersionInfo
from flobc.encoding import decode, encode, hash_obj, sha256

#: Versions kept in the live state: the current one (every update's base) and the one
#: before it (the "previous" step validators compare against).
RECENT_VERSIONS = 2
#: Decoded round records kept in memory by a :class:`History` (reads of past updates),
#: and most updates among them (the newest record is always kept): a decoded update with
#: its ten votes is ~4 KB, so 64 rounds of 10,000 trainers would be gigabytes per node.
RECORD_CACHE = 64
RECORD_CACHE_UPDATES = 8_192
_MAX_RECORD = 1 << 30
#: Newest decoded records shared by every :class:`History` of the process (see
#: :func:`decoded_record`)
SHARED_RECORDS = 4
_shared: OrderedDict[str, RoundRecord] = OrderedDict()


class RoundRecord(msgspec.Struct, array_like=True):
    """One released round, as stored in the blob store (immutable once written)."""

    version: VersionInfo
    #: every update of the round in ledger order, with its final status and votes
    updates: list[UpdateInfo]
    #: hex hash of the previous record ("" for the genesis record of version 0)
    prev: str


def decoded_record(head: str, data: bytes) -> RoundRecord:
    """Record ``head`` decoded from its bytes ``data``, shared process-wide.

    A record is a pure function of its bytes, and the validators a simulation runs in one
    process follow the same heads: each decoded, and kept, its own copy of every record
    (ten decodings of a 1,000-update record per release, ten copies in memory). Records
    are only read once decoded (the live state holds what blocks change), so one copy
    serves them all; the newest :data:`SHARED_RECORDS` are kept here."""
    rec = _shared.get(head)
    if rec is None:
        rec = _shared[head] = decode(data, RoundRecord, max_bytes=_MAX_RECORD)
        while len(_shared) > SHARED_RECORDS:
            _shared.popitem(last=False)
    else:
        _shared.move_to_end(head)
    return rec


def fold(st: FLState, blobs: Any, version: VersionInfo, updates: list[UpdateInfo]) -> None:
    """Append ``version`` (and its round's ``updates``) to the history and drop those
    updates from the live state. Deterministic: the record's bytes, and so the new head,
    depend only on the state."""
    head = blobs.put(encode(RoundRecord(version, updates, st.history))).hex()
    st.history = head
    for u in updates:
        st.updates.pop(u.id, None)
    st.recent_versions = [*st.recent_versions, version][-RECENT_VERSIONS:]


def state_hash(st: FLState) -> bytes:
    """The app hash: a root over per-section hashes of the bounded live state.

    Trainers and open-round updates are hashed per key (a flat Merkle map: the root is the
    hash of the sorted ``key, leaf hash`` list); the released history enters as its head
    hash only. Nothing here grows with the number of released rounds.
    """
    before: dict[int, tuple[Any, bytes]] = st.__dict__.get("_leaves") or {}
    leaves: dict[int, tuple[Any, bytes]] = {}

    def leaf(rec: Any) -> bytes:
        # a record shared with the state this one was copied from is the same object,
        # unchanged (see FLState.copy): its hash carries over; changed ones are new objects
        hit = before.get(id(rec))
        h = hit[1] if hit is not None and hit[0] is rec else hash_obj(rec)
        leaves[id(rec)] = (rec, h)
        return h

    trainers = [[k, leaf(st.trainers[k])] for k in sorted(st.trainers)]
    updates = [[k, leaf(st.updates[k])] for k in sorted(st.updates)]
    st.__dict__["_leaves"] = leaves
    meta = [
        st.height,
        st.time_ms,
        st.skipped_total,
        st.recent_delays,
        st.unscored,
        st.recent_versions,
        st.round,
    ]
    return hash_obj([hash_obj(meta), hash_obj(trainers), hash_obj(updates), st.history])


class History:
    """In-memory index of the record chain: every version, and where each update lives.

    It follows the committed state's ``history`` head (:meth:`follow`); the records
    themselves stay in the blob store and are decoded on demand (a small LRU cache).
    Memory is one :class:`VersionInfo` and one id per update, not the updates' records.
    """

    def __init__(self, blobs: Any) -> None:
        self.blobs = blobs
        self.head = ""
        self.versions: list[VersionInfo] = []
        self._heads: list[str] = []  # record hash of each version
        self._where: dict[str, int] = {}  # update id -> version whose record holds it
        self._cache: OrderedDict[int, RoundRecord] = OrderedDict()
        self._cached_updates = 0  # updates in the cached records

    def _load(self, head: str) -> RoundRecord:
        data = self.blobs.get(bytes.fromhex(head))
        if data is None:
            raise RuntimeError(f"missing history record {head}")
        if sha256(data).hex() != head:  # pragma: no cover - blob stores verify on read
            raise RuntimeError(f"history record {head} does not match its hash")
        return decoded_record(head, data)

    def follow(self, head: str) -> None:
        """Catch up with ``head``: walk back to the last known record, index the new ones."""
        if head == self.head:
            return
        new: list[tuple[str, RoundRecord]] = []
        h = head
        while h and h != self.head:
            rec = self._load(h)
            new.append((h, rec))
            h = rec.prev
        if h != self.head:  # a different chain (restore onto a used app): re-index all
            self.head, self.versions, self._heads, self._where = "", [], [], {}
            self._cache.clear()
            self._cached_updates = 0
            self.follow(head)
            return
        for h, rec in reversed(new):
            v = rec.version.version
            if v != len(self.versions):
                raise RuntimeError(f"history record {h} is version {v}, not {len(self.versions)}")
            self.versions.append(rec.version)
            self._heads.append(h)
            for u in rec.updates:
                self._where[u.id] = v
            self._remember(v, rec)
        self.head = head

    def _remember(self, v: int, rec: RoundRecord) -> None:
        if v in self._cache:
            self._cached_updates -= len(self._cache[v].updates)
        self._cache[v] = rec
        self._cache.move_to_end(v)
        self._cached_updates += len(rec.updates)
        while len(self._cache) > 1 and (
            len(self._cache) > RECORD_CACHE or self._cached_updates > RECORD_CACHE_UPDATES
        ):
            _, old = self._cache.popitem(last=False)
            self._cached_updates -= len(old.updates)

    def record(self, version: int) -> RoundRecord:
        rec = self._cache.get(version)
        if rec is None:
            rec = self._load(self._heads[version])
            self._remember(version, rec)
        return rec

    def update(self, update_id: str) -> UpdateInfo | None:
        v = self._where.get(update_id)
        if v is None:
            return None
        for u in self.record(v).updates:
            if u.id == update_id:
                return u
        return None  # pragma: no cover - the index only names ids its record holds

    def update_ids(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self.versions)


class _Versions(Sequence[VersionInfo]):
    """Every released version (index = version number)."""

    def __init__(self, history: History) -> None:
        self._h = history

    def __len__(self) -> int:
        return len(self._h.versions)

    @overload
    def __getitem__(self, i: int) -> VersionInfo: ...

    @overload
    def __getitem__(self, i: slice) -> list[VersionInfo]: ...

    def __getitem__(self, i: int | slice) -> VersionInfo | list[VersionInfo]:
        return self._h.versions[i]


class _Updates(Mapping[str, UpdateInfo]):
    """Every update on the ledger by id: the open round's live, past ones from history."""

    def __init__(self, live: FLState, history: History) -> None:
        self._live, self._h = live, history

    def __getitem__(self, uid: str) -> UpdateInfo:
        u = self._live.updates.get(uid) or self._h.update(uid)
        if u is None:
            raise KeyError(uid)
        return u

    def __contains__(self, uid: object) -> bool:
        return uid in self._live.updates or uid in self._h._where

    def __iter__(self) -> Iterator[str]:
        yield from self._h.update_ids()
        yield from (u for u in self._live.updates if u not in self._h._where)

    def __len__(self) -> int:
        return len(self._h._where) + sum(u not in self._h._where for u in self._live.updates)

    def values(self) -> Iterator[UpdateInfo]:  # type: ignore[override]
        """Past rounds' updates record by record (each record read once), then live ones."""
        for v in range(len(self._h)):
            yield from self._h.record(v).updates
        yield from self._live.updates.values()


class LedgerView:
    """What :attr:`FLApp.state` returns: the live state's fields, plus ``versions`` and
    ``updates`` over the whole ledger history (read-only use)."""

    def __init__(self, live: FLState, history: History) -> None:
        self.live = live
        self.history = history
        self.versions = _Versions(history)
        self.updates = _Updates(live, history)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.live, name)

    @property
    def version(self) -> VersionInfo:
        return self.live.version

    def update_batches(self) -> Iterator[list[UpdateInfo]]:
        """The updates round by round, newest first: the open round's, then each released
        round's record. Rounds do not overlap in height, so a reader wanting the newest
        few can stop after the batch that completes them."""
        yield list(self.live.updates.values())
        for v in range(len(self.history) - 1, 0, -1):
            yield self.history.record(v).updates

    def updates_on_bases(self, lo: int, hi: int) -> Iterator[UpdateInfo]:
        """Updates trained on versions ``lo..hi-1``: every update's base is the version
        current in its round, so those of base ``v`` are in the record of version v+1."""
        for v in range(max(lo + 1, 1), min(hi + 1, len(self.history))):
            yield from self.history.record(v).updates
        yield from (u for u in self.live.updates.values() if lo <= u.base_version < hi)

    def hash(self) -> bytes:
        return state_hash(self.live)
