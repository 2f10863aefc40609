"""The large-allocation tuning applies on glibc and steps aside when the environment
already tunes malloc."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from flobc.node.malloc import keep_large_allocations

# Prints whether the tuning applied, then whether a 5 MB buffer was served by mmap
# (glibc's mallinfo2: bytes in mmapped blocks).
CALL = """
import ctypes, ctypes.util
from flobc.node.malloc import keep_large_allocations
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    ).split()]
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = MallInfo2
applied = keep_large_allocations()
before = libc.mallinfo2().hblkhd
buf = bytearray(5_000_000)
print(applied, libc.mallinfo2().hblkhd - before >= 5_000_000)
"""


def _run(env: dict[str, str]) -> str:
    env = {**env, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", CALL], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt thresholds are glibc's",
)
def test_large_buffers_come_from_the_heap_once_applied() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    assert _run(env) == "True False"


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt thresholds are glibc's",
)
def test_leaves_an_operators_tuning_alone() -> None:
    # the operator's setting (mmap from 128 KiB) stays: the 5 MB buffer is mmapped
    assert _run({**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}) == "False True"


def test_off_linux_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert keep_large_allocations() is False
