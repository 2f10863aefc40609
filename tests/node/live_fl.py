"""A live FL network on loopback for API tests: start it, upload one real update, read JSON."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flobc.app.fl.txs import UpdateBody, update_tx
from flobc.crypto.keys import KeyPair
from flobc.encoding import encode, sha256
from flobc.node.api import TxSubmission
from flobc.orchestration import processes as net
from flobc.orchestration.fl_setup import fl_network_args
from flobc.orchestration.netdir import create_network, list_nodes
from flobc.sim.fl_fixtures import tiny_config


@dataclass
class LiveNet:
    netdir: Path
    urls: list[str]
    key: KeyPair  # trainer-0's key: its uploads are accepted
    chain: str
    size: int

    @property
    def url(self) -> str:
        return self.urls[0]


@contextlib.contextmanager
def live_fl_network(root: Path, validators: int = 1, period_s: float = 3) -> Iterator[LiveNet]:
    """Validators only (no trainer processes), one registered trainer whose key we hold.

    BSP waits for that trainer (up to 10 periods), so on a loaded machine an upload still
    gets every validator's vote before its round is forced to close.
    """
    netdir = root / "net"
    cfg = tiny_config(
        **{
            "network.validators": validators,
            "network.trainers": 1,
            "sync.period_s": period_s,
            "sync.wait_for_all": True,
        }
    )
    genesis = create_network(
        netdir, validators=validators, trainers=1, **fl_network_args(None, cfg=cfg)
    )
    try:
        rows = net.up(netdir, validators_only=True, timeout=60)
        assert all(r.state == net.READY for r in rows if r.entry.role == "validator"), rows
        urls = [e.url for e in list_nodes(netdir) if e.role == "validator"]
        key = KeyPair.load(netdir / "trainer-0" / "node_key.json")
        size = genesis.app_state["fl"]["model"]["size"]
        yield LiveNet(netdir, urls, key, genesis.chain_id, size)
    finally:
        net.down(netdir)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def _submit(w: LiveNet, nonce: int) -> str:
    blob = np.full(w.size, 0.001, dtype="<f4").tobytes()
    version = get(w.url + "/v1/models/latest")["version"]
    tx = update_tx(w.chain, w.key, UpdateBody(version, sha256(blob), 10), nonce)
    body = encode(TxSubmission(tx.encoded(), [blob]))
    req = urllib.request.Request(w.url + "/v1/updates", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 202
        return json.loads(resp.read())["hash"]


def upload_update(w: LiveNet) -> str:
    """Upload small real updates from trainer-0 until one is voted on (the validators'
    evaluators load lazily, so the first may go stale); return its id once the next version
    (which applies its trust effect) is out everywhere and the mempools are empty."""
    deadline = time.monotonic() + 150
    nonce, uid = 1, _submit(w, 1)
    decided_at, unknown_since = None, None
    while time.monotonic() < deadline:
        try:
            status = get(f"{w.url}/v1/updates/{uid}")["status"]
            unknown_since = None
        except urllib.error.HTTPError:  # not (or no longer) in the mempool nor the ledger
            unknown_since = unknown_since or time.monotonic()
            status = "stale" if time.monotonic() - unknown_since > 10 else "pending"
        with contextlib.suppress(urllib.error.HTTPError):
            if status == "stale":
                unknown_since = None
                nonce += 1
                uid = _submit(w, nonce)
            elif decided_at is None and status != "pending":
                decided_at = get(w.url + "/v1/models/latest")["version"]
            if (
                decided_at is not None
                and all(get(u + "/v1/models/latest")["version"] > decided_at for u in w.urls)
                and all(get(u + "/v1/status")["mempool"] == 0 for u in w.urls)
            ):
                return uid
        time.sleep(0.1)
    raise AssertionError(f"no update was voted on and released in 150 s (last {uid})")
