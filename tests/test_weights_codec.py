"""The weights wire format: little-endian float32 bytes on every machine, hashed by
SHA-256, usable without the ML library (block execution reads it too)."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys

import numpy as np
import pytest

from flobc import weights_codec as codec
from flobc.ml import weights as ml_weights

VALUES = [0.5, -1.25, 3.0e-7, 1.0e30]


def test_bytes_are_little_endian_float32_whatever_the_input_order() -> None:
    expected = struct.pack("<4f", *VALUES)
    assert codec.encode_vector(VALUES) == expected
    assert codec.encode_vector(np.array(VALUES, dtype=">f4")) == expected
    assert codec.encode_vector(np.array(VALUES, dtype=np.float64)) == expected
    strided = np.array(VALUES + VALUES, dtype=np.float32).reshape(2, 4).T[:, 0]
    assert codec.encode_vector(strided) == expected
    assert codec.weights_hash(VALUES) == hashlib.sha256(expected).digest()


def test_only_vectors_are_encoded() -> None:
    for bad in (np.zeros((2, 2)), np.float32(1.0)):
        with pytest.raises(ValueError, match="1-D"):
            codec.encode_vector(bad)


def test_decode_checks_length_and_finiteness_and_returns_a_writable_copy() -> None:
    data = struct.pack("<4f", *VALUES)
    vec = codec.decode_vector(data, 4)
    assert vec.dtype == np.float32 and vec.flags.writeable
    assert vec.tolist() == np.array(VALUES, dtype=np.float32).tolist()
    with pytest.raises(ValueError, match="16 bytes; expected 12 "):
        codec.decode_vector(data, 3)
    nan = struct.pack("<2f", 1.0, float("nan"))
    with pytest.raises(ValueError, match="1 non-finite"):
        codec.decode_vector(nan, 2)
    assert np.isnan(codec.decode_vector(nan, 2, require_finite=False)[1])


def test_view_is_read_only_and_rejects_partial_values() -> None:
    view = codec.vector_view(struct.pack("<2f", 1.0, 2.0))
    assert view.tolist() == [1.0, 2.0] and not view.flags.writeable
    with pytest.raises(ValueError, match="multiple of 4"):
        codec.vector_view(b"\x00" * 5)


def test_ml_weights_re_exports_the_one_codec() -> None:
    for name in ("DTYPE", "encode_vector", "decode_vector", "vector_view", "weights_hash"):
        assert getattr(ml_weights, name) is getattr(codec, name)


def test_codec_does_not_import_the_ml_library() -> None:
    code = (
        "import sys, flobc.weights_codec;print(any(m.startswith('flobc.ml') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
