"""The end of a round on processes, step by step: slowest trainer's upload → release → the
trainers of the next round at work.

:mod:`~flobc.orchestration.round_profile` splits a round by block times; a block's (BFT)
time is when its parent committed, so those phases are off by one block and cannot say
how long a vote waited. Here every step is timed by what each side saw: the nodes' log
lines (the trainer's ``upload -> 202``, the validator's ``voted on ...`` with its batch's
scoring seconds) and each block's own commit (the median of its precommit times). All
clocks are this machine's. Per released version ``v`` whose round had updates, the steps
below follow each other, so with the previous version's ``release_to_training_s`` they
add up to about ``round_s`` (release to release):

* ``training_s`` — the first trainer starts training on ``v - 1`` → the round's last
  upload is acknowledged (training, building and uploading, all trainers sharing the cores)
* ``upload_to_commit_s`` — that upload acknowledged → the block with the last update committed
* ``commit_to_scoring_s`` — that commit → the last validator starts scoring the batch with it
* ``scoring_s`` — the slowest validator's scoring of that batch
* ``vote_to_commit_s`` — the last vote sent → the block deciding the last update committed
* ``decided_to_release_s`` — that commit → the release's block committed (0: same block)
* ``release_to_training_s`` — the release committed → the first trainer trains on it
  (the push, its ledger read and weights fetch)
"""

from __future__ import annotations

import re
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

from flobc.orchestration.watch import get_json

STEPS = (
    "training_s",
    "upload_to_commit_s",
    "commit_to_scoring_s",
    "scoring_s",
    "vote_to_commit_s",
    "decided_to_release_s",
    "release_to_training_s",
)
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
_UPLOAD = re.compile(r"version (\d+): trained ([0-9.]+)s .*upload -> 2\d\d")
_VOTE = re.compile(r"voted on \w+: (\d+) ballot\(s\) in one tx, .* in ([0-9.]+)s")


def _stamp(line: str) -> float | None:
    m = _STAMP.match(line)
    return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() if m else None


def read_logs(rundir: Path) -> dict[str, Any]:
    """From a network's ``run/*.log``: per base version, each accepted upload as (time
    acknowledged, seconds since its training began); per validator, each vote
    transaction sent as (time, scoring seconds of its batch)."""
    uploads: dict[int, list[tuple[float, float]]] = {}
    votes: dict[str, list[tuple[float, float]]] = {}
    for log in sorted(rundir.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            t = _stamp(line)
            if t is None:
                continue
            if log.stem.startswith("trainer-") and (m := _UPLOAD.search(line)):
                uploads.setdefault(int(m.group(1)), []).append((t, float(m.group(2))))
            elif log.stem.startswith("validator-") and (m := _VOTE.search(line)):
                votes.setdefault(log.stem, []).append((t, float(m.group(2))))
    return {"uploads": uploads, "votes": votes}


def commit_time_s(block_doc: dict[str, Any]) -> float:
    """When a block committed: the (lower) median of its precommit times, in seconds."""
    times = sorted(s["time_ms"] for s in block_doc["commit"]["signatures"])
    return times[(len(times) - 1) // 2] / 1000


def critical_path(
    url: str, versions: range, logs: dict[str, Any], subnet: str | None = None
) -> list[dict[str, float]]:
    """The steps (module docstring) of every version in ``versions`` with updates, read
    from validator ``url`` while the network runs and from ``logs`` (:func:`read_logs`)."""
    q = "" if subnet is None else f"?subnet={subnet}"
    commits: dict[int, float] = {}

    def committed(h: int) -> float:
        if h not in commits:
            commits[h] = commit_time_s(get_json(f"{url}/v1/blocks/{h}"))
        return commits[h]

    out = []
    for v in versions:
        doc = get_json(f"{url}/v1/models/{v}{q}")
        ups = [get_json(f"{url}/v1/updates/{u}{q}") for u in doc.get("updates", [])]
        decided = [u["decided_height"] for u in ups if u.get("decided_height")]
        acks = logs["uploads"].get(v - 1, [])
        if not decided or not acks:
            continue
        prev = get_json(f"{url}/v1/models/{v - 1}{q}")
        heights = [get_json(f"{url}/v1/txs/{u}")["height"] for u in doc["updates"]]
        last_up = max(heights)
        up_commit = committed(last_up)
        vote_commit = committed(max(decided))
        release = committed(doc["height"])
        out.append(
            round_steps(
                v,
                release - committed(prev["height"]),
                acks,
                up_commit,
                vote_commit,
                release,
                logs["votes"],
                logs["uploads"].get(v, []),
            )
        )
    return out


def round_steps(
    version: int,
    round_s: float,
    acks: list[tuple[float, float]],
    up_commit: float,
    vote_commit: float,
    release: float,
    votes: dict[str, list[tuple[float, float]]],
    next_uploads: list[tuple[float, float]],
) -> dict[str, float]:
    """One version's steps (module docstring), rounded to 0.1 ms, from its round's
    uploads ``acks`` and the commit times of the last update, the last decision and the
    release; ``votes`` and ``next_uploads`` are :func:`read_logs`' entries."""
    # each validator's vote tx that carried the last ballots: its last one sent after the
    # last update committed and before that update was decided
    last_votes = [
        max((t, s) for t, s in sent if up_commit <= t <= vote_commit + 0.005)
        for sent in votes.values()
        if any(up_commit <= t <= vote_commit + 0.005 for t, _ in sent)
    ]
    next_starts = [t - s for t, s in next_uploads]
    row = {
        "version": version,
        "round_s": round_s,
        "training_s": max(t for t, _ in acks) - min(t - s for t, s in acks),
        "upload_to_commit_s": up_commit - max(t for t, _ in acks),
        "decided_to_release_s": release - vote_commit,
    }
    if last_votes:
        row["commit_to_scoring_s"] = max(t - s for t, s in last_votes) - up_commit
        row["scoring_s"] = max(s for _, s in last_votes)
        row["vote_to_commit_s"] = vote_commit - max(t for t, _ in last_votes)
    if next_starts:
        row["release_to_training_s"] = min(next_starts) - release
    return {k: round(x, 4) for k, x in row.items()}


def path_medians(rows: list[dict[str, float]]) -> dict[str, float | None]:
    """The median of each step (and of the round) over ``rows``."""
    keys = ("round_s", *STEPS)
    return {
        k: (statistics.median(r[k] for r in rows if k in r) if any(k in r for r in rows) else None)
        for k in keys
    }
