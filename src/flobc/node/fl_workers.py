"""FL work off the consensus path, for real processes over HTTP.

* :func:`attach_evaluator` — in a validator process: every committed update is scored in
  a worker thread (never on the event loop, so consensus never waits on ML) and the
  validator's signed vote goes back through its own mempool.
* :func:`run_trainer` — a trainer process: pull the latest model, train, upload the update,
  following the synchronisation scheme (:mod:`flobc.node.trainer_policy`), with failover
  across validators.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import numpy as np

from flobc.app.abci import BlockResult
from flobc.app.fl.txs import UPDATE, vote_tx
from flobc.chain.types import Block, SignedTx
from flobc.crypto.keys import KeyPair
from flobc.encoding import decode, sha256
from flobc.node.api import TxSubmission
from flobc.node.events import VersionWaiter
from flobc.node.fl_attacks import LedgerView, TrainerAttack, visible_updates
from flobc.node.fl_evaluator import EvaluationTask, Evaluator
from flobc.node.fl_roles import TrainerCore
from flobc.node.fl_settings import FLRunConfig
from flobc.node.http_runtime import HttpRuntime
from flobc.node.privacy import BudgetSpent
from flobc.node.trainer_policy import TrainerView, next_work
from flobc.node.validator import ValidatorNode

#: Seconds a waiting trainer re-reads the round anyway while its event stream is up.
PUSH_FALLBACK_S = 2.0

log = logging.getLogger("flobc.fl")


def attach_evaluator(
    runtime: HttpRuntime[ValidatorNode], cfg: FLRunConfig, index: int, key: KeyPair
) -> None:
    """Make this validator vote on every committed update (see the module docstring)."""
    node = runtime.process
    evaluator = Evaluator(cfg, index)
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    def on_commit(block: Block, result: BlockResult, now_ms: int) -> list[Any]:
        for raw, res in zip(block.txs, result.tx_results, strict=True):
            if res.code == 0 and decode(raw, SignedTx).kind == UPDATE:
                queue.put_nowait(sha256(raw))
        return []

    node.commit_listeners.append(on_commit)
    me = str(node.me)

    def job(n: ValidatorNode, now: int, uid: bytes) -> tuple[Any, list[Any]]:
        doc = n.app.query("evaluation", {"id": uid.hex()})
        if doc is None or me in doc["voted"]:
            return None, []
        task = EvaluationTask.from_query(doc)
        hashes = [task.base, task.delta] + ([task.previous] if task.previous else [])
        blobs = {h: n.blobs.get(bytes.fromhex(h)) for h in hashes}
        return (task, blobs), []

    async def evaluation_loop(rt: HttpRuntime[ValidatorNode]) -> None:
        pending = await rt.call(lambda n, now: (n.app.query("unvoted", {"validator": me}), []))
        for uid in pending:
            queue.put_nowait(bytes.fromhex(uid))
        while True:
            uid = await queue.get()
            found = await rt.call(lambda n, now, uid=uid: job(n, now, uid))
            if found is None or None in found[1].values():
                continue
            task, blobs = found
            started = time.perf_counter()
            bodies = await rt.run_in_worker(evaluator.votes, task, blobs.__getitem__)
            for k, body in enumerate(bodies):
                tx = vote_tx(node.chain_id, key, body, time.time_ns() // 1000)
                if k == 0:
                    check = await rt.call(lambda n, now, tx=tx: n.submit_tx(tx.encoded(), [], now))
                    outcome = "ok" if check.ok else check.message
                else:  # an equivocating validator's second vote goes to a peer
                    outcome = await _send_to_peer(rt, tx)
                log.info(
                    "voted on %s: score %.4f (base %.4f) in %.2fs: %s",
                    uid.hex()[:12],
                    body.score,
                    body.base_score,
                    time.perf_counter() - started,
                    outcome,
                )

    runtime.background.append(evaluation_loop)


async def _send_to_peer(rt: HttpRuntime[ValidatorNode], tx: SignedTx) -> str:
    """POST ``tx`` to the first peer validator; the outcome as a log word."""
    from flobc.encoding import encode

    for url in sorted(rt.peers.values()):
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
                session.post(url + "/v1/txs", data=encode(TxSubmission(tx.encoded(), []))) as r,
            ):
                return f"sent to {url}: {r.status}"
        except (TimeoutError, aiohttp.ClientError) as exc:
            return f"peer {url} unreachable: {exc}"
    return "no peer"


class FLClient:
    """The trainer's view of the validators' wire API, with failover in a fixed order."""

    def __init__(self, urls: list[str], session: aiohttp.ClientSession):
        self.urls = urls
        self.session = session
        self.current = 0

    async def _get(self, path: str) -> aiohttp.ClientResponse:
        for k in range(len(self.urls)):
            url = self.urls[(self.current + k) % len(self.urls)]
            try:
                resp = await self.session.get(url + path)
            except (TimeoutError, aiohttp.ClientError):
                continue
            self.current = (self.current + k) % len(self.urls)
            return resp
        raise ConnectionError("no validator is reachable")

    async def json(self, path: str) -> Any:
        async with await self._get(path) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def weights(self, version: int, expected_hash: str) -> np.ndarray:
        from flobc.ml.weights import from_safetensors

        async with await self._get(f"/v1/models/{version}/weights") as resp:
            resp.raise_for_status()
            vec, _spec = from_safetensors(await resp.read())
        if sha256(np.ascontiguousarray(vec, "<f4").tobytes()).hex() != expected_hash:
            raise ValueError(f"weights of version {version} do not match hash {expected_hash}")
        return vec

    async def delta(self, update_id: str) -> np.ndarray | None:
        """An update's Δ (``GET /v1/updates/{id}/delta``), None if the node lacks it."""
        async with await self._get(f"/v1/updates/{update_id}/delta") as resp:
            if resp.status == 404:
                return None
            resp.raise_for_status()
            return np.frombuffer(await resp.read(), dtype="<f4")

    async def ledger_view(self, attack: TrainerAttack | None, version: int) -> LedgerView | None:
        """What the ledger shows an attacker building on ``version`` (None if it asks for
        nothing); the same view the simulator builds in-process."""
        if attack is None or not (attack.wants_peers or attack.wants_previous):
            return None
        peers = []
        if attack.wants_peers:
            doc = await self.json("/v1/round?updates=1")
            for j, uid in visible_updates(doc, version):
                d = await self.delta(uid)
                if d is not None:
                    peers.append((j, d))
        previous = None
        if attack.wants_previous and version > 0:
            prev = await self.json(f"/v1/models/{version - 1}")
            previous = await self.weights(version - 1, prev["hash"])
        return LedgerView(tuple(peers), previous)

    async def upload(self, tx: SignedTx, blob: bytes) -> tuple[int, dict[str, Any]]:
        from flobc.encoding import encode

        body = encode(TxSubmission(tx.encoded(), [blob]))
        for k in range(len(self.urls)):
            url = self.urls[(self.current + k) % len(self.urls)]
            try:
                async with self.session.post(url + "/v1/updates", data=body) as resp:
                    return resp.status, await resp.json()
            except (TimeoutError, aiohttp.ClientError):
                continue
        raise ConnectionError("no validator is reachable")


