"""Choose where an experiment's runs execute: the simulator or real processes."""

from __future__ import annotations

import logging

from flobc.experiments.processes import run_processes
from flobc.experiments.runner import RunResult, run_sim
from flobc.experiments.settings import Options, sim_timing
from flobc.node_apps.fl.settings import FLRunConfig
from flobc.sim.executor import Executor, make_executor
from flobc.sim.fl_network import SimTiming

log = logging.getLogger("flobc.experiments")


class Runner:
    """``runner(label, cfg, rounds)`` runs one configuration on the chosen runtime."""

    def __init__(self, opts: Options):
        self.opts = opts
        self.runtime = opts.runtime
        self._executor: Executor | None = None

    def executor(self, cfg: FLRunConfig) -> Executor:
        """The simulator's executor (``--executor``): one in-process executor for every
        run; a Ray executor per run (it holds the run's configuration in the object
        store), joining the cluster once."""
        if self._executor is None or self.opts.executor == "ray":
            self._executor = make_executor(self.opts.executor, cfg, self.opts.ray_address)
        return self._executor

    def timing(self, cfg: FLRunConfig) -> SimTiming:
        return sim_timing(cfg, self.opts)

    def __call__(
        self,
        label: str,
        cfg: FLRunConfig,
        rounds: int,
        *,
        min_time_s: float = 0.0,
        timing: SimTiming | None = None,
    ) -> RunResult:
        log.info("run %s: %s, %d rounds", label, self.runtime, rounds)
        if self.runtime == "sim":
            result = run_sim(
                label,
                cfg,
                timing or self.timing(cfg),
                rounds,
                min_time_s=min_time_s,
                executor=self.executor(cfg),
            )
        else:
            result = run_processes(
                label,
                cfg,
                rounds,
                self.opts.out / "_networks",
                min_time_s=min_time_s,
                timeout_s=self.opts.timeout_s,
            )
        best, at = result.best()
        log.info(
            "run %s done in %.0fs: max accuracy %.4f at version %d", label, result.wall_s, best, at
        )
        return result
