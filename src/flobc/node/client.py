"""Clients of the validator API (``/v1/status``, ``/v1/blocks``, ``/v1/txs``,
``/v1/tx-batches``).

:class:`ValidatorClient` is synchronous (``urllib``, no extra dependency),
:class:`AsyncValidatorClient` runs over one (possibly shared) ``aiohttp`` session, and
:class:`FailoverClient` / :class:`AsyncFailoverClient` move on to the next validator URL
when one cannot be reached. Errors: :class:`ApiRejected` (4xx, the node refused the
request), :class:`ServerError` (5xx) and :class:`NodeUnavailable` (connection refused,
reset or timed out).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import aiohttp

from flobc.chain.types import SignedTx, tx_hash
from flobc.encoding import encode

T = TypeVar("T")
MSGPACK = "application/msgpack"


class ClientError(Exception):
    """Base class of every error the clients raise."""


class NodeUnavailable(ClientError):
    """The node could not be reached (refused, reset, timed out)."""


class ApiError(ClientError):
    """The node answered with an HTTP error ``{"error": message}``."""

    def __init__(self, status: int, message: str, body: dict[str, Any] | None = None):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.body = body or {}


class ApiRejected(ApiError):
    """A 4xx: the node refused the request (bad tx, stale nonce, mempool full...)."""


class ServerError(ApiError):
    """A 5xx: the node failed or is stopping."""


@dataclass(frozen=True)
class TxStatus:
    """Where a transaction stands on one node."""

    state: Literal["committed", "pending", "unknown"]
    height: int | None = None
    index: int | None = None

    @property
    def committed(self) -> bool:
        return self.state == "committed"


def submission_body(raw: bytes, blobs: Sequence[bytes] = ()) -> bytes:
    """The msgpack body of ``POST /v1/txs``: ``[tx_bytes, [blob_bytes...]]``."""
    return encode([raw, list(blobs)])


@dataclass(frozen=True)
class TxResult:
    """One transaction of a batch submission: accepted, or refused with ``code``/``error``."""

    hash: str
    accepted: bool
    code: int | None = None
    error: str | None = None


#: A batch item: a signed transaction, its encoding, or either with the blobs it references.
BatchItem = SignedTx | bytes | tuple[SignedTx | bytes, Sequence[bytes]]


def batch_body(items: Sequence[BatchItem]) -> bytes:
    """The msgpack body of ``POST /v1/tx-batches``: ``[[tx_bytes, [blob_bytes...]], ...]``."""
    subs: list[list[Any]] = []
    for item in items:
        tx, blobs = item if isinstance(item, tuple) else (item, ())
        subs.append([tx.encoded() if isinstance(tx, SignedTx) else tx, list(blobs)])
    return encode(subs)


def _batch_results(body: dict[str, Any]) -> list[TxResult]:
    return [
        TxResult(r["hash"], r["status"] == "accepted", r.get("code"), r.get("error"))
        for r in body["results"]
    ]


def _error(status: int, text: bytes) -> ApiError:
    try:
        body = json.loads(text)
        message = str(body.get("error", text[:200]))
    except (ValueError, AttributeError):
        body, message = {}, text[:200].decode(errors="replace")
    cls = ApiRejected if status < 500 else ServerError
    return cls(status, message, body if isinstance(body, dict) else {})


def _tx_status(status: int, body: dict[str, Any]) -> TxStatus:
    if status == 200:
        return TxStatus("committed", int(body["height"]), int(body["index"]))
    return TxStatus("pending" if body.get("pending") else "unknown")


class _SyncWait:
    url: str

    def tx_status(self, hash_hex: str) -> TxStatus:
        raise NotImplementedError

    def wait_committed(self, hash_hex: str, timeout: float, poll_s: float = 0.01) -> TxStatus:
        """Poll until the transaction is committed; ``TimeoutError`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.tx_status(hash_hex)
            if st.committed:
                return st
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{hash_hex} not committed on {self.url} after {timeout}s")
            time.sleep(poll_s)


class _AsyncWait:
    url: str

    async def tx_status(self, hash_hex: str) -> TxStatus:
        raise NotImplementedError

    async def wait_committed(self, hash_hex: str, timeout: float, poll_s: float = 0.01) -> TxStatus:
        """Poll until the transaction is committed; ``TimeoutError`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            st = await self.tx_status(hash_hex)
            if st.committed:
                return st
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{hash_hex} not committed on {self.url} after {timeout}s")
            await asyncio.sleep(poll_s)


