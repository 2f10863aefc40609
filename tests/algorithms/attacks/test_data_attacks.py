"""Data attacks: label flipping and the pixel-pattern backdoor with its ASR test set."""

from __future__ import annotations

import numpy as np
import pytest

from flobc.algorithms.attacks import (
    Trigger,
    attack_from_name,
    attack_rng,
    attack_success_rate,
    triggered_test_set,
)

X = np.random.default_rng(0).uniform(0, 0.5, size=(40, 1, 8, 8)).astype(np.float32)
Y = np.arange(40) % 10


def test_label_flip_maps_y_to_c_minus_1_minus_y() -> None:
    x, y = attack_from_name("label_flip")(X, Y, 10, attack_rng(0))
    np.testing.assert_array_equal(y, 9 - Y)
    np.testing.assert_array_equal(x, X)
    assert Y[1] == 1  # the input is not mutated


def test_label_flip_with_a_mapping_and_a_fraction() -> None:
    attack = attack_from_name("label_flip", mapping={"1": 7})
    _, y = attack(X, Y, 10, attack_rng(0))
    np.testing.assert_array_equal(y, np.where(Y == 1, 7, Y))
    half = attack_from_name("label_flip", fraction=0.5)
    _, y = half(X, Y, 10, attack_rng(0))
    assert (y != Y).sum() == 20
    changed = y != Y
    np.testing.assert_array_equal(y[changed], 9 - Y[changed])
    _, again = half(X, Y, 10, attack_rng(0))
    np.testing.assert_array_equal(again, y)  # deterministic
    with pytest.raises(ValueError, match="names class 12 of 10"):
        attack_from_name("label_flip", mapping={"1": 12})(X, Y, 10, attack_rng(0))


def test_backdoor_stamps_a_bright_corner_square_and_relabels_to_the_target() -> None:
    attack = attack_from_name("backdoor", target=3, fraction=0.25, size=2)
    x, y = attack(X, Y, 10, attack_rng(0))
    poisoned = np.flatnonzero((x != X).any(axis=(1, 2, 3)))
    assert len(poisoned) == 10
    assert (y[poisoned] == 3).all()
    clean = np.setdiff1d(np.arange(40), poisoned)
    np.testing.assert_array_equal(y[clean], Y[clean])
    np.testing.assert_array_equal(x[clean], X[clean])
    p = x[poisoned]
    assert (p[:, :, 6:, 6:] == X.max()).all()  # bottom-right 2x2 at the data's maximum
    np.testing.assert_array_equal(p[:, :, :6, :], X[poisoned][:, :, :6, :])
    np.testing.assert_array_equal(p[:, :, :, :6], X[poisoned][:, :, :, :6])


def test_trigger_corners_and_default_size() -> None:
    img = np.zeros((1, 1, 28, 28), np.float32)
    t = Trigger(corner="top_left", value=1.0)
    out = t.apply(img)
    assert t.side(28, 28) == 4
    assert out[0, 0, :4, :4].all() and out.sum() == 16
    assert Trigger(size=3, value=2.0, corner="bottom_left").apply(img)[0, 0, 25:, :3].min() == 2


def test_triggered_test_set_has_every_non_target_image_with_the_trigger() -> None:
    t = Trigger(size=2, value=1.0)
    x, y = triggered_test_set(X, Y, 3, t)
    assert len(x) == (Y != 3).sum() == 36
    assert (y == 3).all()
    assert (x[:, :, 6:, 6:] == 1.0).all()
    np.testing.assert_array_equal(x[:, :, :6, :], X[Y != 3][:, :, :6, :])
    assert attack_success_rate(np.array([3, 3, 1, 3]), 3) == 0.75


def test_the_backdoor_attack_builds_its_own_asr_test_set() -> None:
    attack = attack_from_name("backdoor", target=3, size=2, value=1.0)
    x, y = attack.triggered_test_set(X, Y)  # type: ignore[union-attr]
    ex, ey = triggered_test_set(X, Y, 3, Trigger(2, 1.0))
    np.testing.assert_array_equal(x, ex)
    np.testing.assert_array_equal(y, ey)
    with pytest.raises(ValueError, match="no attack-success test set"):
        attack_from_name("label_flip").triggered_test_set(X, Y)  # type: ignore[union-attr]
