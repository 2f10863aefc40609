"""Model attacks on hand examples: each is exactly its formula, and deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from flobc.algorithms.attacks import (
    AttackContext,
    attack_from_callable,
    attack_from_name,
    attack_rng,
)
from flobc.ml.noise import add_update_noise

HONEST = np.array([0.5, -1.0, 0.25, 0.0], dtype=np.float32)
BASE = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)


def ctx(**kw: object) -> AttackContext:
    args: dict[str, object] = {
        "base": BASE,
        "honest": HONEST,
        "version": 3,
        "rnd": 0,
        "rng": attack_rng(0, "attack", 1, 3, 0),
        "trainer": 1,
        "num_trainers": 5,
    }
    args.update(kw)
    return AttackContext(**args)  # type: ignore[arg-type]


def test_sign_flip_is_minus_delta_times_scale() -> None:
    np.testing.assert_array_equal(attack_from_name("sign_flip")(ctx()), -HONEST)
    out = attack_from_name("sign_flip", scale=10)(ctx())
    np.testing.assert_array_equal(out, np.float32(-10) * HONEST)
    assert out.dtype == np.float32


def test_scaling_multiplies_by_the_factor_or_the_number_of_trainers() -> None:
    np.testing.assert_array_equal(attack_from_name("scaling", factor=3)(ctx()), 3 * HONEST)
    boosted = attack_from_name("scaling", boost=True)(ctx(num_trainers=7))
    np.testing.assert_array_equal(boosted, 7 * HONEST)


def test_gaussian_adds_noise_of_the_given_std_and_is_the_papers_noise() -> None:
    big = np.zeros(200_000, np.float32)
    out = attack_from_name("gaussian", std=0.3)(ctx(honest=big))
    assert abs(float(out.mean())) < 0.01 and out.std() == pytest.approx(0.3, rel=0.01)
    # with the same generator it is byte-for-byte ml.noise.add_update_noise (noise_k)
    a = attack_from_name("gaussian", std=0.1)(ctx(rng=np.random.default_rng([0, 7, 2])))
    b = add_update_noise(HONEST, 0.1, np.random.default_rng([0, 7, 2]))
    assert a.tobytes() == b.tobytes()
    same = attack_from_name("gaussian", std=0.0)(ctx())
    np.testing.assert_array_equal(same, HONEST)


def test_free_riders_send_zero_an_old_update_or_the_global_step() -> None:
    np.testing.assert_array_equal(attack_from_name("free_ride_zero")(ctx()), np.zeros(4))
    old1, old2 = np.full(4, 1.0, np.float32), np.full(4, 2.0, np.float32)
    history = ((1, old1), (2, old2))
    replay = attack_from_name("free_ride_replay")
    np.testing.assert_array_equal(replay(ctx(history=history)), old2)  # version 3, lag 1
    lag2 = attack_from_name("free_ride_replay", lag=2)
    np.testing.assert_array_equal(lag2(ctx(history=history)), old1)
    np.testing.assert_array_equal(replay(ctx()), np.zeros(4))  # nothing to replay yet
    step = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    glob = attack_from_name("free_ride_global")
    assert glob.needs_global_step
    np.testing.assert_array_equal(glob(ctx(global_step=step)), step)
    np.testing.assert_array_equal(glob(ctx(global_step=None)), np.zeros(4))


@pytest.mark.parametrize(
    "name,params",
    [
        ("gaussian", {"std": 0.2}),
        ("sign_flip", {}),
        ("alie", {}),
        ("ipm", {}),
        ("min_max", {}),
        ("min_sum", {"direction": "sign"}),
    ],
)
def test_the_same_seed_gives_the_same_bytes(name: str, params: dict[str, object]) -> None:
    rng = np.random.default_rng(1)
    peers = tuple(rng.normal(size=50).astype(np.float32) for _ in range(4))
    honest = rng.normal(size=50).astype(np.float32)

    def once(seed: int) -> bytes:
        c = ctx(
            base=np.zeros(50, np.float32),
            honest=honest,
            peers=peers,
            rng=attack_rng(seed, "attack", 1, 3, 0),
        )
        return attack_from_name(name, **params)(c).tobytes()

    assert once(0) == once(0)
    if name == "gaussian":
        assert once(0) != once(1)
    assert attack_rng(0, 1, 3, 0).integers(1 << 30) != attack_rng(0, 1, 3, 1).integers(1 << 30)


@pytest.mark.parametrize(
    "name,params,match",
    [
        ("nope", {}, "unknown attack 'nope'"),
        ("sign_flip", {"scal": 2}, "has no parameter 'scal'"),
        ("sign_flip", {"scale": -1}, "scale must be > 0"),
        ("gaussian", {"std": -0.1}, "std must be >= 0"),
        ("scaling", {"boost": "yes"}, "boost must be true or false"),
        ("free_ride_replay", {"lag": 0}, "lag must be an integer >= 1"),
        ("ipm", {"epsilon": 0}, "epsilon must be a number > 0"),
        ("min_max", {"direction": "up"}, "direction must be one of"),
        ("label_flip", {"fraction": 1.5}, r"fraction must be a number in \(0, 1\]"),
        ("backdoor", {"corner": "middle"}, "corner must be one of"),
        ("mod:fn", {}, "is a plug-in"),
    ],
)
def test_bad_names_and_params_are_clear_value_errors(
    name: str, params: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        attack_from_name(name, **params)


def plugin_double(ctx: AttackContext, factor: float = 2.0) -> np.ndarray:
    return factor * ctx.honest


def test_a_plugin_wraps_a_user_function_with_its_params() -> None:
    attack = attack_from_callable("tests:double", plugin_double, {"factor": 3.0})
    assert attack.kind == "model" and not attack.colluding
    np.testing.assert_array_equal(attack(ctx()), 3 * HONEST)

    def short(ctx: AttackContext) -> np.ndarray:
        return ctx.honest[:2]

    with pytest.raises(ValueError, match="returned 2 values for a model of 4"):
        attack_from_callable("t:short", short, {})(ctx())

    def flip(x: np.ndarray, y: np.ndarray, c: int, rng: object, to: int = 0) -> object:
        return x, np.full_like(y, to)

    flip.attack_kind = "data"  # type: ignore[attr-defined]
    data = attack_from_callable("t:flip", flip, {"to": 4})
    assert data.kind == "data"
    _, y = data(np.zeros((3, 1, 2, 2)), np.arange(3), 10, attack_rng(0))  # type: ignore[call-arg]
    np.testing.assert_array_equal(y, [4, 4, 4])
