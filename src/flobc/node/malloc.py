"""Keep the memory of large buffers inside the process (glibc ``mallopt``).

A node handles multi-megabyte buffers (model updates, blocks, batches): each is copied a
few times between the socket, the websocket frame, MessagePack and the blob store. By
default glibc serves such allocations with a fresh ``mmap`` and gives the pages back on
``free``, so every copy of a 5 MB update also pays ~1,200 page faults: on the reference
VM a 5 MB copy took 6-8 ms that way and 0.2-0.4 ms with the pages kept. Raising the
mmap and trim thresholds keeps freed large blocks in the heap for reuse; the price is a
resident size that stays at its high-water mark (bounded by the trim threshold).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

logger = logging.getLogger("flobc.node")

#: ``mallopt`` parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: glibc's ceiling for the mmap threshold on 64-bit systems
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 256 * 1024 * 1024
#: set in the environment, these mean the operator tuned malloc already: leave it be
_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def keep_large_allocations() -> bool:
    """Raise glibc's mmap and trim thresholds; True if applied, False where this is not
    glibc on Linux or the environment already tunes malloc."""
    if not sys.platform.startswith("linux") or any(k in os.environ for k in _ENV):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    if not ok:
        logger.warning("mallopt refused the large-allocation thresholds")
    return ok
