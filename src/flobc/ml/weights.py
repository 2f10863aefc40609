"""Model-agnostic weights: a flat float32 vector plus the :class:`ModelSpec` that rebuilds it.

This is the paper's "flatten / rebuild" step (Section III-A): any gradient-descent model is
reduced to one flat array of weights, and the ordered list of named tensors it came from is
enough to reconstruct the full model. Nothing here imports torch.

Wire formats:

* :func:`encode_vector` / :func:`decode_vector`: raw little-endian float32 bytes (what
  trainers and validators exchange; its SHA-256 is :func:`weights_hash`). These live in
  :mod:`flobc.weights_codec` (block execution uses them without the ML library) and are
  re-exported here.
* :func:`to_safetensors` / :func:`from_safetensors`: a standard ``.safetensors`` file with
  every tensor in its own dtype and shape (``safetensors.torch.load`` gives a PyTorch user a
  state dict directly) and the spec in the metadata under ``"flobc.spec"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import msgspec
import numpy as np

from flobc.encoding import hash_obj

# Re-exported: the codec lives below the ML library (block execution uses it too).
from flobc.weights_codec import DTYPE as DTYPE
from flobc.weights_codec import decode_vector as decode_vector
from flobc.weights_codec import encode_vector as encode_vector
from flobc.weights_codec import vector_view as vector_view
from flobc.weights_codec import weights_hash as weights_hash

#: dtypes a spec tensor may have; the flat vector is always float32.
FLOAT_DTYPES = ("float16", "float32", "float64")
SPEC_METADATA_KEY = "flobc.spec"

_STRUCT = {"array_like": True, "frozen": True, "forbid_unknown_fields": True}


class TensorSpec(msgspec.Struct, **_STRUCT):
    """One named tensor of a model: ``name``, ``shape`` and original ``dtype``."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("tensor name must be non-empty")
        if any(d < 0 for d in self.shape):
            raise ValueError(f"tensor {self.name!r} has a negative dimension: {self.shape}")
        if self.dtype not in FLOAT_DTYPES:
            raise ValueError(f"tensor {self.name!r}: dtype {self.dtype!r} not in {FLOAT_DTYPES}")

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)


class ModelSpec(msgspec.Struct, **_STRUCT):
    """Ordered list of named tensors from which a flat vector is rebuilt into a model."""

    tensors: tuple[TensorSpec, ...]

    def __post_init__(self) -> None:
        names = [t.name for t in self.tensors]
        if len(set(names)) != len(names):
            raise ValueError("tensor names in a ModelSpec must be unique")

    @property
    def size(self) -> int:
        """Total number of elements (the length of the flat vector)."""
        return sum(t.size for t in self.tensors)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tensors]

    def offsets(self) -> list[tuple[TensorSpec, int, int]]:
        """``(tensor, start, stop)`` slices of the flat vector, in order."""
        out, pos = [], 0
        for t in self.tensors:
            out.append((t, pos, pos + t.size))
            pos += t.size
        return out

    def hash(self) -> bytes:
        """SHA-256 of the canonical encoding (identifies the architecture's layout)."""
        return hash_obj(self)

    def to_json(self) -> str:
        return msgspec.json.encode(self).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelSpec:
        try:
            return msgspec.json.decode(text, type=cls)
        except msgspec.DecodeError as exc:
            raise ValueError(f"invalid ModelSpec JSON: {exc}") from exc


def spec_from_arrays(tensors: Mapping[str, np.ndarray]) -> ModelSpec:
    """A spec listing ``tensors`` in mapping order (floating arrays only, others skipped)."""
    items = []
    for name, arr in tensors.items():
        a = np.asarray(arr)
        if a.dtype.kind == "f":
            items.append(TensorSpec(name, tuple(int(d) for d in a.shape), a.dtype.name))
    return ModelSpec(tuple(items))


def flatten(tensors: Mapping[str, np.ndarray], spec: ModelSpec) -> np.ndarray:
    """Concatenate ``tensors`` in spec order into one float32 vector (extra keys ignored)."""
    out = np.empty(spec.size, dtype=np.float32)
    for t, start, stop in spec.offsets():
        if t.name not in tensors:
            raise ValueError(f"tensor {t.name!r} of the spec is missing")
        arr = np.asarray(tensors[t.name])
        if tuple(arr.shape) != t.shape:
            raise ValueError(f"tensor {t.name!r} has shape {arr.shape}, spec says {t.shape}")
        out[start:stop] = arr.reshape(-1)
    return out


def unflatten(vec: np.ndarray, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Split a flat vector back into freshly allocated named arrays of the spec's dtypes."""
    v = _check_vector(vec, spec)
    return {
        t.name: v[start:stop].reshape(t.shape).astype(t.dtype, copy=True)
        for t, start, stop in spec.offsets()
    }


def _check_vector(vec: np.ndarray, spec: ModelSpec | None = None) -> np.ndarray:
    v = np.asarray(vec)
    if v.ndim != 1:
        raise ValueError(f"weights must be a 1-D vector, got shape {v.shape}")
    if spec is not None and v.shape[0] != spec.size:
        raise ValueError(f"weights vector has {v.shape[0]} elements, spec expects {spec.size}")
    return v


def to_safetensors(vec: np.ndarray, spec: ModelSpec) -> bytes:
    """Serialize to ``.safetensors`` bytes (spec stored in the metadata)."""
    from safetensors.numpy import save

    tensors = unflatten(vec, spec)  # fresh C-contiguous arrays (0-d stays 0-d)
    return save(tensors, metadata={SPEC_METADATA_KEY: spec.to_json(), "format": "pt"})


def safetensors_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` map of a safetensors blob (empty if none)."""
    if len(data) < 8:
        raise ValueError("not a safetensors blob: shorter than its 8-byte header length")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise ValueError("not a safetensors blob: header length exceeds the data")
    try:
        header = json.loads(data[8 : 8 + n])
    except ValueError as exc:
        raise ValueError(f"not a safetensors blob: bad JSON header ({exc})") from exc
    meta = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in meta.items()}


def from_safetensors(data: bytes) -> tuple[np.ndarray, ModelSpec]:
    """Parse ``.safetensors`` bytes into ``(vec, spec)``.

    Uses the spec in the metadata when present; otherwise (a file saved by other tools) the
    floating tensors in name order. Non-floating tensors (e.g. BatchNorm step counters) are
    ignored.
    """
    from safetensors.numpy import load

    meta = safetensors_metadata(data)
    try:
        tensors = load(data)
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"cannot read safetensors data: {exc}") from exc
    if SPEC_METADATA_KEY in meta:
        spec = ModelSpec.from_json(meta[SPEC_METADATA_KEY])
    else:
        spec = spec_from_arrays({k: tensors[k] for k in sorted(tensors)})
    return flatten(tensors, spec), spec


def uniform_init(
    spec: ModelSpec, *, low: float = -0.09, high: float = 0.09, seed: int = 0
) -> np.ndarray:
    """A seeded uniform initial vector (the original FLoBC scripts used U(-0.09, 0.09))."""
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=spec.size).astype(np.float32)
