"""Flat weights vector, ModelSpec, wire encodings, safetensors and the adapters."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flobc.encoding import decode, encode
from flobc.ml import zoo
from flobc.ml.train import learner_for_model
from flobc.ml.weights import (
    ModelSpec,
    TensorSpec,
    decode_vector,
    encode_vector,
    flatten,
    from_safetensors,
    spec_from_arrays,
    to_safetensors,
    unflatten,
    uniform_init,
    weights_hash,
)

SPEC = ModelSpec(
    (
        TensorSpec("a.weight", (3, 2)),
        TensorSpec("a.bias", (3,)),
        TensorSpec("scalar", ()),
        TensorSpec("half", (2, 2), "float16"),
        TensorSpec("double", (1, 2, 2), "float64"),
    )
)


def shape_for(name: str) -> tuple[int, ...]:
    return (1, 28, 28) if name == "paper-cnn" else (1, 8, 8)


def test_spec_size_hash_and_canonical_encoding() -> None:
    assert SPEC.size == 6 + 3 + 1 + 4 + 4
    assert [o[1:] for o in SPEC.offsets()] == [(0, 6), (6, 9), (9, 10), (10, 14), (14, 18)]
    assert decode(encode(SPEC), ModelSpec) == SPEC
    assert ModelSpec.from_json(SPEC.to_json()) == SPEC
    assert len(SPEC.hash()) == 32 and SPEC.hash() == ModelSpec(SPEC.tensors).hash()
    other = ModelSpec((TensorSpec("a.weight", (2, 3)), *SPEC.tensors[1:]))
    assert other.hash() != SPEC.hash()


@pytest.mark.parametrize(
    "bad",
    [
        lambda: ModelSpec((TensorSpec("x", (1,)), TensorSpec("x", (2,)))),
        lambda: TensorSpec("x", (-1,)),
        lambda: TensorSpec("x", (1,), "int64"),
        lambda: TensorSpec("", (1,)),
    ],
)
def test_spec_validation(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        bad()


def test_flatten_unflatten_round_trip_keeps_dtypes() -> None:
    rng = np.random.default_rng(0)
    tensors = {t.name: rng.standard_normal(t.shape).astype(t.dtype) for t in SPEC.tensors}
    vec = flatten({**tensors, "ignored": np.zeros(3)}, SPEC)
    assert vec.dtype == np.float32 and vec.shape == (SPEC.size,)
    back = unflatten(vec, SPEC)
    assert list(back) == SPEC.names
    for t in SPEC.tensors:
        assert back[t.name].dtype == np.dtype(t.dtype) and back[t.name].shape == t.shape
        np.testing.assert_allclose(back[t.name], tensors[t.name], rtol=1e-3)
    np.testing.assert_array_equal(flatten(back, SPEC), vec)
    with pytest.raises(ValueError, match="missing"):
        flatten({"a.weight": tensors["a.weight"]}, SPEC)
    with pytest.raises(ValueError, match="shape"):
        flatten({**tensors, "a.bias": np.zeros(4)}, SPEC)
    with pytest.raises(ValueError, match="elements"):
        unflatten(vec[:-1], SPEC)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 4), min_size=0, max_size=3), min_size=1, max_size=4),
    st.integers(0, 2**31),
)
def test_flatten_round_trip_property(shapes: list[list[int]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    tensors = {f"t{i}": rng.standard_normal(s).astype(np.float32) for i, s in enumerate(shapes)}
    spec = spec_from_arrays(tensors)
    vec = flatten(tensors, spec)
    assert vec.size == spec.size == sum(int(np.prod(s)) for s in shapes)
    assert all(np.array_equal(unflatten(vec, spec)[k], v) for k, v in tensors.items())


def test_encode_decode_vector_and_hash() -> None:
    vec = np.arange(SPEC.size, dtype=np.float32) / 7
    data = encode_vector(vec)
    assert data == vec.astype("<f4").tobytes() and len(data) == 4 * SPEC.size
    out = decode_vector(data, SPEC)
    np.testing.assert_array_equal(out, vec)
    out[0] = 5  # writable copy
    assert weights_hash(vec) == hashlib.sha256(data).digest()
    assert weights_hash(vec.astype(np.float64)) == weights_hash(vec)
    assert decode_vector(data, SPEC.size).shape == (SPEC.size,)
    with pytest.raises(ValueError, match="expected 72"):
        decode_vector(data[:-4], SPEC)
    with pytest.raises(ValueError, match="expected"):
        decode_vector(data + b"\x00", SPEC)
    bad = vec.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        decode_vector(encode_vector(bad), SPEC)
    assert np.isnan(decode_vector(encode_vector(bad), SPEC, require_finite=False)[3])
    with pytest.raises(ValueError, match="1-D"):
        encode_vector(vec.reshape(2, -1))


def test_safetensors_round_trip_and_foreign_files() -> None:
    from safetensors.numpy import load, save

    vec = uniform_init(SPEC, seed=3)
    assert np.all(np.abs(vec) <= 0.09)
    blob = to_safetensors(vec, SPEC)
    vec2, spec2 = from_safetensors(blob)
    assert spec2 == SPEC
    np.testing.assert_allclose(vec2, vec, rtol=1e-3)  # the float16 tensor rounds
    assert load(blob)["double"].dtype == np.float64
    foreign = save(
        {
            "b": np.ones((2,), np.float32),
            "a": np.zeros((3,), np.float32),
            "steps": np.array([4], np.int64),
        }
    )
    v3, s3 = from_safetensors(foreign)
    assert s3.names == ["a", "b"] and v3.tolist() == [0, 0, 0, 1, 1]
    with pytest.raises(ValueError):
        from_safetensors(b"garbage")


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_zoo_model_round_trips(name: str) -> None:
    model = zoo.build_model(name, shape_for(name), 10, seed=1)
    learner = learner_for_model(model)
    spec = learner.spec
    w = learner.get_weights()
    assert w.dtype == np.float32 and w.shape == (spec.size,)
    # deterministic init, different seeds differ
    again = learner_for_model(zoo.build_model(name, shape_for(name), 10, seed=1))
    assert weights_hash(again.get_weights()) == weights_hash(w)
    assert spec.hash() == again.spec.hash()
    other = learner_for_model(zoo.build_model(name, shape_for(name), 10, seed=2))
    assert not np.array_equal(other.get_weights(), w)
    # set/get round trip through the rebuild
    new = np.random.default_rng(0).standard_normal(spec.size).astype(np.float32)
    learner.set_weights(new)
    np.testing.assert_array_equal(learner.get_weights(), new)
    np.testing.assert_array_equal(flatten(unflatten(new, spec), spec), new)
    # safetensors round trip
    vec, spec2 = from_safetensors(to_safetensors(new, spec))
    assert spec2 == spec
    np.testing.assert_array_equal(vec, new)
    # the rebuilt model computes the same function
    x = np.random.default_rng(1).random((3, *shape_for(name)), dtype=np.float32)
    other.set_weights(vec)
    np.testing.assert_allclose(other.predict(x), learner.predict(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["paper-cnn", "small-cnn", "mlp", "logreg"])
def test_pytorch_user_loads_safetensors_directly(name: str) -> None:
    import torch
    from safetensors.torch import load

    from flobc.ml.torch_backend import TorchAdapter

    src = TorchAdapter(zoo.build_model(name, shape_for(name), 10, seed=5))
    blob = to_safetensors(src.get_weights(), src.spec)
    fresh = zoo.build_model(name, shape_for(name), 10, seed=6)
    fresh.load_state_dict(load(blob), strict=True)
    x = torch.rand(2, *shape_for(name))
    src.module.eval()
    fresh.eval()
    torch.testing.assert_close(fresh(x), src.module(x))


def test_paper_cnn_matches_original_parameter_count() -> None:
    model = zoo.build_model("paper-cnn", (1, 28, 28), 10, seed=0)
    assert (
        sum(p.numel() for p in model.parameters()) == 608_338
    )  # 280 + 605,824 + 2,064 + 170, as in Keras
    assert [type(m).__name__ for m in model] == [
        "Conv2d",
        "MaxPool2d",
        "Flatten",
        "Linear",
        "ReLU",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
    ]


def test_torch_adapter_includes_batchnorm_buffers() -> None:
    import torch
    from torch import nn

    from flobc.ml.torch_backend import TorchAdapter

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2).double())
    ad = TorchAdapter(net)
    assert ad.spec.names == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "2.weight",
        "2.bias",
    ]  # num_batches_tracked (int64) left out
    assert ad.spec.tensors[-1].dtype == "float64"
    vec = np.arange(ad.spec.size, dtype=np.float32)
    ad.set_weights(vec)
    np.testing.assert_array_equal(ad.get_weights(), vec)
    assert net[1].running_var.tolist() == [24.0, 25.0, 26.0]
    assert net[2].bias.dtype == torch.float64 and net[2].bias.requires_grad


def test_core_does_not_import_torch() -> None:
    code = (
        "import sys, flobc.ml, flobc.ml.train, flobc.ml.zoo, flobc.ml.data, flobc.ml.download;"
        "from flobc.ml import make_learner, load_dataset;"
        "l = make_learner('numpy-logreg', (1, 8, 8), 10, seed=0);"
        "d = load_dataset('digits'); l.train(d.x_train, d.y_train, epochs=1);"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