class ValidatorClient(_SyncWait):
    """Synchronous client of one validator's API (``url`` like ``http://127.0.0.1:26600``)."""

    def __init__(self, url: str, timeout: float = 5.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _request(
        self, method: str, path: str, body: bytes | None = None, ok404: bool = False
    ) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", MSGPACK)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            text = exc.read()
            err = _error(exc.code, text)
            if ok404 and exc.code == 404:
                return 404, err.body
            raise err from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise NodeUnavailable(f"{self.url}: {exc}") from exc

    def status(self) -> dict[str, Any]:
        """``GET /v1/status`` (height = last committed block)."""
        return self._request("GET", "/v1/status")[1]

    def height(self) -> int:
        return int(self.status()["height"])

    def block(self, height: int) -> dict[str, Any] | None:
        """The committed block at ``height`` as JSON, or None if there is none yet."""
        code, body = self._request("GET", f"/v1/blocks/{height}", ok404=True)
        return body if code == 200 else None

    def submit_raw(self, raw: bytes, blobs: Sequence[bytes] = ()) -> str:
        """Submit an encoded transaction; returns its hash (hex)."""
        return str(self._request("POST", "/v1/txs", submission_body(raw, blobs))[1]["hash"])

    def submit(self, tx: SignedTx, blobs: Sequence[bytes] = ()) -> str:
        """Submit a signed transaction; returns its hash (hex) or raises :class:`ApiRejected`."""
        return self.submit_raw(tx.encoded(), blobs)

    def submit_batch(self, items: Sequence[BatchItem]) -> list[TxResult]:
        """Submit up to 1,000 transactions in one request; one result each, in order. A
        malformed item raises :class:`ApiRejected` and nothing is admitted."""
        return _batch_results(self._request("POST", "/v1/tx-batches", batch_body(items))[1])

    def tx_status(self, hash_hex: str) -> TxStatus:
        return _tx_status(*self._request("GET", f"/v1/txs/{hash_hex}", ok404=True))


class AsyncValidatorClient(_AsyncWait):
    """Asynchronous client of one validator over an ``aiohttp`` session.

    Pass ``session`` to share one session (and its connection pool) among many clients;
    otherwise the client opens its own, closed by :meth:`close` / ``async with``.
    """

    def __init__(
        self, url: str, session: aiohttp.ClientSession | None = None, timeout: float = 5.0
    ):
        self.url = url.rstrip("/")
        self._session = session
        self._own = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __aenter__(self) -> AsyncValidatorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own and self._session is not None:
            await self._session.close()
            self._session = None

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _request(
        self, method: str, path: str, body: bytes | None = None, ok404: bool = False
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": MSGPACK} if body is not None else None
        try:
            async with self._sess().request(
                method, self.url + path, data=body, headers=headers, timeout=self._timeout
            ) as resp:
                text = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise NodeUnavailable(f"{self.url}: {exc!r}") from exc
        if status < 400:
            return status, json.loads(text)
        err = _error(status, text)
        if ok404 and status == 404:
            return 404, err.body
        raise err

    async def status(self) -> dict[str, Any]:
        return (await self._request("GET", "/v1/status"))[1]

    async def height(self) -> int:
        return int((await self.status())["height"])

    async def block(self, height: int) -> dict[str, Any] | None:
        code, body = await self._request("GET", f"/v1/blocks/{height}", ok404=True)
        return body if code == 200 else None

    async def submit_raw(self, raw: bytes, blobs: Sequence[bytes] = ()) -> str:
        _, body = await self._request("POST", "/v1/txs", submission_body(raw, blobs))
        return str(body["hash"])

    async def submit(self, tx: SignedTx, blobs: Sequence[bytes] = ()) -> str:
        return await self.submit_raw(tx.encoded(), blobs)

    async def submit_batch(self, items: Sequence[BatchItem]) -> list[TxResult]:
        """As :meth:`ValidatorClient.submit_batch`."""
        _, body = await self._request("POST", "/v1/tx-batches", batch_body(items))
        return _batch_results(body)

    async def tx_status(self, hash_hex: str) -> TxStatus:
        return _tx_status(*await self._request("GET", f"/v1/txs/{hash_hex}", ok404=True))


def _is_duplicate(exc: ApiRejected) -> bool:
    return exc.status == 409 and "duplicate" in exc.message


class FailoverClient(_SyncWait):
    """Synchronous client over several validators: on an unreachable (or 5xx) node it
    moves to the next URL and stays there. A submission that a previous, failed attempt
    may already have delivered counts as accepted when the next node calls it a duplicate.
    """

    def __init__(self, urls: Sequence[str], timeout: float = 5.0):
        if not urls:
            raise ValueError("FailoverClient needs at least one URL")
        self.clients = [ValidatorClient(u, timeout) for u in urls]
        self.current = 0

    @property
    def url(self) -> str:
        return self.clients[self.current].url

    def _call(self, fn: Callable[[ValidatorClient], T]) -> T:
        errors: list[str] = []
        for _ in range(len(self.clients)):
            client = self.clients[self.current]
            try:
                return fn(client)
            except (NodeUnavailable, ServerError) as exc:
                errors.append(str(exc))
                self.current = (self.current + 1) % len(self.clients)
        raise NodeUnavailable("no validator reachable: " + "; ".join(errors))

    def status(self) -> dict[str, Any]:
        return self._call(lambda c: c.status())

    def block(self, height: int) -> dict[str, Any] | None:
        return self._call(lambda c: c.block(height))

    def submit(self, tx: SignedTx, blobs: Sequence[bytes] = ()) -> str:
        raw, first = tx.encoded(), self.current

        def attempt(c: ValidatorClient) -> str:
            try:
                return c.submit_raw(raw, blobs)
            except ApiRejected as exc:
                if self.current != first and _is_duplicate(exc):
                    return tx_hash(raw).hex()
                raise

        return self._call(attempt)

    def tx_status(self, hash_hex: str) -> TxStatus:
        return self._call(lambda c: c.tx_status(hash_hex))


class AsyncFailoverClient(_AsyncWait):
    """:class:`FailoverClient` for asyncio, all validators over one shared session."""

    def __init__(
        self,
        urls: Sequence[str],
        session: aiohttp.ClientSession | None = None,
        timeout: float = 5.0,
    ):
        if not urls:
            raise ValueError("AsyncFailoverClient needs at least one URL")
        self.urls = [u.rstrip("/") for u in urls]
        self._session = session
        self._own = session is None
        self._timeout = timeout
        self._clients: list[AsyncValidatorClient] = []
        self.current = 0

    async def __aenter__(self) -> AsyncFailoverClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own and self._session is not None:
            await self._session.close()
            self._session = None
            self._clients = []

    @property
    def url(self) -> str:
        return self.urls[self.current]

    def _client(self) -> AsyncValidatorClient:
        if not self._clients:  # the session is made on the running loop, on first use
            if self._session is None:
                self._session = aiohttp.ClientSession()
            self._clients = [
                AsyncValidatorClient(u, self._session, self._timeout) for u in self.urls
            ]
        return self._clients[self.current]

    async def _call(self, fn: Callable[[AsyncValidatorClient], Awaitable[T]]) -> T:
        errors: list[str] = []
        for _ in range(len(self.urls)):
            try:
                return await fn(self._client())
            except (NodeUnavailable, ServerError) as exc:
                errors.append(str(exc))
                self.current = (self.current + 1) % len(self.urls)
        raise NodeUnavailable("no validator reachable: " + "; ".join(errors))

    async def status(self) -> dict[str, Any]:
        return await self._call(lambda c: c.status())

    async def block(self, height: int) -> dict[str, Any] | None:
        return await self._call(lambda c: c.block(height))

    async def submit(self, tx: SignedTx, blobs: Sequence[bytes] = ()) -> str:
        raw, first = tx.encoded(), self.current

        async def attempt(c: AsyncValidatorClient) -> str:
            try:
                return await c.submit_raw(raw, blobs)
            except ApiRejected as exc:
                if self.current != first and _is_duplicate(exc):
                    return tx_hash(raw).hex()
                raise

        return await self._call(attempt)

    async def tx_status(self, hash_hex: str) -> TxStatus:
        return await self._call(lambda c: c.tx_status(hash_hex))
