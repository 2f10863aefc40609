"""Watch a running FL network from the outside, as any client would: fetch each model
version from every validator, check they agree, and score it on the held-out test set."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from flobc.node_apps.fl.settings import FLRunConfig
from flobc.node_apps.fl.trainer_core import make_learner, test_data


def get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


def get_json(url: str, timeout: float = 5.0) -> Any:
    return json.loads(get(url, timeout))


class NotReached(TimeoutError):
    """:meth:`Watcher.follow` ran past its deadline (a network timeout is another error)."""


@dataclass
class VersionRecord:
    """One released model version as the report shows it."""

    version: int
    accuracy: float
    hashes: dict[str, str | None]  # validator name -> weights hash it serves
    accepted: int
    rejected: int
    reason: str
    round_ms: int  # block time from the previous version to this one
    wall_s: float  # when the watcher saw it, seconds since the watch began
    scores: dict[str, float]
    updates: list[str] = field(default_factory=list)
    #: every validator that answered reported the same trust scores for this version
    scores_agree: bool = True

    @property
    def agreed(self) -> bool:
        """Every validator served this version with the same weights hash and trust scores."""
        hashes = set(self.hashes.values())
        return len(hashes) == 1 and None not in hashes and self.scores_agree


class Watcher:
    """Polls validators (``name -> base URL``) and records every new model version."""

    def __init__(self, cfg: FLRunConfig, validators: dict[str, str], subnet: str | None = None):
        self.cfg = cfg
        self.validators = validators
        #: the model subnetwork watched (None: the only one); ``cfg`` is its configuration
        self.subnet = subnet
        self._q = "" if subnet is None else f"?subnet={subnet}"
        self.learner = make_learner(cfg, cfg.seed)
        self.test = test_data(cfg)
        self.records: list[VersionRecord] = []
        self.started = time.monotonic()
        self._last_time_ms: int | None = None
        self.last_trainers: list[dict[str, Any]] = []

    def _any(self, path: str) -> Any:
        for url in self.validators.values():
            try:
                return get_json(url + path)
            except (urllib.error.URLError, OSError, ValueError):
                continue
        raise ConnectionError("no validator answers")

    def latest_version(self) -> int:
        return int(self._any("/v1/models/latest" + self._q)["version"])

    def trainers(self) -> list[dict[str, Any]]:
        """Every trainer's trust score and counts (also kept in ``last_trainers``)."""
        self.last_trainers: list[dict[str, Any]] = self._any("/v1/trainers" + self._q)
        return self.last_trainers

    def record(self, version: int) -> VersionRecord:
        """Fetch ``version`` from every validator, check the weights, score it on the test set."""
        docs: dict[str, dict[str, Any] | None] = {}
        for name, url in self.validators.items():
            try:
                docs[name] = get_json(f"{url}/v1/models/{version}{self._q}")
            except (urllib.error.URLError, OSError, ValueError):
                docs[name] = None
        doc = next(d for d in docs.values() if d is not None)
        from flobc.ml.weights import from_safetensors, weights_hash

        vec = None
        for url in self.validators.values():
            try:
                raw = get(f"{url}/v1/models/{version}/weights{self._q}", 30)
                vec, _ = from_safetensors(raw)
                break
            except (urllib.error.URLError, OSError):
                continue
        assert vec is not None, "no validator served the weights"
        if weights_hash(vec).hex() != doc["hash"]:
            raise ValueError(f"version {version}: served weights do not match the ledger hash")
        self.learner.set_weights(vec)
        acc = float(self.learner.evaluate(self.test.x, self.test.y, self.cfg.training.metric))
        prev = self._last_time_ms if self._last_time_ms is not None else doc["time_ms"]
        self._last_time_ms = doc["time_ms"]
        rec = VersionRecord(
            version=version,
            accuracy=acc,
            hashes={n: (d["hash"] if d else None) for n, d in docs.items()},
            accepted=doc["accepted"],
            rejected=doc["rejected"],
            reason=doc["reason"],
            round_ms=doc["time_ms"] - prev,
            wall_s=round(time.monotonic() - self.started, 3),
            scores=doc["scores"],
            updates=doc["updates"],
        )
        self.records.append(rec)
        return rec

    def poll(self) -> list[VersionRecord]:
        """Record every version released since the last call."""
        latest = self.latest_version()
        done = self.records[-1].version if self.records else -1
        return [self.record(v) for v in range(done + 1, latest + 1)]

    def follow(
        self,
        version: int,
        deadline: float,
        *,
        poll_s: float = 0.2,
        on_new: Callable[[list[VersionRecord]], None] | None = None,
        enough: Callable[[Watcher], bool] | None = None,
    ) -> None:
        """Poll until ``version`` is recorded (and ``enough(self)``, when given); call
        ``on_new`` with each batch of new records. Raises :class:`NotReached` past
        ``deadline`` (a :func:`time.monotonic` time)."""
        while True:
            new = self.poll()
            if new and on_new is not None:
                on_new(new)
            if self.records[-1].version >= version and (enough is None or enough(self)):
                return
            if time.monotonic() > deadline:
                raise NotReached(f"not {version} model versions in time")
            time.sleep(poll_s)

    def as_json(self) -> list[dict[str, Any]]:
        return [asdict(r) | {"agreed": r.agreed} for r in self.records]
