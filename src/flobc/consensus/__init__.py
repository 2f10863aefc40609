"""Tendermint consensus: a sans-I/O state machine, its crash-safety logs and block time."""
