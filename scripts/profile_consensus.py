"""py-spy profile of every validator of a ``flobc bench consensus`` network while one part
runs: ``python scripts/profile_consensus.py PART SECONDS OUT_PREFIX [bench options...]``.

Starts the benchmark (``--sizes 4 --only PART``), waits until its validators answer,
records each for SECONDS (``py-spy record -r 200 -f raw``), concatenates the collapsed
stacks into ``OUT_PREFIX.collapsed.gz`` and writes the bucket shares
(``scripts/profile_buckets.py``) to ``OUT_PREFIX.json``.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def validator_pids(bench_pid: int) -> list[int]:
    """Processes started as ``flobc.cli.main validator`` whose home is in a bench folder."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    pids = []
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if "flobc.cli.main validator" in args and "flobc-bench-" in args:
            pids.append(int(pid))
    return pids


def main() -> None:
    part, seconds, prefix, *extra = sys.argv[1:]
    bench = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flobc.cli.main",
            "bench",
            "consensus",
            "--sizes",
            "4",
            "--only",
            part,
            *extra,
        ],
    )
    pids: list[int] = []
    deadline = time.monotonic() + 60
    while len(pids) < 4 and time.monotonic() < deadline:
        time.sleep(0.5)
        pids = validator_pids(bench.pid)
    time.sleep(8)  # past start-up and the benchmark's warm-up
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"{pid}.txt" for pid in pids]
        spies = [
            subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "-r",
                    "200",
                    "-f",
                    "raw",
                    "-d",
                    seconds,
                    "--threads",
                    "--idle",
                    "-p",
                    str(pid),
                    "-o",
                    str(o),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid, o in zip(pids, outs, strict=True)
        ]
        for s in spies:
            s.wait()
        with gzip.open(f"{prefix}.collapsed.gz", "wt") as fh:
            for o in outs:
                if o.exists():
                    fh.write(o.read_text())
    bench.wait()
    here = Path(__file__).parent
    subprocess.run(
        [
            sys.executable,
            str(here / "profile_buckets.py"),
            f"{prefix}.json",
            f"{prefix}.collapsed.gz",
        ],
        check=True,
    )


if __name__ == "__main__":
    main()
