"""The end of a round (as ``flobc.orchestration.critical_path``) from a stopped network's
files: validator-0's block store (each block's own commit time, its update and vote
transactions) and the nodes' logs. For runs whose network was kept but not queried live,
e.g. the lead's quiet-machine ``flobc bench round`` at 5546951 (its ``work/run*-flobc``).

``PYTHONPATH=src python offline_path.py NETDIR [NETDIR...]`` prints one JSON line per
network: per-round rows (versions 2..n) and the medians. A round's release block is the
block carrying the last vote on its updates (the release is executed in that block).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from flobc.app.fl.txs import UPDATE, VOTE, UpdateBody, VotesBody
from flobc.chain.store.sqlite import SQLiteBlockStore
from flobc.chain.types import SignedTx
from flobc.encoding import decode, sha256
from flobc.orchestration.critical_path import path_medians, read_logs, round_steps


def commit_s(commit) -> float:
    times = sorted(s.time_ms for s in commit.signatures)
    return times[(len(times) - 1) // 2] / 1000


def rounds(netdir: Path) -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ledger.sqlite"
        shutil.copy(netdir / "validator-0" / "data" / "ledger.sqlite", db)
        store = SQLiteBlockStore(db)
        base_of: dict[bytes, int] = {}  # update id -> base version
        up_height: dict[int, int] = {}  # base version -> height of its last update
        vote_height: dict[int, int] = {}  # base version -> height of its last vote
        commits: dict[int, float] = {}
        for h in range(1, store.height() + 1):
            commits[h] = commit_s(store.commit(h))
            for raw in store.block(h).txs:
                tx = decode(raw, SignedTx)
                if tx.kind == UPDATE:
                    b = decode(tx.body, UpdateBody).base_version
                    base_of[sha256(raw)] = b
                    up_height[b] = h
                elif tx.kind == VOTE:
                    for ballot in decode(tx.body, VotesBody).ballots:
                        b = base_of.get(ballot.update_id)
                        if b is not None:
                            vote_height[b] = max(vote_height.get(b, 0), h)
    logs = read_logs(netdir / "run")
    out = []
    for b in sorted(vote_height):
        v = b + 1
        if v < 2 or b - 1 not in vote_height or b not in up_height:
            continue
        release, prev = commits[vote_height[b]], commits[vote_height[b - 1]]
        acks = logs["uploads"].get(b, [])
        # the release is executed in the block with the last vote: decided == released
        row = round_steps(
            v,
            release - prev,
            acks,
            commits[up_height[b]],
            release,
            release,
            logs["votes"],
            logs["uploads"].get(v, []),
        )
        out.append(row | {"blocks": vote_height[b] - vote_height[b - 1]})
    return out


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        rows = rounds(Path(arg))
        blocks = sorted(r["blocks"] for r in rows)
        doc = {
            "netdir": arg,
            "medians": path_medians(rows),
            "blocks_median": blocks[len(blocks) // 2],
        }
        print(json.dumps(doc | {"rounds": rows}))
