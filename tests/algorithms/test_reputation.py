"""Reward-penalty trust scores: hand-computed steps, invariants, registration, Table I."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flobc.algorithms.decision import decide
from flobc.algorithms.reputation import (
    POLICIES,
    ReputationPolicy,
    RewardPenalty,
    Uniform,
    normalise_scores,
    policy_from_name,
    register_trainer,
)

IDS = [f"t{i}" for i in range(6)]


def fresh(policy: ReputationPolicy, ids: list[str]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for t in ids:
        scores = policy.on_register(scores, t)
    return scores


def test_reward_hand_computed() -> None:
    out = RewardPenalty(reward=1.0, penalty=2.0).update({"a": 0.5, "b": 0.5}, "a", 0.5, True)
    assert out == pytest.approx({"a": 1.0 / 1.5, "b": 0.5 / 1.5})
    assert list(out) == ["a", "b"]


def test_penalty_hand_computed_and_floored_at_zero() -> None:
    pol = RewardPenalty(reward=1.0, penalty=2.0)
    out = pol.update({"a": 0.5, "b": 0.5}, "a", -0.1, True)  # 0.5 - 0.2 = 0.3
    assert out == pytest.approx({"a": 0.3 / 0.8, "b": 0.5 / 0.8})
    out = pol.update({"a": 0.25, "b": 0.75}, "a", -0.2, False)  # 0.25 - 0.4 → 0
    assert out == {"a": 0.0, "b": 1.0}


def test_rejected_improvement_is_not_rewarded() -> None:
    scores = {"a": 0.25, "b": 0.75}
    assert RewardPenalty().update(scores, "a", 0.01, False) == scores


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_improvement_is_full_penalty(bad: float) -> None:
    out = RewardPenalty().update({"a": 0.9, "b": 0.1}, "a", bad, True)
    assert out == {"a": 0.0, "b": 1.0}


def test_all_zero_resets_to_uniform() -> None:
    out = RewardPenalty().update({"a": 1.0, "b": 0.0, "c": 0.0}, "a", -1.0, False)
    assert out == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert normalise_scores({"a": 0.0, "b": float("nan")}) == {"a": 0.5, "b": 0.5}


def test_zeroed_trainer_can_earn_trust_back() -> None:
    out = RewardPenalty().update({"a": 0.0, "b": 1.0}, "a", 0.1, True)
    assert out["a"] == pytest.approx(0.1 / 1.1)


def test_registration_preserves_ratios() -> None:
    out = register_trainer({"a": 0.6, "b": 0.4}, "c")
    assert out == pytest.approx({"a": 0.4, "b": 0.4 * 2 / 3, "c": 1 / 3})
    assert out["a"] / out["b"] == pytest.approx(1.5)
    assert register_trainer(out, "c") == out  # idempotent
    assert register_trainer({}, "x") == {"x": 1.0}


def test_uniform_policy_is_constant() -> None:
    pol = Uniform()
    scores = fresh(pol, ["b", "a"])
    assert scores == {"a": 0.5, "b": 0.5}
    assert pol.update(scores, "a", -5.0, False) == {"a": 0.5, "b": 0.5}
    assert pol.on_register(scores, "c") == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})


def test_unknown_trainer_raises() -> None:
    with pytest.raises(KeyError):
        RewardPenalty().update({"a": 1.0}, "zz", 0.1, True)
    with pytest.raises(KeyError):
        Uniform().update({"a": 1.0}, "zz", 0.1, True)


def test_registry() -> None:
    pol = policy_from_name("Reward-Penalty", reward=0.5, penalty=3.0)
    assert isinstance(pol, RewardPenalty) and (pol.reward, pol.penalty) == (0.5, 3.0)
    assert isinstance(policy_from_name("uniform"), Uniform)
    assert isinstance(pol, ReputationPolicy)
    with pytest.raises(ValueError, match="unknown"):
        policy_from_name("oracle")
    with pytest.raises(ValueError):
        RewardPenalty(penalty=-1.0)


scores_st = st.dictionaries(st.sampled_from(IDS), st.floats(0.0, 1.0), min_size=1, max_size=6).map(
    normalise_scores
)
any_float = st.floats(allow_nan=True, allow_infinity=True)


@given(
    scores_st,
    st.data(),
    any_float,
    st.booleans(),
    st.floats(0, 100),
    st.floats(0, 100),
)
def test_invariants_hold_for_any_improvement(
    scores: dict[str, float],
    data: st.DataObject,
    improvement: float,
    accepted: bool,
    reward: float,
    penalty: float,
) -> None:
    trainer = data.draw(st.sampled_from(sorted(scores)))
    for pol in (RewardPenalty(reward, penalty), Uniform()):
        out = pol.update(scores, trainer, improvement, accepted)
        assert sorted(out) == sorted(scores)
        assert all(0.0 <= v <= 1.0 and not math.isnan(v) for v in out.values())
        assert abs(math.fsum(out.values()) - 1.0) < 1e-9


@given(scores_st, st.sampled_from(["n1", "n2"]))
def test_registration_invariants(scores: dict[str, float], new: str) -> None:
    out = RewardPenalty().on_register(scores, new)
    n = len(out)
    assert out[new] == pytest.approx(1 / n)
    assert abs(math.fsum(out.values()) - 1.0) < 1e-9
    for a in scores:
        assert out[a] == pytest.approx(scores[a] * (n - 1) / n, abs=1e-12)


def test_deterministic_regardless_of_input_key_order() -> None:
    a = {"x": 0.2, "y": 0.3, "z": 0.5}
    b = dict(reversed(list(a.items())))
    pol = RewardPenalty()
    assert list(pol.update(a, "y", 0.05, True).items()) == list(
        pol.update(b, "y", 0.05, True).items()
    )


def simulate(policy: ReputationPolicy, rounds: int = 30) -> list[dict[str, float]]:
    """Experiment 2 in miniature: trainer i's update degrades accuracy in proportion to its
    noise; 3 honest validators; acceptance threshold lowered so every update counts."""
    scores = fresh(policy, IDS)
    acc, history = 0.10, [scores]
    for _ in range(rounds):
        gain = 0.3 * (0.99 - acc)
        imps = [gain - 0.02 * i - 0.1 * i * (i >= 2) for i in range(len(IDS))]
        for t, imp in zip(IDS, imps, strict=True):
            d = decide([(acc + imp, acc)] * 3, threshold=-1.0)
            scores = policy.update(scores, t, d.improvement, d.accepted)
        acc += sum(scores[t] * imp for t, imp in zip(IDS, imps, strict=True))
        history.append(scores)
    return history


def test_table_one_shape() -> None:
    h = simulate(RewardPenalty())
    for r in (5, 10, 15, 20, 25, 30):
        assert all(h[r][t] == 0.0 for t in IDS[2:]), r  # noisy trainers out within 5 rounds
    t0 = [h[r]["t0"] for r in (10, 15, 20, 25, 30)]
    t1 = [h[r]["t1"] for r in (10, 15, 20, 25, 30)]
    assert t0 == sorted(t0) and t1 == sorted(t1, reverse=True)  # clean rises, next-best falls
    assert h[30]["t0"] > 0.9 and h[30]["t0"] > h[30]["t1"]


def test_control_group_stays_uniform() -> None:
    h = simulate(Uniform())
    assert all(v == pytest.approx(1 / 6) for v in h[30].values())


# ---------------------------------------------------------------------- Beta reputation


def test_beta_weights_follow_the_track_record_not_the_order() -> None:
    from flobc.algorithms.reputation import Beta

    scores = {"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25}
    evidence = {"a": (9, 1), "b": (10, 0), "c": (1, 9), "d": (0, 0)}
    out = Beta().update(scores, "a", 0.0, True, evidence=evidence)
    assert out["c"] == 0.0 and out["d"] == 0.0  # attackers and newcomers weigh nothing
    assert out["b"] > out["a"] > 0.4  # one false rejection costs an honest trainer little
    assert math.fsum(out.values()) == pytest.approx(1.0)
    assert Beta().update(scores, "c", -1.0, False, evidence=evidence) == out


def test_beta_without_evidence_is_uniform_and_needs_counts() -> None:
    from flobc.algorithms.reputation import Beta

    scores = {"a": 0.5, "b": 0.5}
    assert Beta().update(scores, "a", 0.0, True, evidence={}) == {"a": 0.5, "b": 0.5}
    with pytest.raises(ValueError, match="decision counts"):
        Beta().update(scores, "a", 0.0, True)
    assert policy_from_name("beta").name == "beta"


@pytest.mark.parametrize("policy", [p() for p in POLICIES.values()], ids=list(POLICIES))
def test_order_free_policies_need_one_step_per_batch(policy: Any) -> None:
    """What ``order_free`` promises (the ledger applies one step per release for such
    policies): with fixed evidence, a batch of steps ends where any single step does."""
    rng = np.random.default_rng(5)
    trainers = [f"t{i}" for i in range(9)]
    evidence = {t: (int(rng.integers(0, 5)), int(rng.integers(0, 5))) for t in trainers}
    start = normalise_scores({t: float(rng.random()) for t in trainers})
    batch = [
        (trainers[int(rng.integers(0, 9))], float(rng.normal()), bool(rng.random() < 0.5))
        for _ in range(12)
    ]
    seq = dict(start)
    for t, imp, ok in batch:
        seq = policy.update(seq, t, imp, ok, evidence=evidence)
    single = policy.update(dict(start), *batch[-1], evidence=evidence)
    if getattr(policy, "order_free", False):
        assert seq == single
    else:  # reward-penalty's steps compound: the flag must stay off
        assert seq != single
