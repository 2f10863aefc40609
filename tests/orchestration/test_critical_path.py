"""The end of a round step by step, from log lines and each block's own commit time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flobc.orchestration import critical_path as cp

T0 = 1_800_000_000.0  # seconds; log stamps below are T0 + offsets in local time


def _stamp(offset: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(T0 + offset).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]


def _block(commit_s: float) -> dict[str, Any]:
    ms = round((T0 + commit_s) * 1000)
    # three precommits: the lower median is the middle one
    return {"commit": {"signatures": [{"time_ms": ms + 40}, {"time_ms": ms}, {"time_ms": ms - 9}]}}


LEDGER: dict[str, Any] = {
    "/v1/models/1": {"height": 10, "updates": []},
    "/v1/models/2": {"height": 14, "updates": ["u1", "u2"]},
    "/v1/updates/u1": {"decided_height": 13},
    "/v1/updates/u2": {"decided_height": 14},
    "/v1/txs/u1": {"height": 11},
    "/v1/txs/u2": {"height": 12},
    "/v1/blocks/10": _block(0.0),
    "/v1/blocks/12": _block(0.60),
    "/v1/blocks/13": _block(0.70),
    "/v1/blocks/14": _block(0.80),
}


def test_steps_follow_each_other_from_the_last_upload_to_the_next_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = "{} {} INFO flobc.fl: {}"
    (tmp_path / "trainer-0.log").write_text(
        "\n".join(
            [
                line.format(
                    _stamp(0.30),
                    "trainer-0",
                    "version 1: trained 0.25s (loss 1), upload -> 202 accepted",
                ),
                line.format(
                    _stamp(0.90),
                    "trainer-0",
                    "version 2: trained 0.05s (loss 1), upload -> 202 accepted",
                ),
            ]
        )
    )
    (tmp_path / "trainer-1.log").write_text(
        line.format(_stamp(0.50), "trainer-1", "version 1: trained 0.40s (loss 1), upload -> 202")
    )
    vote = "voted on ab: {} ballot(s) in one tx, score 0.5 (base 0.4) in {}s: ok"
    (tmp_path / "validator-0.log").write_text(
        "\n".join(
            [
                line.format(_stamp(0.40), "validator-0", vote.format(1, "0.02")),
                line.format(_stamp(0.66), "validator-0", vote.format(1, "0.03")),
            ]
        )
    )
    (tmp_path / "validator-1.log").write_text(
        line.format(_stamp(0.72), "validator-1", vote.format(1, "0.08"))
    )
    monkeypatch.setattr(cp, "get_json", lambda url: LEDGER[url.removeprefix("http://v")])
    rows = cp.critical_path("http://v", range(1, 3), cp.read_logs(tmp_path))
    assert len(rows) == 1  # version 1 had no updates
    assert rows[0] == pytest.approx(
        {
            "version": 2,
            "round_s": 0.80,
            "training_s": 0.45,  # trainer-0 started at 0.05; trainer-1's ack came at 0.50
            "upload_to_commit_s": 0.10,  # block 12 committed at 0.60
            "commit_to_scoring_s": 0.04,  # validator-1 began at 0.72 - 0.08
            "scoring_s": 0.08,
            "vote_to_commit_s": 0.08,  # u2 decided in block 14, committed at 0.80
            "decided_to_release_s": 0.0,  # released in the same block
            "release_to_training_s": 0.05,  # trainer-0 trained on version 2 from 0.85
        },
        abs=1e-3,
    )
    assert cp.path_medians(rows)["scoring_s"] == pytest.approx(0.08)
