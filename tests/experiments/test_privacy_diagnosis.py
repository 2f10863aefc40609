"""Replays of a diagnosis dump: the DP-SGD rule candidates and the peer shortfall proxy."""

from __future__ import annotations

from typing import Any

import pytest

from flobc.algorithms.validation.noise import two_sample_power
from flobc.experiments.privacy_diagnosis import candidate_replay, peer_shortfall, power_check

DPSGD = ["dpsgd", 1.0, 1.4]


def row(trainer: int, zc: float, t: float, rnd: int = 1, dp: Any = DPSGD, **kw: Any) -> dict:
    """One dumped update: dimension 100, so cos·√d = 10·cos."""
    r = {
        "round": rnd,
        "trainer": trainer,
        "status": "accepted",
        "t": t,
        "loss_gain": t * 0.01,
        "loss_gain_se": 0.01,
        "cosine": zc / 10.0,
        "reference_agreement": 0.5,
        "norm_ratio": 0.7,
        "last_step_cosine": 0.0,
        "update_norm": 1.0,
        "dimension": 100.0,
        "dp": dp,
    }
    return r | kw


@pytest.mark.parametrize(
    ("zc", "t", "now", "loss_if_against", "stouffer"),
    [
        (3.0, 2.0, False, False, False),  # honest work
        (-3.0, 5.0, True, True, True),  # against the reference beyond the noise
        (-0.5, -3.0, False, True, True),  # (-0.5 - 3)/√2 = -2.47
        (1.0, -3.0, False, False, False),  # in favour: the loss test stays off; -1.41
        (-0.1, -1.9, False, False, False),  # neither beyond z; -1.41
        (-1.5, -1.5, False, False, True),  # Stouffer: -2.12 although each is within z
    ],
)
def test_candidates_table(
    zc: float, t: float, now: bool, loss_if_against: bool, stouffer: bool
) -> None:
    honest = candidate_replay([row(0, zc, t)], attackers=set())
    assert honest["now"]["honest"] == [int(now), 1]
    assert honest["loss_if_direction_against"]["honest"] == [int(loss_if_against), 1]
    assert honest["stouffer"]["honest"] == [int(stouffer), 1]
    poison = candidate_replay([row(5, zc, t)], attackers={5})
    assert poison["stouffer"]["poison"] == [int(stouffer), 1]
    assert poison["stouffer"]["honest"] == [0, 0]


def test_candidates_keep_the_size_test_and_skip_other_updates() -> None:
    rows = [
        row(0, 3.0, 2.0, norm_ratio=5.0),  # too large: rejected by every variant
        row(1, -3.0, -9.0, dp=None),  # clean update: not a DP-SGD one
        row(2, -3.0, -9.0, dp=["gaussian", 1.0, 1.4]),
        row(3, -3.0, -9.0, status="pending"),
    ]
    out = candidate_replay(rows, attackers=set())
    assert {name: v["honest"] for name, v in out.items()} == {
        "now": [1, 1],
        "loss_if_direction_against": [1, 1],
        "stouffer": [1, 1],
    }


@pytest.mark.parametrize(
    ("zcs", "attackers", "honest", "poison"),
    [
        # one round, three honest at 5 and an attacker at 0: (0 - 5)/√2 = -3.5 fails all
        ([5.0, 5.0, 5.0, 0.0], {3}, [0.0, 3], [1.0, 1]),
        # an honest update at 1 against peers at 5 (-2.83) fails both; they pass against it
        ([1.0, 5.0, 5.0], set(), [1.0, 3], [0.0, 0]),
        # 2 against 3.5 and 5: -1.06 and -2.12, half its peers; the others fail none
        ([3.5, 5.0, 2.0], set(), [0.5, 3], [0.0, 0]),
        # only an attacker in the round: no honest peer, nothing counted
        ([0.0], {0}, [0.0, 0], [0.0, 0]),
    ],
)
def test_peer_shortfall_table(
    zcs: list[float], attackers: set[int], honest: list[float], poison: list[float]
) -> None:
    rows = [row(i, zc, 0.0) for i, zc in enumerate(zcs)]
    assert peer_shortfall(rows, attackers) == {"honest": honest, "poison": poison}


def test_peer_shortfall_compares_within_a_round() -> None:
    rows = [row(0, 5.0, 0.0, rnd=1), row(1, 5.0, 0.0, rnd=1), row(2, 0.0, 0.0, rnd=2)]
    rows.append(row(3, 0.0, 0.0, rnd=2))
    assert peer_shortfall(rows, set()) == {"honest": [0.0, 4], "poison": [0.0, 0]}


def test_power_check_predicts_from_the_votes_means() -> None:
    def voted(trainer: int, u: float, r: float, status: str = "accepted") -> dict:
        votes = [{"dp_cosine_z": u, "dp_reference_cosine_z": r}] * 3
        return row(trainer, u, 0.0, status=status, votes=votes)

    rows = [voted(0, 1.5, 1.0), voted(1, 1.3, 1.2), voted(5, -0.5, 1.1, "rejected")]
    rows += [voted(6, -0.3, 0.9), row(2, 3.0, 0.0, dp=None, votes=[])]
    out = power_check(rows, attackers={5, 6})
    assert out["honest_mean"] == 1.4 and out["reference_mean"] == 1.1
    assert out["poison_mean"] == -0.4 and out["caught"] == 0.5
    assert out["predicted"] == round(two_sample_power(1.5, 2.0), 4)
    assert out["ceiling"] == round(two_sample_power(1.8, 2.0, references=10**9), 4)
    assert power_check(rows[:2], attackers=set())["predicted"] is None
