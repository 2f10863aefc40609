"""Deterministic discrete-event simulation: virtual clock, faulty in-memory network, nodes.

Typical use::

    cluster = Cluster(seed=7, config=NetworkConfig(latency_ms=10, jitter_ms=5))
    for p in processes:
        cluster.add(p)
    cluster.run_for(60_000)
"""

from flobc.sim.cluster import CallFn, Cluster, NodeDownError, ProcessFactory
from flobc.sim.network import Interceptor, Network, NetworkConfig
from flobc.sim.scheduler import Handle, Scheduler, SimulationLimitError
from flobc.sim.stats import NetStats, TypeStats
from flobc.sim.trace import Trace, TraceEvent

__all__ = [
    "CallFn",
    "Cluster",
    "Handle",
    "Interceptor",
    "NetStats",
    "Network",
    "NetworkConfig",
    "NodeDownError",
    "ProcessFactory",
    "Scheduler",
    "SimulationLimitError",
    "Trace",
    "TraceEvent",
    "TypeStats",
]
