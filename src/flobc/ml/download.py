"""Download MNIST / Fashion-MNIST IDX files over HTTPS from public mirrors.

Files are tried mirror by mirror, written to ``<name>.part`` and renamed into place only when
complete and (where known) matching the official MD5. Files already present and valid are
not fetched again. With no mirror reachable, :class:`DownloadError` says so.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from flobc.ml.idx import IdxError, parse_idx

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@dataclass(frozen=True)
class Source:
    """Where a dataset's files live and their official MD5 checksums."""

    mirrors: tuple[str, ...]
    md5: Mapping[str, str]


SOURCES: dict[str, Source] = {
    "mnist": Source(
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": Source(
        mirrors=(
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            # The project's S3 website endpoint only speaks plain HTTP; the MD5 check still
            # guarantees the files are the published ones.
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ),
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
}


class DownloadError(RuntimeError):
    """No mirror delivered a valid copy of a file."""


def default_data_dir(name: str) -> Path:
    """``$FLOBC_DATA_HOME/<name>``, else ``$XDG_CACHE_HOME/flobc/<name>`` (``~/.cache``)."""
    if home := os.environ.get("FLOBC_DATA_HOME"):
        return Path(home) / name
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "flobc" / name


def md5_file(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _valid(path: Path, md5: str | None) -> bool:
    if not path.is_file():
        return False
    if md5 is not None:
        return md5_file(path) == md5
    try:
        parse_idx(path.read_bytes())
    except IdxError:
        return False
    return True


def fetch_file(url: str, target: Path, md5: str | None, timeout: float) -> None:
    """Download ``url`` to ``target`` atomically; raise on HTTP, size or checksum problems."""
    part = target.with_name(target.name + ".part")
    req = urllib.request.Request(url, headers={"User-Agent": "flobc-dataset-download"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp, part.open("wb") as fh:
            length = resp.headers.get("Content-Length")
            got = 0
            while chunk := resp.read(1 << 16):
                fh.write(chunk)
                got += len(chunk)
        if length is not None and got != int(length):
            raise DownloadError(f"truncated: got {got} of {length} bytes")
        if not _valid(part, md5):
            raise DownloadError("checksum mismatch" if md5 else "not a valid IDX file")
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)


def download_dataset(
    name: str,
    dest: str | Path | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, str] | None = None,
    files: Sequence[str] = IDX_FILES,
    timeout: float = 30.0,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Fetch ``name``'s IDX files into ``dest`` (default :func:`default_data_dir`).

    ``mirrors`` (base URLs, tried in order) and ``checksums`` (file name → MD5; a file not
    listed is only checked to be valid IDX) default to the official ones. Returns ``dest``.
    Raises :class:`DownloadError` when some file cannot be fetched from any mirror.
    """
    if name not in SOURCES:
        raise ValueError(f"no download source for {name!r}; known: {sorted(SOURCES)}")
    src = SOURCES[name]
    bases = tuple(mirrors) if mirrors is not None else src.mirrors
    sums = src.md5 if checksums is None else checksums
    out = Path(dest) if dest is not None else default_data_dir(name)
    out.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _msg: None)
    for fname in files:
        target, md5 = out / fname, sums.get(fname)
        if not force and _valid(target, md5):
            say(f"{fname}: already present")
            continue
        errors = []
        for base in bases:
            url = base.rstrip("/") + "/" + fname
            say(f"{fname}: downloading {url}")
            try:
                fetch_file(url, target, md5, timeout)
                break
            except (OSError, urllib.error.URLError, DownloadError, ValueError) as exc:
                errors.append(f"  {url}: {getattr(exc, 'reason', None) or exc}")
        else:
            raise DownloadError(
                f"could not download {name} file {fname} from any mirror (offline? behind a "
                f"proxy?):\n" + "\n".join(errors or ["  no mirrors given"]) + "\n"
                f"Alternatively copy {', '.join(files)} into {out} by hand, "
                f"or point --data-dir at a folder that has them."
            )
    return out
