"""Learners: training, evaluation, metrics, determinism and user plug-ins."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from flobc.ml.data import Dataset, load_dataset
from flobc.ml.metrics import METRICS, get_metric, register_metric
from flobc.ml.plugins import resolve_callable
from flobc.ml.train import Learner, evaluate_weights, make_learner
from flobc.ml.weights import weights_hash


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def test_small_cnn_learns_digits(digits: Dataset) -> None:
    learner = make_learner(
        "small-cnn", digits.input_shape, 10, seed=0, lr=0.01, optimizer="adam", batch_size=32
    )
    assert isinstance(learner, Learner)
    x, y = digits.x_train[:500], digits.y_train[:500]
    before = learner.evaluate(digits.x_test, digits.y_test)
    loss_before = learner.evaluate(digits.x_test, digits.y_test, "loss")
    for r in range(4):
        stats = learner.train(x, y, epochs=1, seed=r)
        assert stats["seconds"] < 1.0  # a round on ~500 samples is well under a second
    assert stats["steps"] == 16 and stats["samples"] == 500
    after = learner.evaluate(digits.x_test, digits.y_test)
    assert before < 0.2 and after > 0.75
    assert learner.evaluate(digits.x_test, digits.y_test, "loss") < loss_before


@pytest.mark.parametrize("name", ["small-cnn", "paper-cnn", "numpy-mlp"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_same_seed_same_weight_bytes(digits: Dataset, name: str, optimizer: str) -> None:
    x, y = digits.x_train[:200], digits.y_train[:200]

    def run(seed: int) -> bytes:
        learner = make_learner(name, digits.input_shape, 10, seed=7, optimizer=optimizer, lr=0.01)
        learner.train(x, y, epochs=2, batch_size=16, seed=seed)
        return weights_hash(learner.get_weights())

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_steps_mode_and_argument_checks(digits: Dataset) -> None:
    learner = make_learner("logreg", digits.input_shape, 10, seed=0)
    x, y = digits.x_train[:50], digits.y_train[:50]
    stats = learner.train(x, y, steps=7, batch_size=16)
    assert stats["steps"] == 7 and stats["epochs"] == pytest.approx(7 * 16 / 50)
    w = learner.get_weights()
    assert learner.train(x, y, steps=0)["steps"] == 0
    np.testing.assert_array_equal(learner.get_weights(), w)
    with pytest.raises(ValueError, match="not both"):
        learner.train(x, y, epochs=1, steps=1)
    with pytest.raises(ValueError, match="optimizer"):
        learner.train(x, y, optimizer="rmsprop")
    with pytest.raises(ValueError, match="empty"):
        learner.train(x[:0], y[:0])


def test_evaluate_matches_hand_computation(digits: Dataset) -> None:
    learner = make_learner("numpy-logreg", digits.input_shape, 10, seed=0)
    rng = np.random.default_rng(1)
    w = rng.standard_normal(learner.spec.size).astype(np.float32)
    learner.set_weights(w)
    x, y = digits.x_test[:40], digits.y_test[:40]
    wm, b = w[: 64 * 10].reshape(64, 10), w[64 * 10 :]
    logits = x.reshape(40, -1).astype(np.float64) @ wm + b
    assert learner.evaluate(x, y) == pytest.approx(np.mean(logits.argmax(1) == y))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ce = -np.mean(np.log(p[np.arange(40), y]))
    assert learner.evaluate(x, y, "loss") == pytest.approx(ce, rel=1e-4)
    assert learner.evaluate(x, y, "neg_log_loss") == pytest.approx(-ce, rel=1e-4)
    # tiny explicit case
    logits2 = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert get_metric("accuracy")(logits2, np.array([0, 0, 0])) == pytest.approx(2 / 3)


def test_evaluate_weights_restores(digits: Dataset) -> None:
    learner = make_learner("mlp", digits.input_shape, 10, seed=0)
    w = learner.get_weights()
    score = evaluate_weights(learner, np.zeros_like(w), digits.x_test, digits.y_test)
    assert score == pytest.approx(np.mean(digits.y_test == 0))  # all-zero logits → class 0
    np.testing.assert_array_equal(learner.get_weights(), w)


def test_hand_written_adam_matches_torch_optim() -> None:
    import torch

    from flobc.ml.torch_backend import Optimizer

    torch.manual_seed(0)
    a = torch.nn.Linear(5, 3)
    b = torch.nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    ours = Optimizer(a.parameters(), "adam", 0.01)
    ref = torch.optim.Adam(b.parameters(), lr=0.01)
    for i in range(5):
        x = torch.randn(4, 5, generator=torch.Generator().manual_seed(i))
        for net, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            net(x).pow(2).sum().backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


def test_numpy_gradients_match_finite_differences() -> None:
    from flobc.ml.numpy_models import NumpyMLP

    rng = np.random.default_rng(0)
    model = NumpyMLP((6,), 3, seed=0, hidden=5)
    model.params = {k: v.astype(np.float64) for k, v in model.params.items()}
    x, y = rng.standard_normal((4, 6)), rng.integers(0, 3, 4)
    _, grads = model.loss_and_grads(x, y)
    for k in model.params:
        flat = model.params[k].reshape(-1)
        for j in range(min(3, flat.size)):
            old = flat[j]
            flat[j] = old + 1e-6
            up = model.loss_and_grads(x, y)[0]
            flat[j] = old - 1e-6
            down = model.loss_and_grads(x, y)[0]
            flat[j] = old
            assert grads[k].reshape(-1)[j] == pytest.approx((up - down) / 2e-6, abs=1e-4)


def test_metric_registry_and_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits: Dataset
) -> None:
    register_metric("top_class_zero")(lambda logits, y: float(np.mean(logits.argmax(1) == 0)))
    try:
        assert get_metric("top_class_zero").higher_is_better
    finally:
        METRICS.pop("top_class_zero")
    assert not get_metric("loss").higher_is_better
    with pytest.raises(ValueError, match="unknown metric"):
        get_metric("nope")
    (tmp_path / "my_flobc_plugin.py").write_text(
        textwrap.dedent("""
        import numpy as np
        from flobc.ml.numpy_models import NumpyLogReg

        def factory(input_shape, num_classes, seed, scale=1.0):
            m = NumpyLogReg(input_shape, num_classes, seed)
            m.params["bias"] += scale
            return m

        def train(model, x, y, **kw):
            model.params["bias"] = model.params["bias"] + 1
            return {"custom": True, **{k: kw[k] for k in ("steps", "seed")}}

        def evaluate(model, x, y, *, metric):
            return 42.0

        def always_one(logits, y):
            return 1.0
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_flobc_plugin", None)
    learner = make_learner(
        "my_flobc_plugin:factory",
        (1, 8, 8),
        10,
        seed=0,
        model_options={"scale": 2.0},
        train_fn="my_flobc_plugin:train",
    )
    assert learner.get_weights()[-1] == pytest.approx(2.0)
    out = learner.train(digits.x_train[:10], digits.y_train[:10], steps=3, seed=9)
    assert out["custom"] and out["steps"] == 3 and out["seed"] == 9
    assert learner.get_weights()[-1] == pytest.approx(3.0)
    assert learner.evaluate(digits.x_test, digits.y_test, "my_flobc_plugin:always_one") == 1.0
    learner2 = make_learner("numpy-logreg", (1, 8, 8), 10, eval_fn="my_flobc_plugin:evaluate")
    assert learner2.evaluate(digits.x_test, digits.y_test) == 42.0
    for bad in ("nocolon", "no_such_module_xyz:f", "my_flobc_plugin:missing"):
        with pytest.raises(ValueError):
            resolve_callable(bad)
    with pytest.raises(ValueError, match="unknown model"):
        make_learner("resnet-9000", (1, 8, 8), 10)
