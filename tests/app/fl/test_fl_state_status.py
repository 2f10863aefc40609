"""Update status is an enum whose ledger and JSON bytes are the plain strings."""

from __future__ import annotations

import json

import msgspec

from flobc.app.fl.state import UpdateInfo, UpdateStatus
from flobc.encoding import decode, encode

VALUES = ["pending", "accepted", "rejected", "skipped", "stale", "superseded"]


def info(status: object) -> UpdateInfo:
    return UpdateInfo("ab", "t0", 1, 0, "cd", 10, 2, 3, status=status)  # type: ignore[arg-type]


def test_the_values_are_the_ledger_strings() -> None:
    assert [s.value for s in UpdateStatus] == VALUES
    assert all(s == v for s, v in zip(UpdateStatus, VALUES, strict=True))


def test_state_bytes_are_unchanged_and_decode_to_the_enum() -> None:
    for value in VALUES:
        old = info(value)  # a plain string, as the ledger held it before the enum
        new = info(UpdateStatus(value))
        assert encode(new) == encode(old)
        back = decode(encode(old), UpdateInfo)
        assert back.status is UpdateStatus(value)


def test_json_documents_carry_the_plain_value() -> None:
    doc = msgspec.to_builtins(info(UpdateStatus.SUPERSEDED))
    assert doc["status"] == "superseded" and type(doc["status"]) is str
    assert json.dumps({UpdateStatus.STALE: UpdateStatus.STALE}) == '{"stale": "stale"}'
