"""The FL roles as sans-I/O state machines, run unchanged by every runtime.

:class:`~flobc.roles.trainer.Trainer` and :class:`~flobc.roles.evaluator.Evaluator` take
inputs (what the ledger shows, a model fetched, training done, an update submitted, ...)
and return effects (fetch a model, train, build an update, submit, wait, ...). They hold
no socket, clock, thread or model: the HTTP runtime (:mod:`flobc.node_apps.fl.workers`) runs
the effects in workers, the simulator (:mod:`flobc.sim.fl_network`) runs them in-process
and charges virtual time, and both feed the results back. Like the consensus core, this
package imports nothing else of FLoBC.
"""
