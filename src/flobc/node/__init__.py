"""Node runtime wiring: the sans-I/O validator node and the runtimes that drive it."""