async def run_trainer(
    cfg: FLRunConfig,
    index: int,
    key: KeyPair,
    chain_id: str,
    urls: list[str],
    *,
    poll_s: float = 0.2,
) -> None:
    """Train forever (until cancelled) as trainer ``index``; with ``[privacy]``, until the
    privacy budget is spent (then it logs why and returns)."""
    core = await asyncio.to_thread(TrainerCore, cfg, index, key, chain_id)
    try:
        await _train_loop(core, cfg, index, key, urls, poll_s)
    except BudgetSpent as exc:
        log.error("trainer %d stops: %s", index, exc)


async def _resume_privacy(client: FLClient, core: TrainerCore, key: KeyPair) -> None:
    """Continue the privacy accounting from the ledger (a restarted trainer's earlier
    updates are public and spent)."""
    assert core.privacy is not None
    for t in await client.json("/v1/trainers"):
        if t["public_key"] == key.public_key.hex():
            core.privacy.resume(int(t.get("dp_releases", 0)), float(t.get("epsilon", 0.0)))


async def _train_loop(
    core: TrainerCore, cfg: FLRunConfig, index: int, key: KeyPair, urls: list[str], poll_s: float
) -> None:
    order = [urls[(index + k) % len(urls)] for k in range(len(urls))]  # spread + failover
    speed = cfg.speed_of(index)
    s = cfg.sync
    trained, submitted, extra_done, in_extension, shares = -1, False, False, False, 0
    base: np.ndarray | None = None
    local: np.ndarray | None = None
    resumed = False
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = FLClient(order, session)
        waiter = VersionWaiter(session, order)  # new versions are pushed, not polled
        waiter.start()
        while True:
            try:
                if core.privacy is not None and not resumed:
                    await _resume_privacy(client, core, key)
                    resumed = True
                latest = await client.json("/v1/models/latest")
                rnd = await client.json("/v1/round")
            except (ConnectionError, aiohttp.ClientError) as exc:
                log.warning("waiting for a validator: %s", exc)
                await asyncio.sleep(1.0)
                continue
            work = next_work(
                TrainerView(
                    s.scheme,
                    latest["version"],
                    trained,
                    submitted,
                    extra_done,
                    rnd.get("extension_until_ms") is not None,
                    in_extension,
                ),
                ssp_extra_steps=s.ssp_max_extra_steps,
                share_every_steps=s.share_every_steps,
            )
            if work.kind == "wait":
                await waiter.wait(PUSH_FALLBACK_S if waiter.connected else poll_s)
                continue
            start = None
            if work.kind == "train_new":
                base = await client.weights(latest["version"], latest["hash"])
                trained, submitted, extra_done, in_extension, shares = (
                    latest["version"],
                    False,
                    False,
                    False,
                    0,
                )
            else:
                start, extra_done = local, True
            assert base is not None
            t0 = time.perf_counter()
            local, stats = await asyncio.to_thread(
                core.train, base, trained, steps=work.steps, start=start, rnd=shares
            )
            if speed > 1.0:  # the paper's heterogeneous pace: a slower machine
                await asyncio.sleep((speed - 1.0) * (time.perf_counter() - t0))
            view = await client.ledger_view(core.attack, trained)
            delta = await asyncio.to_thread(
                core.delta, base, local, version=trained, rnd=shares, view=view
            )
            tx, blob = core.upload(
                delta, trained, int(stats.get("steps", 0)), nonce=time.time_ns() // 1000
            )
            status, answer = await client.upload(tx, blob)
            if not submitted:
                in_extension = rnd.get("extension_until_ms") is not None
            submitted, shares = True, shares + 1
            log.info(
                "version %d: trained %.2fs (loss %.4f), upload -> %d %s",
                trained,
                time.perf_counter() - t0,
                stats.get("loss", float("nan")),
                status,
                answer.get("error", "accepted"),
            )
