"""Deterministic applications ordered by consensus (the FL state machine and a test KV store)."""
