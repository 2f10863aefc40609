"""Admitting an update and answering the evaluation query cost O(1) in the number of
trainers: neither walks the trainer table nor copies the round's submitted/decided sets
(at 10,000 trainers a scan per update check was two thirds of the simulator's time).
Structural: the tables count how often they are walked."""

from __future__ import annotations

from typing import Any

from flobc.app.fl import rounds
from flobc.sim.fl_fixtures import AppDriver

TRAINERS = 60


class CountingDict(dict):  # type: ignore[type-arg]
    """A dict that counts full walks (iteration, items, values, keys copies)."""

    walks = 0

    def __iter__(self) -> Any:
        CountingDict.walks += 1
        return super().__iter__()

    def items(self) -> Any:
        CountingDict.walks += 1
        return super().items()

    def values(self) -> Any:
        CountingDict.walks += 1
        return super().values()


class CountingList(list):  # type: ignore[type-arg]
    walks = 0

    def __iter__(self) -> Any:
        CountingList.walks += 1
        return super().__iter__()


def test_update_checks_and_evaluation_queries_walk_no_table() -> None:
    d = AppDriver(validators=4, trainers=TRAINERS)
    first = [d.update(i, [0.01] * 8)[0] for i in range(TRAINERS // 2)]
    d.block(first)
    d.decide(first[0], [0.1, 0.1, 0.1])  # one decided trainer
    live = d.app.live
    assert live.round is not None and len(live.round.decided) == 1
    live.trainers = CountingDict(live.trainers)
    live.round.submitted = CountingDict(live.round.submitted)
    live.round.decided = CountingList(live.round.decided)
    CountingDict.walks = CountingList.walks = 0

    later = [d.update(i, [0.01] * 8)[0] for i in range(TRAINERS // 2, TRAINERS)]
    for tx in later:
        assert d.app.check_tx(tx).ok
    for tx in first[1:]:
        assert d.app.query("evaluation", {"id": tx.hash.hex()}) is not None
        assert d.app.check_tx(d.vote(0, tx, 0.1)).ok
    # the active set is built once for this state object, never per check
    assert CountingDict.walks <= 1
    assert CountingList.walks == 0

    view = rounds.view(live, live.time_ms)
    assert view.submitted == set(live.round.submitted)  # a view of the table, not a copy
    assert "nobody" not in view.decided and d.tid(0) in view.decided
    assert view.n_decided == 1 and view.n_missing == TRAINERS - TRAINERS // 2


def test_the_cached_active_set_follows_registrations_and_flag_changes() -> None:
    d = AppDriver(validators=4, trainers=3, registered=2, open_registration=True)
    assert len(d.app.live.active()) == 2
    d.block([d.register(d.tkeys[2], "late")])
    assert len(d.app.live.active()) == 3
    live = d.app.live
    live.trainers[d.tid(1)].active = False
    live.trainers_changed()
    assert live.active() == {d.tid(0), d.tid(2)}
