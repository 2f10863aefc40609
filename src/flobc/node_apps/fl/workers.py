"""FL work off the consensus path, for real processes over HTTP.

* :func:`attach_evaluator` — in a validator process: every committed update is scored in
  a worker thread (never on the event loop, so consensus never waits on ML), ahead of its
  commit when it is pending here while a block is decided
  (:func:`~flobc.node_apps.fl.pending.tasks_ahead`), and the validator's signed vote goes
  back through its own mempool (ballots scored while other updates are pending here wait
  to go with theirs: :mod:`~flobc.node_apps.fl.ballot_hold`); a released version is
  prepared (its base outputs, reference step) in that thread while trainers train.
* :func:`run_trainer` — a trainer process: pull the latest model, train, upload the update,
  following the synchronisation scheme (:mod:`flobc.algorithms.sync`), with failover
  across validators.

Both run the sans-I/O role cores of :mod:`flobc.roles`, as the simulator does; this module
only carries out their effects (HTTP reads and uploads, training and scoring in workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Any

import aiohttp

from flobc.app.abci import BlockResult
from flobc.app.fl.composite import fl_app
from flobc.app.fl.txs import MAX_BALLOTS, UPDATE, tx_kind, vote_tx
from flobc.chain.types import Block, SignedTx
from flobc.crypto.keys import KeyPair
from flobc.encoding import decode, sha256
from flobc.node.api import TxSubmission
from flobc.node.events import VersionWaiter
from flobc.node.http_runtime import HttpRuntime
from flobc.node.validator import ValidatorNode
from flobc.node_apps.fl.ballot_hold import BallotHold
from flobc.node_apps.fl.evaluator import Evaluator, release_since
from flobc.node_apps.fl.fl_client import FLClient
from flobc.node_apps.fl.pending import tasks_ahead, updates_pending
from flobc.node_apps.fl.settings import FLRunConfig
from flobc.node_apps.fl.trainer_core import TrainerCore, follows_round, scheme_policy
from flobc.roles import evaluator as evaluator_role
from flobc.roles.effects import (
    BuildUpdate,
    Evaluate,
    EvaluatorEffect,
    EvaluatorInput,
    Failed,
    FetchModel,
    FetchPrivacySpent,
    FetchView,
    LedgerRead,
    ModelFetched,
    Prepare,
    PrivacySpent,
    ReadTasks,
    ResumePrivacy,
    Stop,
    Submit,
    Submitted,
    SubmitVotes,
    TasksRead,
    Train,
    TrainerEffect,
    TrainerInput,
    UpdatesCommitted,
    VersionReleased,
    ViewFetched,
    Wait,
)
from flobc.roles.trainer import Trainer

#: Evaluation-loop input: updates are pending at this validator; score them ahead.
AHEAD = "ahead"
#: Seconds a waiting trainer re-reads the round anyway while its event stream is up.
PUSH_FALLBACK_S = 2.0
#: Seconds between two wakes by ``block`` events, for schemes that follow the round.
BLOCK_WAKE_GAP_S = 0.2

log = logging.getLogger("flobc.fl")


def attach_evaluator(
    runtime: HttpRuntime[ValidatorNode],
    cfg: FLRunConfig,
    index: int,
    key: KeyPair,
    subnet: str | None = None,
) -> None:
    """Make this validator vote on every committed update (see the module docstring) of
    model subnetwork ``subnet`` (None: the only one), as its validator ``index``."""
    node = runtime.process
    kind = tx_kind(UPDATE, subnet)
    where = {} if subnet is None else {"subnet": subnet}
    evaluator = Evaluator(cfg, index)
    # the ledger spells a voter by its index in the (sub)network's validator set
    me = str(node.me) if subnet is None else str(index)
    role = evaluator_role.Evaluator(me, MAX_BALLOTS)
    # None: flush held ballots; AHEAD: score the updates pending here
    queue: asyncio.Queue[EvaluatorInput | str | None] = asyncio.Queue()
    released = [0]  # versions seen; the latest is prepared when the loop starts
    hold = BallotHold()

    def on_commit(block: Block, result: BlockResult, now_ms: int) -> list[Any]:
        ids = tuple(
            sha256(raw)
            for raw, res in zip(block.txs, result.tx_results, strict=True)
            if res.code == 0 and decode(raw, SignedTx).kind == kind
        )
        if ids:
            queue.put_nowait(UpdatesCommitted(ids))
        release = _released(node.app, subnet, released)
        if release is not None:
            queue.put_nowait(release)
        pending = updates_pending(node, kind)
        if hold.held and hold.due(pending, time.monotonic()):
            queue.put_nowait(None)
        if pending:
            queue.put_nowait(AHEAD)
        return []

    async def submit(
        bodies: tuple[Any, ...], k: int, held: int, seconds: float, now: int = 0
    ) -> None:
        """Send one vote tx; its log line counts the ballots of the batch just done
        (``held`` others were scored earlier), that batch's ``seconds`` and how many of its
        updates it scored then (``now``: the others were scored ahead)."""
        tx = vote_tx(node.chain_id, key, bodies, time.time_ns() // 1000, subnet)
        if k == 0:
            check = await runtime.call(lambda n, now: n.submit_tx(tx.encoded(), [], now))
            outcome = "ok" if check.ok else check.message
        else:  # an equivocating validator's second ballots go to a peer
            outcome = await _send_to_peer(runtime, tx)
        last = bodies[-1]
        log.info(
            "voted on %s: %d ballot(s) in one tx, score %.4f (base %.4f) in %.2fs (%d scored): "
            "%s%s",
            last.update_id.hex()[:12],
            len(bodies) - held,
            last.score,
            last.base_score,
            seconds,
            now,
            outcome,
            f", with {held} held ballot(s)" if held else "",
        )

    node.commit_listeners.append(on_commit)
    started = [time.perf_counter()]  # when scoring of the batch began, for the log line
    scored = [0]  # of the batch's tasks, how many were scored then (not ahead), for the log

    async def run(rt: HttpRuntime[ValidatorNode], eff: EvaluatorEffect) -> list[EvaluatorEffect]:
        if isinstance(eff, ReadTasks):
            uids = [u.hex() for u in eff.ids]
            docs = await rt.call(
                lambda n, now: (
                    tuple(n.app.query("evaluation", {"id": u, **where}) for u in uids),
                    [],
                )
            )
            return role.handle(TasksRead(docs))
        if isinstance(eff, Evaluate | Prepare):
            if isinstance(eff, Prepare):
                hashes = [h for h in (eff.base, eff.previous) if h]
            else:
                fresh = [t for t in eff.tasks if not evaluator.knows(t)]  # not scored ahead
                hashes = sorted({h for task in fresh for h in task.blobs})
            blobs = await rt.call(
                lambda n, now: ({h: n.blobs.get(bytes.fromhex(h)) for h in hashes}, [])
            )
            started[0] = time.perf_counter()
            if isinstance(eff, Evaluate):
                evaluated = await rt.run_in_worker(evaluator.perform, eff, blobs.get)
                scored[0] = evaluator.last_scored
                return role.handle(evaluated)
            await rt.run_in_worker(evaluator.prepare, eff, blobs.get)
            log.info(
                "prepared version %d (%d local steps) in %.2fs",
                eff.version,
                eff.local_steps,
                time.perf_counter() - started[0],
            )
            return []
        assert isinstance(eff, SubmitVotes)
        seconds = time.perf_counter() - started[0]
        if eff.k != 0:  # a Byzantine validator's conflicting ballots are never held
            await submit(eff.bodies, eff.k, 0, seconds, scored[0])
            return []
        pending = await rt.call(lambda n, now: (updates_pending(n, kind), []))
        txs = hold.offer(eff.bodies, pending, time.monotonic())
        if not txs:
            last = eff.bodies[-1]
            log.info(
                "voted on %s: %d ballot(s), score %.4f (base %.4f) in %.2fs (%d scored): held "
                "while updates are pending here",
                last.update_id.hex()[:12],
                len(eff.bodies),
                last.score,
                last.base_score,
                seconds,
                scored[0],
            )
        new = {b.update_id for b in eff.bodies}
        for k, bodies in enumerate(txs):  # held ballots first: this batch's are in the last
            last = k == len(txs) - 1
            held = sum(b.update_id not in new for b in bodies)
            await submit(bodies, 0, held, *((seconds, scored[0]) if last else (0.0, 0)))
        return []

    async def score_ahead(rt: HttpRuntime[ValidatorNode]) -> None:
        """Score the updates pending in this validator's mempool (the next block's) while
        that block is decided: the ``Evaluate`` of their commit then finds the bodies
        computed (:meth:`Evaluator.evaluate_many` remembers them). Only the timing moves:
        a task guessed differently from the ledger's is simply scored again."""
        tasks, blobs = await rt.call(
            lambda n, now: (tasks_ahead(n, kind, where, skip=evaluator.knows), [])
        )
        if tasks:
            t0 = time.perf_counter()
            await rt.run_in_worker(evaluator.evaluate_many, tasks, blobs.__getitem__)
            log.info(
                "scored %d pending update(s) ahead in %.2fs", len(tasks), time.perf_counter() - t0
            )

    async def evaluation_loop(rt: HttpRuntime[ValidatorNode]) -> None:
        pending = await rt.call(
            lambda n, now: (n.app.query("unvoted", {"validator": me, **where}), [])
        )
        start = await rt.call(lambda n, now: (_released(n.app, subnet, released), []))
        if start is not None:
            queue.put_nowait(start)
        queue.put_nowait(UpdatesCommitted(tuple(bytes.fromhex(uid) for uid in pending)))
        while True:
            events = [await queue.get()]
            while not queue.empty():  # what committed meanwhile joins the batch
                events.append(queue.get_nowait())
            ids = tuple(i for e in events if isinstance(e, UpdatesCommitted) for i in e.ids)
            releases = [e for e in events if isinstance(e, VersionReleased)]
            effects = role.handle(releases[-1]) if releases else []
            effects += role.handle(UpdatesCommitted(ids)) if ids else []
            while effects:
                effects = [*effects[1:], *(await run(rt, effects[0]))]
            if any(e is AHEAD for e in events):
                await score_ahead(rt)
            if hold.held and any(e is None for e in events):  # a commit found them due
                waiting = await rt.call(lambda n, now: (updates_pending(n, kind), []))
                if hold.due(waiting, time.monotonic()):
                    n_held = len(hold.held)
                    for bodies in hold.flush():
                        await submit(bodies, 0, len(bodies), 0.0)
                    log.debug("sent %d held ballot(s)", n_held)

    runtime.background.append(evaluation_loop)


