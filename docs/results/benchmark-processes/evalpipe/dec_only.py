"""`flobc experiment benchmark` with the centralized arm skipped (replaced by zeros):
the decentralized run and its overhead summary are computed by the tree's code, except
that vote log lines are read as [ballots, seconds] and one validation is seconds over
ballots (the evalpipe branch's parser, applied to both trees alike)."""

import re
import sys
from pathlib import Path
from typing import Any

from flobc.experiments import benchmark, processes

benchmark.centralized = lambda cfg, iterations, epochs: [0.0] * iterations

_VOTED = re.compile(r"voted on \w+: (\d+) ballot\(s\) in one tx, .* in ([0-9.]+)s")


def _log_times(rundir: Path) -> dict[str, dict[str, list[Any]]]:
    trained: dict[str, list[Any]] = {}
    voted: dict[str, list[Any]] = {}
    for log in sorted(rundir.glob("*.log")):
        text = log.read_text(errors="replace")
        if log.stem.startswith("trainer-"):
            trained[log.stem.split("-")[1]] = [
                [int(v), float(s)] for v, s in processes._TRAINED.findall(text)
            ]
        elif log.stem.startswith("validator-"):
            voted[log.stem.split("-")[1]] = [[int(n), float(s)] for n, s in _VOTED.findall(text)]
    return {"trained": trained, "voted": voted}


def validation_s(logs: dict[str, dict[str, list[Any]]]) -> float:
    def per_update(votes: list[Any]) -> float:
        return sum(s for _, s in votes) / max(1, sum(n for n, _ in votes))

    return max((per_update(v) for v in logs["voted"].values() if v), default=0.0)


processes._log_times = _log_times
benchmark.validation_s = validation_s

from flobc.cli.main import main  # noqa: E402

sys.argv = ["flobc", *sys.argv[1:]]
main()
