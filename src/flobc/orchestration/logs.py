"""Read and follow node log files (the files ``net up`` writes; ``flobc net logs``).

Kept apart from :mod:`flobc.orchestration.processes` so that module stays about
processes; these functions take ``(name, path)`` pairs and know nothing about network
folders.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

LogFile = tuple[str, Path]


def _prefix(name: str, width: int, several: bool) -> str:
    return f"{name:<{width}} | " if several else ""


def print_logs(
    files: Sequence[LogFile], out: TextIO, lines: int | None = None, prefix: bool | None = None
) -> None:
    """Write each file's last ``lines`` lines (all when None), prefixed by the node name
    when ``prefix`` (default: when there are several files)."""
    several = len(files) > 1 if prefix is None else prefix
    width = max((len(n) for n, _ in files), default=0)
    for name, path in files:
        if not path.exists():
            continue
        with open(path, encoding="utf-8", errors="replace") as fh:
            tail = deque(fh, maxlen=lines) if lines is not None else fh.readlines()
        pre = _prefix(name, width, several)
        for line in tail:
            out.write(pre + line if line.endswith("\n") else pre + line + "\n")
    out.flush()


def follow(
    files: Sequence[LogFile],
    out: TextIO,
    *,
    poll_s: float = 0.2,
    stop: Callable[[], bool] = lambda: False,
    prefix: bool | None = None,
) -> None:
    """Write lines appended to ``files`` from now on until ``stop()`` (or Ctrl-C).

    A file that does not exist yet is picked up when it appears, and a truncated or
    replaced file is read again from its start, so a node restarted by ``net up`` keeps
    being followed.
    """
    several = len(files) > 1 if prefix is None else prefix
    width = max((len(n) for n, _ in files), default=0)
    pos = {name: path.stat().st_size if path.exists() else 0 for name, path in files}
    partial = {name: "" for name, _ in files}
    while not stop():
        wrote = False
        for name, path in files:
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size < pos[name]:
                pos[name], partial[name] = 0, ""
            if size == pos[name]:
                continue
            with open(path, "rb") as fh:
                fh.seek(pos[name])
                chunk = fh.read(size - pos[name])
            pos[name] += len(chunk)
            text = partial[name] + chunk.decode("utf-8", errors="replace")
            *complete, partial[name] = text.split("\n")
            for line in complete:
                out.write(f"{_prefix(name, width, several)}{line}\n")
                wrote = True
        if wrote:
            out.flush()
        time.sleep(poll_s)


__all__ = ["LogFile", "follow", "print_logs"]