def _released(app: Any, subnet: str | None, seen: list[int]) -> VersionReleased | None:
    """The latest model version of ``app`` (its subnetwork ``subnet``) if the ledger holds
    more than ``seen[0]`` versions (then ``seen`` moves on), else None."""
    versions = fl_app(app, subnet).state.versions
    release = release_since(versions, seen[0])
    seen[0] = len(versions)
    return release


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


async def run_trainer(
    cfg: FLRunConfig,
    index: int,
    key: KeyPair,
    chain_id: str,
    urls: list[str],
    *,
    poll_s: float = 0.2,
    subnet: str | None = None,
) -> None:
    """Train forever (until cancelled) as trainer ``index`` (of model subnetwork
    ``subnet``); with ``[privacy]``, until the privacy budget is spent (then it logs why
    and returns)."""
    core = await asyncio.to_thread(TrainerCore, cfg, index, key, chain_id, subnet)
    order = [urls[(index + k) % len(urls)] for k in range(len(urls))]  # spread + failover
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        waiter = version_waiter(cfg, session, order)
        waiter.start()
        try:
            client = FLClient(order, session, subnet)
            trainer = HttpTrainer(core, client, cfg.speed_of(index), waiter)
            await trainer.loop(poll_s)
        finally:
            await waiter.close()


