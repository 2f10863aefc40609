"""Uploads' blobs are fsynced off the event loop, and the upload is answered only after."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from flobc.app.abci import TxCheck
from flobc.chain.blobs import FileBlobStore
from flobc.encoding import encode, sha256
from flobc.node.api import TxSubmission
from flobc.node.api import routes as core_routes
from flobc.node.http_runtime import HttpRuntime
from flobc.node.process import Action
from flobc.node.sync_group import SyncGroup


class Uploads:
    """A process that admits every transaction and stores its blobs (as admission does)."""

    node_id = "n0"
    message_type = bytes

    def __init__(self, blobs: FileBlobStore) -> None:
        self.blobs = blobs
        self.admitted: list[bytes] = []

    def start(self, now_ms: int) -> list[Action]:
        return []

    def on_message(self, sender: str, msg: Any, now_ms: int) -> list[Action]:
        return []

    def on_timer(self, name: Hashable, now_ms: int) -> list[Action]:
        return []

    def submit_tx(self, raw: bytes, blobs: list[bytes], now_ms: int) -> tuple[TxCheck, list]:
        for b in blobs:
            self.blobs.put(b)
        self.admitted.append(raw)
        return TxCheck(), []

    def status(self) -> dict[str, Any]:
        return {"admitted": len(self.admitted)}


class GatedFsync:
    """``os.fsync`` that records what it synced (and on which thread) and blocks on the
    files under ``root`` until the gate opens."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.gate = threading.Event()
        self.synced: list[str] = []
        self.threads: set[int] = set()
        self._real = os.fsync

    def __call__(self, fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        if path.startswith(self.root):
            self.threads.add(threading.get_ident())
            assert self.gate.wait(10), "fsync gate never opened"
        self._real(fd)
        self.synced.append(path)


async def eventually(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_upload_is_answered_after_its_blob_is_fsynced_and_the_loop_stays_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    fsync = GatedFsync(tmp_path)
    monkeypatch.setattr(os, "fsync", fsync)
    proc = Uploads(store)
    rt = HttpRuntime(
        proc, {}, "127.0.0.1", 0, extra_routes=core_routes, durability=SyncGroup([store])
    )
    blob = b"an update" * 1000
    path = str(store.path(sha256(blob)))
    await rt.start()
    try:
        async with aiohttp.ClientSession() as http:

            async def post(body: bytes) -> tuple[int, dict[str, Any]]:
                async with http.post(f"{rt.url}/v1/txs", data=body) as resp:
                    return resp.status, await resp.json()

            upload: asyncio.Task[tuple[int, dict[str, Any]]] = asyncio.create_task(
                post(encode(TxSubmission(b"tx-1", [blob])))
            )
            await eventually(lambda: bool(proc.admitted))
            await eventually(lambda: bool(fsync.threads))  # the writer is in the blob's fsync
            # The loop is free meanwhile: another request is served.
            async with http.get(f"{rt.url}/v1/status") as resp:
                assert resp.status == 200
                assert (await resp.json()) == {"admitted": 1}
            assert store.get(sha256(blob)) == blob  # readable (whole) before it is durable
            await asyncio.sleep(0.05)
            assert not upload.done()  # not answered before the fsync
            assert path not in fsync.synced
            fsync.gate.set()
            status, doc = await asyncio.wait_for(upload, 10)
            assert status == 202 and doc["hash"] == sha256(b"tx-1").hex()
            # the file and the directory it was renamed into were fsynced, off the loop
            assert path in fsync.synced and str(Path(path).parent) in fsync.synced
            assert threading.get_ident() not in fsync.threads
    finally:
        fsync.gate.set()
        await rt.stop()


async def test_without_a_deferred_log_the_upload_is_durable_inline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    fsync = GatedFsync(tmp_path)
    fsync.gate.set()
    monkeypatch.setattr(os, "fsync", fsync)
    rt = HttpRuntime(Uploads(store), {}, "127.0.0.1", 0, extra_routes=core_routes)
    blob = b"another update"
    await rt.start()
    try:
        async with aiohttp.ClientSession() as http:
            body = encode(TxSubmission(b"tx-2", [blob]))
            async with http.post(f"{rt.url}/v1/txs", data=body) as resp:
                assert resp.status == 202
        dest = store.path(sha256(blob))
        tmp = str(store.root / "tmp" / sha256(blob).hex()[:16])
        assert any(p.startswith(tmp) for p in fsync.synced)  # fsynced before its rename
        assert str(dest.parent) in fsync.synced
        assert fsync.threads == {threading.get_ident()}  # the simulator's path: in line
    finally:
        await rt.stop()
