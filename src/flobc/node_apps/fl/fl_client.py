"""The trainer's view of the validators' wire API (``/v1/models``, ``/v1/updates``, ...),
with failover across validators in a fixed order."""

from __future__ import annotations

from typing import Any

import aiohttp
import numpy as np

from flobc.chain.types import SignedTx
from flobc.node.api import TxSubmission
from flobc.node_apps.fl.attacks import LedgerView, TrainerAttack, visible_updates
from flobc.node_apps.fl.trainer_core import as_vector


class FLClient:
    """The trainer's view of the validators' wire API, with failover in a fixed order."""

    def __init__(self, urls: list[str], session: aiohttp.ClientSession, subnet: str | None = None):
        self.urls = urls
        self.session = session
        self.current = 0
        #: every read names this model subnetwork (None: the only one)
        self.subnet = subnet

    async def _get(self, path: str) -> aiohttp.ClientResponse:
        if self.subnet is not None:
            path += ("&" if "?" in path else "?") + f"subnet={self.subnet}"
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
        from flobc.ml.weights import from_safetensors, weights_hash

        async with await self._get(f"/v1/models/{version}/weights") as resp:
            resp.raise_for_status()
            vec, _spec = from_safetensors(await resp.read())
        if weights_hash(vec).hex() != expected_hash:
            raise ValueError(f"weights of version {version} do not match hash {expected_hash}")
        return vec

    async def delta(self, update_id: str) -> np.ndarray | None:
        """An update's Δ (``GET /v1/updates/{id}/delta``), None if the node lacks it."""
        async with await self._get(f"/v1/updates/{update_id}/delta") as resp:
            if resp.status == 404:
                return None
            resp.raise_for_status()
            data = await resp.read()
            return as_vector(data)

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