def version_waiter(
    cfg: FLRunConfig, session: aiohttp.ClientSession, urls: list[str]
) -> VersionWaiter:
    """The trainer's wake-up: new versions are pushed, not polled. ``block`` events wake it
    only when the sync scheme acts on the round's state (an SSP extension); under the other
    schemes each would cost every trainer a read of an unchanged ledger."""
    gap = BLOCK_WAKE_GAP_S if follows_round(cfg) else math.inf
    return VersionWaiter(session, urls, block_gap_s=gap)


class HttpTrainer:
    """Runs the effects of a :class:`~flobc.roles.trainer.Trainer` core over HTTP: ledger
    reads and uploads with :class:`FLClient`, training in a worker thread."""

    def __init__(
        self,
        core: TrainerCore,
        client: FLClient,
        speed: float,
        waiter: VersionWaiter | None = None,
    ):
        self.core = core
        self.client = client
        self.speed = speed
        self.waiter = waiter  # None: poll every ``poll_s`` while waiting
        self.role = Trainer(
            scheme_policy(core.cfg), wants_view=core.wants_view, private=core.private
        )
        self._t0 = 0.0
        self._extended = False  # the round as last read: extended (SSP)?
        #: read ``/v1/round`` at all? Only schemes that act on an extension need it.
        self.follow_round = follows_round(core.cfg)

    async def loop(self, poll_s: float) -> None:
        waited = True  # the ledger is read first, and again after every wait
        while self.role.stopped is None:
            if not waited and self._pushed():
                # A cycle that ended in an upload: the ledger can only hold news a
                # version event announces (kept if it came meanwhile), so wait for one.
                await self._wait(poll_s)
            waited = False
            try:
                latest = await self.client.json("/v1/models/latest")
                if self.follow_round:
                    self._extended = await self._round_extended()
            except (ConnectionError, aiohttp.ClientError) as exc:
                log.warning("waiting for a validator: %s", exc)
                await asyncio.sleep(1.0)
                waited = True
                continue
            read = LedgerRead(latest["version"], latest["hash"], self._extended)
            effects = self.role.handle(read)
            while effects:
                if isinstance(effects[0], Wait):
                    await self._wait(poll_s)
                    waited = True
                effects = [*effects[1:], *(await self._run(effects[0]))]

    def _pushed(self) -> bool:
        """Whether new versions reach this trainer by push alone: its event stream is up
        and its scheme does not act on the open round (SSP re-reads it)."""
        return self.waiter is not None and self.waiter.connected and not self.follow_round

    async def _round_extended(self) -> bool:
        return (await self.client.json("/v1/round")).get("extension_until_ms") is not None

    async def _wait(self, poll_s: float) -> None:
        """Until the validator pushes a new version (or a rate-limited block), or the
        fallback re-read is due; plain polling while the event stream is down."""
        if self.waiter is None:
            await asyncio.sleep(poll_s)
        else:
            await self.waiter.wait(PUSH_FALLBACK_S if self.waiter.connected else poll_s)

    async def _run(self, eff: TrainerEffect) -> list[TrainerEffect]:
        core = self.core
        result: TrainerInput
        if isinstance(eff, Train):
            self._t0 = time.perf_counter()
            result = await asyncio.to_thread(core.execute, eff)
            if self.speed > 1.0:  # the paper's heterogeneous pace: a slower machine
                await asyncio.sleep((self.speed - 1.0) * (time.perf_counter() - self._t0))
        elif isinstance(eff, BuildUpdate):
            nonce = time.time_ns() // 1000
            result = await asyncio.to_thread(core.execute, eff, nonce=nonce)
        elif isinstance(eff, ResumePrivacy):
            result = core.execute(eff)
        elif isinstance(eff, FetchPrivacySpent | FetchModel | FetchView | Submit):
            try:
                result = await self._io(eff)
            except (ConnectionError, TimeoutError, aiohttp.ClientError, ValueError) as exc:
                log.warning("trainer %d: %s failed: %s", core.index, type(eff).__name__, exc)
                result = Failed(str(exc))
        else:
            if isinstance(eff, Stop):
                log.error("trainer %d stops: %s", core.index, eff.reason)
            return []
        return self.role.handle(result)

    async def _io(self, eff: FetchPrivacySpent | FetchModel | FetchView | Submit) -> TrainerInput:
        if isinstance(eff, FetchPrivacySpent):
            doc = await self.client.json("/v1/trainers")
            return PrivacySpent.from_trainers(doc, self.core.key.public_key.hex())
        if isinstance(eff, FetchModel):
            return ModelFetched(
                eff.version, await self.client.weights(eff.version, eff.weights_hash)
            )
        if isinstance(eff, FetchView):
            return ViewFetched(await self.client.ledger_view(self.core.attack, eff.version))
        return await self._submit(eff)

    async def _submit(self, eff: Submit) -> Submitted:
        status, answer = await self.client.upload(eff.tx, eff.blob)
        extended = self._extended  # the round as last read, if it cannot be read now
        if self.follow_round:
            with contextlib.suppress(ConnectionError, TimeoutError, aiohttp.ClientError):
                extended = await self._round_extended()
        log.info(
            "version %d: trained %.2fs (loss %.4f), upload -> %d %s",
            eff.version,
            time.perf_counter() - self._t0,
            self.core.last_stats.get("loss", float("nan")),
            status,
            answer.get("error", "accepted"),
        )
        return Submitted(status < 300, str(answer.get("error", "")), extended)
