"""Benchmarks that compare FLoBC with other systems on one fixed workload."""
