"""`flobc experiment benchmark` with the centralized arm replaced by zeros (it costs 6+
minutes of one core per run and has no bearing on the overhead); everything else is the
tree's own code (the measurement modules experiments/processes.py and
orchestration/critical_path.py are this branch's in both trees)."""

import sys

from flobc.experiments import benchmark

benchmark.centralized = lambda cfg, iterations, epochs: [0.0] * iterations

from flobc.cli.main import main  # noqa: E402

sys.argv = ["flobc", *sys.argv[1:]]
main()
