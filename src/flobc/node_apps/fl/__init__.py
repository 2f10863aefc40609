"""Federated learning's node-side parts: the FL application hosted on a validator
(:mod:`~flobc.node_apps.fl.node_app`), its wire API and dashboard lists, the evaluator
and trainer workers of the HTTP runtime, the trainer core shared with the simulator, the
run settings, genesis builder, attacks and differential privacy."""
