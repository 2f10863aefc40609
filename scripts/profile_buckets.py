"""Share of non-idle py-spy samples per cost bucket, from collapsed stacks (``py-spy record
-f raw``), as JSON: ``python scripts/profile_buckets.py OUT.json STACKS[.gz] ...``.

A sample is idle when its innermost frame is the event loop's ``select`` or a pool thread
waiting for work; the first matching bucket (in the order below) takes a sample.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from pathlib import Path

BUCKETS = [
    ("sqlite_block_store_on_loop", ("SQLiteBlockStore",)),
    ("wal_fsync_writer_thread", ("sync_through",)),
    ("ed25519_verify", ("crypto_sign_open",)),
    ("sha256", ("sha256 (",)),
    ("msgpack", ("encoding.py",)),
    ("socket_writes", ("_SelectorSocketTransport.write",)),
    ("websocket_frame_masking_and_assembly", ("_write_websocket_frame",)),
    (
        "node_logic_consensus_admission_app",
        ("on_message (", "submit_tx (", "submit_txs (", "on_timer ("),
    ),
    ("peer_streams_other", ("_handle_stream", "peer_link", "web_ws", "client_ws")),
    ("http_api_requests", ("web_protocol", "_handle_request", "http_parser")),
]
IDLE = ("select (selectors", "_worker (concurrent")


def buckets(paths: list[Path]) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as fh:
            for line in fh:
                stack, _, n = line.rstrip().rpartition(" ")
                if any(k in stack.split(";")[-1] for k in IDLE):
                    continue
                name = next((b for b, keys in BUCKETS if any(k in stack for k in keys)), "other")
                counts[name] += int(n)
    total = sum(counts.values())
    return {"active_samples": total} | {k: round(v / total, 4) for k, v in counts.most_common()}


if __name__ == "__main__":
    out, *paths = sys.argv[1:]
    doc = buckets([Path(p) for p in paths])
    Path(out).write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
