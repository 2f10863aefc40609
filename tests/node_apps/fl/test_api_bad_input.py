"""Over real HTTP: bad uploads get a 4xx with a JSON message and change nothing."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from flobc.app.fl.txs import UpdateBody, update_tx
from flobc.chain.types import SignedTx
from flobc.crypto.keys import KeyPair
from flobc.encoding import encode, sha256
from flobc.node.api import MAX_SUBMISSION_BYTES, TxSubmission
from flobc.orchestration import processes as net
from flobc.orchestration.fl_setup import fl_network_args
from flobc.orchestration.netdir import create_network, list_nodes
from flobc.sim.fl_fixtures import tiny_config

pytestmark = [pytest.mark.processes, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    netdir = tmp_path_factory.mktemp("fl-api") / "net"
    cfg = tiny_config(**{"network.validators": 1, "network.trainers": 1, "sync.period_s": 1})
    genesis = create_network(netdir, validators=1, trainers=1, **fl_network_args(None, cfg=cfg))
    try:
        rows = net.up(netdir, validators_only=True, timeout=60)
        assert rows[0].state == net.READY, rows[0].state
        url = list_nodes(netdir)[0].url
        key = KeyPair.load(netdir / "trainer-0" / "node_key.json")
        size = genesis.app_state["fl"]["model"]["size"]
        yield {"url": url, "key": key, "chain": genesis.chain_id, "size": size}
    finally:
        net.down(netdir)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url + "/v1/updates", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def upload(
    w: dict[str, Any],
    blob: bytes,
    *,
    key: KeyPair | None = None,
    nonce: int,
    base: int | None = None,
    tx: SignedTx | None = None,
) -> tuple[int, dict[str, Any]]:
    if tx is None:
        version = get(w["url"] + "/v1/models/latest")["version"] if base is None else base
        body = UpdateBody(version, sha256(blob), 10)
        tx = update_tx(w["chain"], key or w["key"], body, nonce)
    return post(w["url"], encode(TxSubmission(tx.encoded(), [blob])))


def snapshot(w: dict[str, Any]) -> Any:
    trainers = get(w["url"] + "/v1/trainers")
    return [(t["submitted"], t["accepted"], t["rejected"]) for t in trainers], get(
        w["url"] + "/v1/status"
    )["mempool"]


def vec(w: dict[str, Any], value: float = 0.01, n: int | None = None) -> bytes:
    return np.full(n or w["size"], value, dtype="<f4").tobytes()


def test_bad_uploads_get_4xx_json_and_change_nothing(network: dict[str, Any]) -> None:
    w = network
    time.sleep(2.5)  # a few empty BSP rounds: version >= 2, so base 0 is stale
    before = snapshot(w)
    cases = {
        "wrong shape": (upload(w, vec(w, n=w["size"] - 1), nonce=1), 422, "values"),
        "NaN values": (upload(w, vec(w, float("nan")), nonce=2), 422, "NaN"),
        "unregistered key": (upload(w, vec(w), key=KeyPair.generate(), nonce=3), 403, "regist"),
        "stale base": (upload(w, vec(w), nonce=4, base=0), 409, "stale"),
    }
    good_blob = vec(w)
    body = UpdateBody(get(w["url"] + "/v1/models/latest")["version"], sha256(good_blob), 10)
    forged = update_tx(w["chain"], w["key"], body, 5)
    forged = SignedTx(forged.kind, forged.body, forged.signer, forged.nonce, b"\x00" * 64)
    cases["bad signature"] = (upload(w, good_blob, nonce=5, tx=forged), 401, "signature")
    cases["malformed"] = (post(w["url"], b"\xc1 not msgpack"), 400, "")
    cases["oversized"] = (post(w["url"], b"\x00" * (MAX_SUBMISSION_BYTES + 1)), 413, "")
    for name, ((status, doc), expected, words) in cases.items():
        assert status == expected, (name, status, doc)
        assert isinstance(doc.get("error"), str) and words in doc["error"], (name, doc)
    assert snapshot(w) == before


def test_replays_are_refused(network: dict[str, Any]) -> None:
    w = network
    blob = vec(w)
    body = UpdateBody(get(w["url"] + "/v1/models/latest")["version"], sha256(blob), 10)
    tx = update_tx(w["chain"], w["key"], body, 10**12)
    status, doc = upload(w, blob, nonce=0, tx=tx)
    assert status == 202, doc
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            get(f"{w['url']}/v1/txs/{doc['hash']}")
            break
        except urllib.error.HTTPError:
            time.sleep(0.05)
    status, again = upload(w, blob, nonce=0, tx=tx)  # the same transaction again
    assert status == 409 and "duplicate" in again["error"], again
    status, doc = upload(w, blob, nonce=10**12 - 1)  # an older nonce
    assert status == 409 and "nonce" in doc["error"], doc
