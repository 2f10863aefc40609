"""Errors that stop a node."""


class FatalNodeError(RuntimeError):
    """The node must halt loudly rather than go on (e.g. its app hash diverged)."""
