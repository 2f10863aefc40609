"""IDX file format (MNIST / Fashion-MNIST), plain or gzip-compressed.

Layout: two zero bytes, a type code, the number of dimensions, then each dimension as a
big-endian uint32, then the data in big-endian C order.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np

_CODES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class IdxError(ValueError):
    """The bytes are not a valid IDX file."""


def parse_idx(data: bytes) -> np.ndarray:
    """Decode IDX bytes (gzip-compressed or not) into an array of the native byte order."""
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise IdxError(f"corrupt gzip data: {exc}") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise IdxError("not an IDX file (bad magic number)")
    code, ndim = data[2], data[3]
    if code not in _CODES:
        raise IdxError(f"unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError("truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _CODES[code]
    expected = math.prod(shape) * dtype.itemsize
    if len(data) - header != expected:
        raise IdxError(f"IDX payload is {len(data) - header} bytes, shape {shape} needs {expected}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file; ``.gz`` files (detected by content) are decompressed."""
    return parse_idx(Path(path).read_bytes())


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes for ``array`` (dtype uint8, int8, int16, int32, float32 or float64)."""
    arr = np.asarray(array)
    for code, dt in _CODES.items():  # noqa: B007 - the matching pair is used below
        if arr.dtype.kind == dt.kind and arr.dtype.itemsize == dt.itemsize:
            break
    else:
        raise IdxError(f"dtype {arr.dtype} cannot be stored in IDX")
    if arr.ndim > 255:
        raise IdxError("too many dimensions for IDX")
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + np.ascontiguousarray(arr, dtype=dt).tobytes()


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as IDX; gzip-compressed if ``compress`` (default: path ends in .gz)."""
    p = Path(path)
    data = encode_idx(array)
    if compress if compress is not None else p.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    p.write_bytes(data)
    return p
