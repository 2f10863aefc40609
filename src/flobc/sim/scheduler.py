"""A deterministic discrete-event scheduler over a virtual millisecond clock.

Events are kept in a binary heap keyed by ``(time_ms, sequence)``: events due at the same
virtual time run in the order they were scheduled, so a run is a pure function of its
inputs (and of the seed that produced them). Nothing here reads the wall clock.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

__all__ = ["Handle", "Scheduler", "SimulationLimitError"]

#: Heap keys are ``(time << _SHIFT) + seq``: one int compare orders by time, then insertion.
_SHIFT = 40


class SimulationLimitError(RuntimeError):
    """A run exceeded its ``max_events`` budget (usually an event loop that never settles)."""


class Handle:
    """A scheduled event; :meth:`cancel` it before it runs to stop it from running."""

    __slots__ = ("_entry", "_sched")

    def __init__(self, sched: Scheduler, entry: list[Any]) -> None:
        self._sched = sched
        self._entry = entry

    @property
    def time(self) -> int:
        """The virtual time (ms) the event is (or was) due at."""
        return self._entry[0] >> _SHIFT

    @property
    def pending(self) -> bool:
        """True until the event has run or been cancelled."""
        return self._entry[1] is not None

    def cancel(self) -> None:
        """Cancel the event; a no-op if it already ran or was cancelled."""
        self._sched._cancel_entry(self._entry)


class Scheduler:
    """Priority queue of callbacks over a virtual clock (integer milliseconds).

    Heap entries are lists ``[key, fn, args]`` with ``key = (time << 40) + seq`` (a single
    int compare is much faster than comparing tuples); a cancelled or already-run entry
    has ``fn`` set to ``None`` and is skipped when popped (lazy deletion, with a periodic
    compaction so cancelled timers do not pile up).
    """

    def __init__(self, start_ms: int = 0) -> None:
        self._now: int = start_ms
        self._seq: int = 0
        self._heap: list[list[Any]] = []
        self._cancelled: int = 0
        #: Number of events that have run so far.
        self.events_run: int = 0

    # ------------------------------------------------------------------ clock & queue

    @property
    def now(self) -> int:
        """Current virtual time in milliseconds."""
        return self._now

    @property
    def pending(self) -> int:
        """Number of scheduled events that have not run and are not cancelled."""
        return len(self._heap) - self._cancelled

    def next_time(self) -> int | None:
        """Virtual time of the next live event, or ``None`` if the queue is empty."""
        heap = self._heap
        while heap and heap[0][1] is None:
            heapq.heappop(heap)
            self._cancelled -= 1
        return heap[0][0] >> _SHIFT if heap else None

    # ------------------------------------------------------------------ scheduling

    def call_at(self, t: int, fn: Callable[..., Any], *args: Any) -> Handle:
        """Run ``fn(*args)`` at virtual time ``t`` (after events already due at ``t``).

        A non-integer ``t`` is rounded up to the next whole millisecond.
        """
        if type(t) is not int:
            t = math.ceil(t)
        if t < self._now:
            raise ValueError(f"cannot schedule at {t} ms: the clock is already at {self._now} ms")
        self._seq += 1
        entry = [(t << _SHIFT) + self._seq, fn, args]
        heapq.heappush(self._heap, entry)
        return Handle(self, entry)

    def call_later(self, delay: int, fn: Callable[..., Any], *args: Any) -> Handle:
        """Run ``fn(*args)`` ``delay`` ms from now (``delay >= 0``)."""
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        return self.call_at(self._now + delay, fn, *args)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> Handle:
        """Run ``fn(*args)`` at the current time, after everything already due now."""
        return self.call_at(self._now, fn, *args)

    def _push(self, t: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Fast path for internal callers that never cancel (no :class:`Handle`)."""
        self._seq += 1
        heapq.heappush(self._heap, [(t << _SHIFT) + self._seq, fn, args])

    def _cancel_entry(self, entry: list[Any]) -> None:
        if entry[1] is None:
            return
        entry[1] = None
        entry[2] = ()
        self._cancelled += 1
        heap = self._heap
        if self._cancelled > 1024 and self._cancelled * 2 > len(heap):
            heap[:] = [e for e in heap if e[1] is not None]  # in place: run loops hold it
            heapq.heapify(heap)
            self._cancelled = 0

    # ------------------------------------------------------------------ running

    def step(self) -> bool:
        """Run the next live event; return False if there was none."""
        heap = self._heap
        while heap:
            entry = heapq.heappop(heap)
            fn = entry[1]
            if fn is None:
                self._cancelled -= 1
                continue
            self._now = entry[0] >> _SHIFT
            entry[1] = None
            self.events_run += 1
            fn(*entry[2])
            return True
        return False

    def run_until(self, t: int, *, max_events: int | None = None) -> int:
        """Run every event due at or before ``t``, then set the clock to ``t``.

        Returns the number of events run. Raises :class:`SimulationLimitError` if more
        than ``max_events`` would run.
        """
        t = math.floor(t)
        if t < self._now:
            raise ValueError(f"cannot run until {t} ms: the clock is already at {self._now} ms")
        ran = self._run(t, max_events)
        self._now = t
        return ran

    def run_for(self, duration: int, *, max_events: int | None = None) -> int:
        """Run for ``duration`` ms of virtual time; see :meth:`run_until`."""
        return self.run_until(self._now + duration, max_events=max_events)

    def run_until_idle(self, *, max_events: int | None = None) -> int:
        """Run until no events remain; the clock stays at the last event's time."""
        return self._run(None, max_events)

    def run_while(
        self,
        predicate: Callable[[], bool],
        max_time: int,
        *,
        max_events: int | None = None,
    ) -> bool:
        """Run events while ``predicate()`` holds, up to virtual time ``max_time``.

        The predicate is checked before the first event and after every event. Returns
        True if the run stopped because the predicate became false (the clock stays at
        that event's time); False if ``max_time`` was reached or the queue emptied with
        the predicate still true (the clock is then at ``max_time``).
        """
        heap = self._heap
        pop = heapq.heappop
        limit = self.events_run + max_events if max_events is not None else None
        max_time = math.floor(max_time)
        bound = (max_time + 1) << _SHIFT  # keys of events due at or before max_time are below
        while True:
            if not predicate():
                return True
            while heap and heap[0][1] is None:
                pop(heap)
                self._cancelled -= 1
            if not heap or heap[0][0] >= bound:
                break
            if limit is not None and self.events_run >= limit:
                raise SimulationLimitError(f"more than {max_events} events")
            entry = pop(heap)
            self._now = entry[0] >> _SHIFT
            fn = entry[1]
            entry[1] = None
            self.events_run += 1
            fn(*entry[2])
        if max_time > self._now:
            self._now = max_time
        return False

    def _run(self, until: int | None, max_events: int | None) -> int:
        heap = self._heap
        pop = heapq.heappop
        start = self.events_run
        limit = start + max_events if max_events is not None else None
        bound = (until + 1) << _SHIFT if until is not None else None
        while heap:
            entry = heap[0]
            if bound is not None and entry[0] >= bound:
                break
            pop(heap)
            fn = entry[1]
            if fn is None:
                self._cancelled -= 1
                continue
            if limit is not None and self.events_run >= limit:
                heapq.heappush(heap, entry)
                raise SimulationLimitError(f"more than {max_events} events")
            self._now = entry[0] >> _SHIFT
            entry[1] = None
            self.events_run += 1
            fn(*entry[2])
        return self.events_run - start
