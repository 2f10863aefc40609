"""Protection against double-signing, also across crashes and restarts.

The guard remembers the last ``(height, round, step)`` this validator signed, with the
sign-bytes and signature. It refuses to sign anything at a lower position, or different
bytes at the same position, and persists each new signature (atomically, fsynced) before
handing it out, so no crash can make the node sign two conflicting messages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path

import msgspec

from flobc.durable import write_atomic
from flobc.encoding import DecodeError, decode, encode


class Step(IntEnum):
    """Signing steps in the order they happen within a round."""

    PROPOSAL = 1
    PREVOTE = 2
    PRECOMMIT = 3


class SignGuardError(Exception):
    """The guard's state file is unusable."""


class DoubleSignError(SignGuardError):
    """A request that could produce a second, conflicting signature."""


class SignedState(msgspec.Struct, array_like=True, frozen=True, forbid_unknown_fields=True):
    """The last thing signed."""

    height: int
    round: int
    step: int
    sign_bytes: bytes
    signature: bytes

    @property
    def position(self) -> tuple[int, int, int]:
        return (self.height, self.round, self.step)


class _StateFile(msgspec.Struct, array_like=True, frozen=True, forbid_unknown_fields=True):
    version: int
    state: SignedState


_VERSION = 1


class SignGuard:
    """Last-signed state, kept at ``path`` (or only in memory when ``path`` is None)."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._last: SignedState | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._last = self._load(self.path)

    @staticmethod
    def _load(path: Path) -> SignedState | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            doc = decode(data, _StateFile)
        except DecodeError as exc:
            raise SignGuardError(f"{path}: corrupt sign-guard state: {exc}") from exc
        if doc.version != _VERSION:
            raise SignGuardError(f"{path}: unknown sign-guard version {doc.version}")
        return doc.state

    @property
    def last(self) -> SignedState | None:
        """What was signed last (None before the first signature)."""
        return self._last

    def check_and_record(
        self,
        height: int,
        round: int,
        step: int,
        sign_bytes: bytes,
        sign: Callable[[bytes], bytes],
        *,
        persist: bool = True,
    ) -> bytes:
        """Signature of ``sign_bytes`` at ``(height, round, step)``, if that is safe.

        Repeating the last request returns the stored signature without signing again.
        Raises :class:`DoubleSignError` for a lower position or for different bytes at the
        last position. With ``persist`` the new state is durable before the signature is
        returned; without it the caller must make it durable (e.g. in a write-ahead log
        that :meth:`observe` replays on restart) before the signature leaves the node.
        """
        if height < 1 or round < 0 or step not in Step._value2member_map_:
            raise ValueError(f"invalid signing position ({height}, {round}, {step})")
        pos = (height, round, int(step))
        with self._lock:
            last = self._last
            if last is not None:
                if pos < last.position:
                    raise DoubleSignError(f"{pos} is below the last signed {last.position}")
                if pos == last.position:
                    if sign_bytes == last.sign_bytes:
                        return last.signature
                    raise DoubleSignError(f"already signed different bytes at {pos}")
            state = SignedState(height, round, int(step), bytes(sign_bytes), sign(sign_bytes))
            if persist and self.path is not None:
                self._persist(self.path, state)
            self._last = state
            return state.signature

    def observe(self, state: SignedState) -> None:
        """Learn of a signature made earlier (replayed from a log): never move backwards."""
        with self._lock:
            if self._last is None or state.position > self._last.position:
                self._last = state

    def flush(self) -> None:
        """Make the in-memory state durable in the guard's own file."""
        with self._lock:
            if self.path is not None and self._last is not None:
                self._persist(self.path, self._last)

    @staticmethod
    def _persist(path: Path, state: SignedState) -> None:
        write_atomic(path, encode(_StateFile(_VERSION, state)))
