"""Scheduler: ordering, tie-breaking, cancellation and the run_* loops."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flobc.sim import Scheduler, SimulationLimitError


def test_orders_by_time_then_insertion() -> None:
    s = Scheduler()
    out: list[str] = []
    s.call_at(20, out.append, "c")
    s.call_at(10, out.append, "a")
    s.call_at(20, out.append, "d")
    s.call_at(10, out.append, "b")
    s.call_at(0, out.append, "first")
    assert s.run_until_idle() == 5
    assert out == ["first", "a", "b", "c", "d"]
    assert s.now == 20


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=50), max_size=60))
def test_any_schedule_runs_in_time_then_insertion_order(times: list[int]) -> None:
    s = Scheduler()
    out: list[int] = []
    for i, t in enumerate(times):
        s.call_at(t, out.append, i)
    s.run_until_idle()
    assert out == sorted(range(len(times)), key=lambda i: (times[i], i))


def test_events_scheduled_now_run_after_those_already_due() -> None:
    s = Scheduler()
    out: list[str] = []

    def first() -> None:
        out.append("first")
        s.call_soon(out.append, "soon")
        s.call_later(0, out.append, "later0")

    s.call_at(5, first)
    s.call_at(5, out.append, "second")
    s.run_until_idle()
    assert out == ["first", "second", "soon", "later0"]


def test_cancel() -> None:
    s = Scheduler()
    out: list[int] = []
    h1 = s.call_at(10, out.append, 1)
    h2 = s.call_at(10, out.append, 2)
    assert s.pending == 2 and h1.pending
    h1.cancel()
    h1.cancel()  # idempotent
    assert s.pending == 1 and not h1.pending
    s.run_until_idle()
    assert out == [2]
    h2.cancel()  # after it ran: no-op
    assert s.pending == 0 and h2.time == 10


def test_mass_cancellation_compacts_and_stays_correct() -> None:
    s = Scheduler()
    out: list[int] = []
    handles = [s.call_at(i % 97, out.append, i) for i in range(5000)]
    for i, h in enumerate(handles):
        if i % 10:
            h.cancel()
    assert s.pending == 500
    assert len(s._heap) < 5000  # compaction happened
    s.run_until_idle()
    assert out == sorted((i for i in range(5000) if i % 10 == 0), key=lambda i: (i % 97, i))


def test_cancel_during_run_is_honoured() -> None:
    s = Scheduler()
    out: list[int] = []
    handles = [s.call_at(10, out.append, i) for i in range(2000)]
    s.call_at(5, lambda: [h.cancel() for h in handles[1:]])
    s.run_until_idle()
    assert out == [0]


def test_run_until_advances_clock_and_leaves_later_events() -> None:
    s = Scheduler()
    out: list[int] = []
    s.call_at(10, out.append, 10)
    s.call_at(30, out.append, 30)
    assert s.run_until(20) == 1
    assert s.now == 20 and out == [10] and s.next_time() == 30
    assert s.run_for(10) == 1
    assert s.now == 30 and out == [10, 30]
    with pytest.raises(ValueError):
        s.run_until(5)
    with pytest.raises(ValueError):
        s.call_at(29, print)
    with pytest.raises(ValueError):
        s.call_later(-1, print)
    assert s.next_time() is None and not s.step()


def test_step() -> None:
    s = Scheduler(start_ms=100)
    out: list[int] = []
    s.call_later(5, out.append, 1)
    assert s.step() and s.now == 105 and out == [1]
    assert s.events_run == 1


def test_run_while() -> None:
    s = Scheduler()
    count = [0]

    def tick() -> None:
        count[0] += 1
        s.call_later(10, tick)

    s.call_at(0, tick)
    assert s.run_while(lambda: count[0] < 5, max_time=1000) is True
    assert count[0] == 5 and s.now == 40
    assert s.run_while(lambda: count[0] < 500, max_time=200) is False
    assert s.now == 200 and count[0] == 21


def test_run_while_on_empty_queue_advances_to_max_time() -> None:
    s = Scheduler()
    assert s.run_while(lambda: True, max_time=50) is False
    assert s.now == 50


def test_max_events_guards_endless_loops() -> None:
    s = Scheduler()

    def forever() -> None:
        s.call_soon(forever)

    s.call_at(0, forever)
    with pytest.raises(SimulationLimitError):
        s.run_until_idle(max_events=1000)
    assert s.events_run == 1000
    with pytest.raises(SimulationLimitError):
        s.run_while(lambda: True, 10, max_events=10)
    with pytest.raises(SimulationLimitError):
        s.run_until(10, max_events=10)


def test_fractional_times_are_rounded() -> None:
    s = Scheduler()
    out: list[int] = []
    s.call_at(10.2, out.append, 1)  # type: ignore[arg-type]
    s.run_until(10.9)  # type: ignore[arg-type]
    assert out == [] and s.now == 10
    s.run_while(lambda: True, 11.5)  # type: ignore[arg-type]
    assert out == [1] and s.now == 11


def test_negative_start_time() -> None:
    s = Scheduler(start_ms=-100)
    out: list[int] = []
    s.call_at(-50, out.append, 1)
    s.call_at(-60, out.append, 0)
    s.run_until_idle()
    assert out == [0, 1] and s.now == -50
