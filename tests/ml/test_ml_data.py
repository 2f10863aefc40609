"""IDX files, dataset loading, validation splits and the downloader (no network)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from flobc.ml.data import DEBIAN_FASHION_DIR, DatasetNotFound, load_dataset, split_validation
from flobc.ml.download import IDX_FILES, DownloadError, download_dataset
from flobc.ml.idx import IdxError, encode_idx, parse_idx, read_idx, write_idx


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path: Path, dtype: str, suffix: str) -> None:
    arr = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    path = write_idx(tmp_path / f"x-idx3{suffix}", arr)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == (suffix == ".gz")
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype).newbyteorder("=") and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, arr)


def test_idx_known_bytes_and_errors() -> None:
    data = encode_idx(np.array([1, 2, 3], np.uint8))
    assert data == bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3])
    assert encode_idx(np.array([258], np.int32))[-4:] == b"\x00\x00\x01\x02"  # big-endian
    for bad, msg in [
        (b"\x01\x00\x08\x01", "magic"),
        (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 0]), "type code"),
        (data[:-1], "payload"),
        (bytes([0, 0, 8, 2, 0, 0]), "truncated"),
        (gzip.compress(data)[:-6], "gzip"),
    ]:
        with pytest.raises(IdxError, match=msg):
            parse_idx(bad)
    with pytest.raises(IdxError):
        encode_idx(np.array([1], np.uint32))


def test_digits_shape_range_and_disjoint_split() -> None:
    ds = load_dataset("digits")
    assert ds.input_shape == (1, 8, 8) and ds.num_classes == 10
    assert ds.x_train.shape[1:] == (1, 8, 8) and ds.x_train.dtype == np.float32
    assert len(ds.x_train) + len(ds.x_test) == 1797 and len(ds.x_test) == 359
    assert ds.y_train.dtype == np.int64 and set(np.unique(ds.y_test)) == set(range(10))
    for x in (ds.x_train, ds.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0
    rows = {r.tobytes() for r in ds.x_train}
    shared = sum(r.tobytes() in rows for r in ds.x_test)
    assert shared <= 2  # a couple of identical images occur in the raw data itself
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.x_test, ds.x_test)

    split = split_validation(ds, 0.2, seed=1)
    assert split.x_val is not None and split.y_val is not None
    assert len(split.x_train) + len(split.x_val) == len(ds.x_train)
    assert abs(len(split.x_val) - 0.2 * len(ds.x_train)) <= 10
    np.testing.assert_array_equal(split.x_test, ds.x_test)
    train_rows = {r.tobytes() for r in split.x_train}
    assert sum(r.tobytes() in train_rows for r in split.x_val) <= 2
    counts = np.bincount(split.y_val, minlength=10)
    assert counts.min() >= 0.15 * len(ds.x_train) / 10  # stratified


def make_idx_files(folder: Path, n_train: int = 20, n_test: int = 10) -> dict[str, str]:
    """Small fake MNIST files; returns their MD5s."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        IDX_FILES[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        IDX_FILES[1]: (np.arange(n_train) % 10).astype(np.uint8),
        IDX_FILES[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        IDX_FILES[3]: (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, arr in arrays.items():
        write_idx(folder / name, arr)
    return {n: hashlib.md5((folder / n).read_bytes()).hexdigest() for n in arrays}


def test_mnist_from_data_dir_gz_and_plain(tmp_path: Path) -> None:
    make_idx_files(tmp_path / "gz")
    ds = load_dataset("mnist", tmp_path / "gz")
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_test.shape == (10, 1, 28, 28)
    assert ds.input_shape == (1, 28, 28) and ds.num_classes == 10
    assert ds.x_train.max() <= 1.0 and ds.x_train.dtype == np.float32
    plain = tmp_path / "plain"
    plain.mkdir()
    for f in IDX_FILES:
        (plain / f.removesuffix(".gz")).write_bytes(
            gzip.decompress((tmp_path / "gz" / f).read_bytes())
        )
    np.testing.assert_array_equal(load_dataset("mnist", plain).x_test, ds.x_test)


def test_missing_dataset_says_what_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOBC_DATA_HOME", str(tmp_path / "home"))
    with pytest.raises(DatasetNotFound, match="flobc data download mnist"):
        load_dataset("mnist")
    with pytest.raises(DatasetNotFound, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", tmp_path / "empty")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("imagenet")


@pytest.mark.skipif(
    not (DEBIAN_FASHION_DIR / IDX_FILES[1]).exists(), reason="dataset-fashion-mnist not installed"
)
def test_fashion_mnist_from_debian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOBC_DATA_HOME", str(tmp_path))  # empty cache → Debian folder
    ds = load_dataset("fashion-mnist")
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.num_classes == 10 and ds.x_test.min() >= 0.0 and ds.x_test.max() <= 1.0
    assert np.bincount(ds.y_test).tolist() == [1000] * 10


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "srv"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_from_local_mirror(file_server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = file_server
    sums = make_idx_files(root / "good")
    (root / "bad").mkdir()
    for f in IDX_FILES:  # a mirror serving corrupt copies
        (root / "bad" / f).write_bytes(b"not what you want")
    dead = f"http://127.0.0.1:{free_port()}/"
    logs: list[str] = []
    dest = download_dataset(
        "mnist",
        tmp_path / "dl",
        checksums=sums,
        timeout=5,
        log=logs.append,
        mirrors=[dead, f"{base}/missing/", f"{base}/bad/", f"{base}/good/"],
    )
    for f in IDX_FILES:
        assert (dest / f).read_bytes() == (root / "good" / f).read_bytes()
    assert not list(dest.glob("*.part"))
    ds = load_dataset("mnist", dest)
    assert len(ds.x_train) == 20
    # present and valid: nothing fetched again, even with no reachable mirror
    download_dataset("mnist", dest, checksums=sums, mirrors=[dead], timeout=5)
    # without checksums, the IDX structure is checked instead
    download_dataset(
        "mnist", tmp_path / "dl2", checksums={}, mirrors=[f"{base}/bad/", f"{base}/good/"]
    )
    assert (tmp_path / "dl2" / IDX_FILES[0]).exists()


def test_download_offline_error(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(DownloadError, match="offline") as err:
        download_dataset("fashion-mnist", tmp_path, mirrors=[dead], timeout=5)
    assert dead in str(err.value) and str(tmp_path) in str(err.value)
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="no download source"):
        download_dataset("digits", tmp_path)
