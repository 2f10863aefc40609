"""The double-sign guard: ordering, idempotent repeats, persistence and restarts."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flobc.consensus.sign_guard import (
    DoubleSignError,
    SignedState,
    SignGuard,
    SignGuardError,
    Step,
)
from flobc.crypto import KeyPair
from flobc.encoding import encode

KEY = KeyPair.from_seed(b"\x05" * 32)


def counting_signer() -> tuple[Callable[[bytes], bytes], list[bytes]]:
    """A signer that never returns the same signature twice, and logs what it signed."""
    calls: list[bytes] = []
    counter = itertools.count()

    def sign(msg: bytes) -> bytes:
        calls.append(msg)
        return next(counter).to_bytes(8, "big") + msg

    return sign, calls


@pytest.fixture(params=["memory", "file"])
def guard(request: pytest.FixtureRequest, tmp_path: Path) -> SignGuard:
    return SignGuard(None if request.param == "memory" else tmp_path / "guard" / "state")


def test_signs_increasing_positions(guard: SignGuard) -> None:
    assert guard.last is None
    positions = [(1, 0, 1), (1, 0, 2), (1, 0, 3), (1, 1, 2), (2, 0, 1), (5, 3, 3)]
    for h, r, s in positions:
        msg = b"%d/%d/%d" % (h, r, s)
        sig = guard.check_and_record(h, r, s, msg, KEY.sign)
        assert sig == KEY.sign(msg)
        assert guard.last == SignedState(h, r, s, msg, sig)


def test_repeat_returns_stored_signature_without_signing(guard: SignGuard) -> None:
    sign, calls = counting_signer()
    first = guard.check_and_record(3, 1, Step.PREVOTE, b"vote", sign)
    assert guard.check_and_record(3, 1, Step.PREVOTE, b"vote", sign) == first
    assert calls == [b"vote"]


def test_conflict_at_same_position(guard: SignGuard) -> None:
    guard.check_and_record(3, 1, Step.PREVOTE, b"vote for A", KEY.sign)
    with pytest.raises(DoubleSignError):
        guard.check_and_record(3, 1, Step.PREVOTE, b"vote for B", KEY.sign)


@pytest.mark.parametrize("pos", [(2, 9, 3), (3, 0, 3), (3, 1, 1), (3, 1, 2)])
def test_lower_positions_are_refused(guard: SignGuard, pos: tuple[int, int, int]) -> None:
    guard.check_and_record(3, 1, Step.PRECOMMIT, b"precommit", KEY.sign)
    sign, calls = counting_signer()
    with pytest.raises(DoubleSignError):
        guard.check_and_record(*pos, b"anything", sign)
    assert calls == []


@pytest.mark.parametrize("pos", [(0, 0, 1), (1, -1, 1), (1, 0, 0), (1, 0, 4)])
def test_invalid_positions(guard: SignGuard, pos: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        guard.check_and_record(*pos, b"x", KEY.sign)


def test_failed_signer_records_nothing(guard: SignGuard) -> None:
    def broken(msg: bytes) -> bytes:
        raise RuntimeError("hsm offline")

    with pytest.raises(RuntimeError):
        guard.check_and_record(1, 0, Step.PROPOSAL, b"p", broken)
    assert guard.last is None
    assert guard.check_and_record(1, 0, Step.PROPOSAL, b"other", KEY.sign)


def test_restart_refuses_conflicting_vote(tmp_path: Path) -> None:
    path = tmp_path / "priv_validator_state"
    sig = SignGuard(path).check_and_record(7, 2, Step.PRECOMMIT, b"commit A", KEY.sign)
    restarted = SignGuard(path)
    assert restarted.last == SignedState(7, 2, 3, b"commit A", sig)
    with pytest.raises(DoubleSignError):
        restarted.check_and_record(7, 2, Step.PRECOMMIT, b"commit B", KEY.sign)
    with pytest.raises(DoubleSignError):
        restarted.check_and_record(7, 2, Step.PREVOTE, b"prevote", KEY.sign)
    assert restarted.check_and_record(7, 2, Step.PRECOMMIT, b"commit A", KEY.sign) == sig
    assert not path.with_name(path.name + ".tmp").exists()


def test_persisted_before_signature_is_returned(tmp_path: Path) -> None:
    path = tmp_path / "state"
    guard = SignGuard(path)
    seen: list[SignedState | None] = []

    def sign(msg: bytes) -> bytes:
        seen.append(SignGuard(path).last)  # the state on disk while signing
        return KEY.sign(msg)

    guard.check_and_record(1, 0, Step.PROPOSAL, b"a", sign)
    sig_b = guard.check_and_record(1, 0, Step.PREVOTE, b"b", sign)
    assert seen[0] is None and seen[1] is not None and seen[1].sign_bytes == b"a"
    assert SignGuard(path).last == SignedState(1, 0, 2, b"b", sig_b)


FUTURE_VERSION = encode([2, [1, 0, 1, b"", b""]])


@pytest.mark.parametrize("content", [b"", b"\xc1garbage", FUTURE_VERSION])
def test_corrupt_or_unknown_state_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state"
    path.write_bytes(content)
    with pytest.raises(SignGuardError):
        SignGuard(path)


# A small space of positions, so that repeats and conflicts are common.
request_st = st.tuples(
    st.integers(1, 2), st.integers(0, 1), st.integers(1, 3), st.sampled_from([b"A", b"B"])
)
op_st = st.one_of(request_st, st.just("restart"))


@settings(max_examples=100, deadline=None)
@given(ops=st.lists(op_st, max_size=25), persistent=st.booleans())
def test_never_two_signatures_for_one_position(
    ops: list[tuple[int, int, int, bytes] | str], persistent: bool
) -> None:
    sign, calls = counting_signer()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state" if persistent else None
        guard = SignGuard(path)
        given_out: dict[tuple[int, int, int], set[bytes]] = {}
        for op in ops:
            if op == "restart":
                if path is not None:
                    guard = SignGuard(path)
                continue
            h, r, s, msg = op
            try:
                sig = guard.check_and_record(h, r, s, msg, sign)
            except DoubleSignError:
                continue
            given_out.setdefault((h, r, s), set()).add(sig)
            assert sig.endswith(msg)
        assert all(len(sigs) == 1 for sigs in given_out.values())
        assert len(calls) == len(given_out)  # each position signed at most once
