"""Datasets as arrays: images float32 in [0, 1] shaped ``(N, C, H, W)``, labels int64.

``load_dataset(name, data_dir=None)`` knows:

* ``digits``: scikit-learn's bundled 8x8 digits (1,797 images), split 80/20 stratified with a
  fixed seed, so every process gets the same train/test sets. Needs no files.
* ``mnist`` and ``fashion-mnist``: the standard IDX files (``train-images-idx3-ubyte[.gz]``,
  ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``,
  ``t10k-labels-idx1-ubyte[.gz]``) from ``data_dir`` if given, else from
  ``~/.cache/flobc/<name>`` (see :func:`flobc.ml.download.default_data_dir`) and, for
  Fashion-MNIST, Debian's ``/usr/share/datasets/fashion-mnist`` (``apt-get install
  dataset-fashion-mnist``).
* ``"package.module:function"``: your own loader, called as ``fn(data_dir)`` and returning a
  :class:`Dataset`.

Held-out data: :func:`split_validation` carves a validation set (for validators) out of the
training set; the test set stays separate from both.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flobc.ml.download import IDX_FILES, default_data_dir
from flobc.ml.idx import read_idx
from flobc.ml.plugins import is_callable_ref, resolve_callable

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0


class DatasetNotFound(FileNotFoundError):
    """The dataset's files are not on this machine; the message says how to get them."""


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays (plus an optional validation split) and their shape."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    input_shape: tuple[int, ...]
    num_classes: int
    name: str = ""
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def __repr__(self) -> str:
        val = 0 if self.x_val is None else len(self.x_val)
        return (
            f"Dataset({self.name!r}, train={len(self.x_train)}, val={val}, "
            f"test={len(self.x_test)}, input_shape={self.input_shape}, "
            f"num_classes={self.num_classes})"
        )


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(len(labels))`` into ``(rest, held)`` with ``held`` taking
    ``fraction`` of every class (rounded). Both index arrays are sorted."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    held = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = round(fraction * len(idx))
        held.append(rng.permutation(idx)[:k])
    held_idx = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    mask = np.ones(len(labels), dtype=bool)
    mask[held_idx] = False
    return np.flatnonzero(mask), held_idx


def split_validation(dataset: Dataset, fraction: float = 0.1, seed: int = 0) -> Dataset:
    """Move a stratified, seeded ``fraction`` of the training set into ``x_val``/``y_val``.

    Trainers then partition ``x_train`` and validators ``x_val`` (see
    :func:`flobc.ml.partition.partition_for_validators`), so validation data is never
    trained on; the test set is untouched.
    """
    rest, held = stratified_split(dataset.y_train, fraction, seed)
    return dataclasses.replace(
        dataset,
        x_train=dataset.x_train[rest],
        y_train=dataset.y_train[rest],
        x_val=dataset.x_train[held],
        y_val=dataset.y_train[held],
    )


def _digits_table() -> np.ndarray:
    """The (1797, 65) digits table bundled with scikit-learn: 64 pixels (0..16), then the label.

    Read straight from the package data (importing sklearn costs seconds); falls back to
    ``sklearn.datasets.load_digits`` if the file is not where expected.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            table = np.loadtxt(path, delimiter=",")
            if table.shape == (1797, 65):
                return table
    from sklearn.datasets import load_digits as sk_load

    d = sk_load()
    return np.column_stack([d.data, d.target])


def load_digits() -> Dataset:
    """scikit-learn's 8x8 digits, 80/20 stratified split with a fixed seed."""
    table = _digits_table()
    x = (table[:, :64].astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = table[:, 64].astype(np.int64)
    train, test = stratified_split(y, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED)
    return Dataset(x[train], y[train], x[test], y[test], (1, 8, 8), 10, "digits")


def _find_idx_dir(dirs: Sequence[Path]) -> tuple[Path, dict[str, Path]] | None:
    for d in dirs:
        found = {}
        for fname in IDX_FILES:
            for cand in (d / fname, d / fname.removesuffix(".gz")):
                if cand.is_file():
                    found[fname] = cand
                    break
        if len(found) == len(IDX_FILES):
            return d, found
    return None


def _how_to_get(name: str, dirs: Sequence[Path]) -> str:
    where = ", ".join(str(d) for d in dirs)
    files = ", ".join(IDX_FILES)
    if name == "fashion-mnist":
        fix = (
            "Install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu; puts the "
            f"files in {DEBIAN_FASHION_DIR}) or run `flobc data download fashion-mnist`"
        )
    else:
        fix = f"Run `flobc data download {name}` (needs internet)"
    return (
        f"{name} not found (looked in: {where}; need {files}, gzipped or not). {fix}, "
        f"or copy the files into {default_data_dir(name)} or a folder given as --data-dir."
    )


def load_idx_dataset(name: str, data_dir: str | Path | None = None) -> Dataset:
    """MNIST-format dataset (28x28 grey images, 10 classes) from its four IDX files."""
    if data_dir is not None:
        dirs = [Path(data_dir)]
    else:
        dirs = [default_data_dir(name)]
        if name == "fashion-mnist":
            dirs.append(DEBIAN_FASHION_DIR)
    hit = _find_idx_dir(dirs)
    if hit is None:
        raise DatasetNotFound(_how_to_get(name, dirs))
    _, files = hit

    def images(fname: str) -> np.ndarray:
        raw = read_idx(files[fname])
        if raw.ndim != 3:
            raise ValueError(f"{files[fname]}: expected (N, H, W) images, got {raw.shape}")
        return (raw.astype(np.float32) / 255.0)[:, None, :, :]

    def labels(fname: str) -> np.ndarray:
        return read_idx(files[fname]).astype(np.int64)

    x_train, y_train = images(IDX_FILES[0]), labels(IDX_FILES[1])
    x_test, y_test = images(IDX_FILES[2]), labels(IDX_FILES[3])
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError(f"{name}: image and label counts differ")
    num_classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    return Dataset(
        x_train, y_train, x_test, y_test, tuple(x_train.shape[1:]), max(num_classes, 10), name
    )


DATASETS: dict[str, Callable[[str | Path | None], Dataset]] = {
    "digits": lambda _dir: load_digits(),
    "mnist": lambda d: load_idx_dataset("mnist", d),
    "fashion-mnist": lambda d: load_idx_dataset("fashion-mnist", d),
}


def load_dataset(name: str, data_dir: str | Path | None = None) -> Dataset:
    """Load a dataset by name (``digits``, ``mnist``, ``fashion-mnist``) or ``module:function``.

    Raises :class:`DatasetNotFound` (with the command to fix it) when files are missing.
    """
    key = name.lower().replace("_", "-")
    if key in DATASETS:
        return DATASETS[key](data_dir)
    if is_callable_ref(name):
        ds = resolve_callable(name)(data_dir)
        if not isinstance(ds, Dataset):
            raise TypeError(f"{name} returned {type(ds).__name__}, expected a Dataset")
        return ds
    raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)} or 'module:function'")
