"""Where a steady FLoBC round of ``flobc bench round``'s workload spends the processes' time:
py-spy samples of every validator and of one trainer during steady rounds, bucketed, as
JSON. ``python scripts/profile_round.py OUT.json [ROUNDS] [SECONDS]`` (needs ``py-spy``).

A sample is idle when its innermost frame is the event loop's ``select`` or a pool thread
waiting for work; the first matching bucket (in the order below) takes a sample. Samples
are wall-clock stacks of non-idle threads, so a thread blocked in ``fsync`` counts (it
holds its event loop), and on a loaded machine so does one waiting for a core.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

#: (bucket, substrings of any frame): the first bucket with a match takes the sample.
BUCKETS = [
    ("evaluation_worker_thread", ("Evaluator.perform",)),
    ("blob_store_put_with_fsync", ("FileBlobStore.put",)),
    # deferred blob fsyncs: before a block is saved (event loop), or in the writer thread
    ("blob_store_sync_before_save", ("FileBlobStore.sync (",)),
    ("blob_store_fsync_writer_thread", ("FileBlobStore.sync_through",)),
    ("wal_fsync_writer_thread", ("sync_through",)),
    ("block_execute_fl_app", ("FLApp.finalize_block", "FLApp.commit")),
    ("block_store_sqlite_and_consensus_log", ("SQLiteBlockStore", "ConsensusLog")),
    ("consensus_messages", ("ConsensusDriver.feed", "Tendermint.handle")),
    ("tx_admission_check_and_signatures", ("TxAdmission.admit",)),
    ("peer_streams_websocket", ("PeerLink", "_handle_stream", "web_ws", "client_ws")),
    ("fl_api_trainer_reads", ("node_apps/fl/api.py",)),
    ("event_streams_sse", ("stream_events", "EventHub")),
    ("http_server_plumbing", ("web_protocol", "web_app", "http_parser", "http_writer")),
    ("training", ("TrainerCore.execute",)),
    ("http_client", ("aiohttp/client",)),
]
IDLE = ("select (selectors", "_worker (concurrent")


def buckets(paths: list[Path]) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, n = line.rstrip().rpartition(" ")
            if not stack or any(k in stack.split(";")[-1] for k in IDLE):
                continue
            name = next((b for b, keys in BUCKETS if any(k in stack for k in keys)), "other")
            counts[name] += int(n)
    total = sum(counts.values())
    return {"active_samples": total} | {k: round(v / total, 4) for k, v in counts.most_common()}


def main(out: Path, rounds: int, seconds: int) -> dict[str, object]:
    from flobc.bench.round_workload import workload_config
    from flobc.orchestration.fl_setup import create_fl_network
    from flobc.orchestration.netdir import list_nodes
    from flobc.orchestration.processes import running_pid, started
    from flobc.orchestration.watch import Watcher

    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    cfg = workload_config(7)
    work = Path(tempfile.mkdtemp(prefix="flobc-profile-"))
    create_fl_network(work / "flobc", cfg)
    t0 = time.monotonic()
    with started(work / "flobc", timeout=180) as net:
        watcher = Watcher(cfg, net.validators)
        watcher.follow(2, t0 + 600, poll_s=0.05)
        pids = {e.name: running_pid(work / "flobc", e) for e in list_nodes(work / "flobc")}
        names = [*net.validators, "trainer-0"]
        procs = {}
        for name in names:
            cmd = [spy, "record", "-r", "100", "-d", str(seconds), "-f", "raw", "-t"]
            cmd += ["-o", str(work / f"{name}.txt"), "--pid", str(pids[name])]
            procs[name] = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        watcher.follow(rounds, t0 + 600, poll_s=0.05)
        for p in procs.values():
            p.wait()
    steady = sorted(r.round_ms for r in watcher.records if r.version >= 2)
    doc = {
        "what": f"py-spy, 100 Hz, {seconds} s during steady rounds of the bench-round workload",
        "steady_round_median_s": steady[len(steady) // 2] / 1000,
        "validators": buckets([work / f"{n}.txt" for n in net.validators]),
        "trainer_0": buckets([work / "trainer-0.txt"]),
    }
    out.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


if __name__ == "__main__":
    args = sys.argv[1:]
    result = main(
        Path(args[0]), int(args[1]) if len(args) > 1 else 40, int(args[2]) if len(args) > 2 else 8
    )
    print(json.dumps(result, indent=1))
