"""The shapes every attack shares: the context a model attack sees and the two attack kinds.

Attacks are pure rules (numpy only, no I/O, no torch). The node layer
(:mod:`flobc.node_apps.fl.attacks`) builds an :class:`AttackContext` from what a trainer
honestly computed and from what the ledger makes public, and calls the attack; the same
code runs in the simulator and in trainer processes.

Randomness comes only from ``AttackContext.rng`` (or the generator handed to a data
attack), seeded from (run seed, trainer, version, round) by :func:`attack_rng`, so a run is
a pure function of its configuration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = [
    "AttackContext",
    "DataAttack",
    "ModelAttack",
    "attack_rng",
    "f32",
    "stack",
]


def attack_rng(*parts: int | str) -> np.random.Generator:
    """A generator seeded from ``parts`` (e.g. run seed, trainer, version, round) through
    SHA-256, so nearby seeds give unrelated streams and the seed is platform-independent."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def f32(a: np.ndarray) -> np.ndarray:
    """``a`` as a contiguous float32 vector (the wire format of an update)."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64).astype(np.float32).ravel())


def stack(updates: tuple[np.ndarray, ...] | list[np.ndarray]) -> np.ndarray:
    """Updates as one float64 matrix, one row per update (for coordinate-wise statistics)."""
    return np.stack([np.asarray(u, dtype=np.float64).ravel() for u in updates])


@dataclass(frozen=True)
class AttackContext:
    """Everything a model attack may read; built by the node layer, identical in every runtime.

    ``peers`` are the *honest* updates of the same round that the ledger already shows (the
    colluders' own uploads are left out: they are poison). ``colluders`` are the honest Δs of
    the attacker's collusion group (its own first), which each attacker can compute: this is
    the "partial knowledge" setting of Shejwalkar & Houmansadr (NDSS 2021) and what colluding
    attacks fall back on while the ledger shows no honest update of the round yet.
    """

    #: the global model w_v the trainer started from (float32)
    base: np.ndarray
    #: the trainer's honest update Δ = w_local - w_v (float32)
    honest: np.ndarray
    version: int
    rnd: int
    rng: np.random.Generator
    #: the trainer index whose poison this is (the group leader for sybils)
    trainer: int = 0
    #: trainers in the network (n in ALIE; the boost factor of model replacement)
    num_trainers: int = 1
    #: attackers in this collusion group (m in ALIE)
    num_attackers: int = 1
    peers: tuple[np.ndarray, ...] = ()
    colluders: tuple[np.ndarray, ...] = ()
    #: the global model's last step w_v - w_{v-1} (None at version 0 or when unknown)
    global_step: np.ndarray | None = None
    #: the trainer's own earlier honest updates, (version, Δ), oldest first
    history: tuple[tuple[int, np.ndarray], ...] = field(default=())

    def reference(self) -> tuple[np.ndarray, ...]:
        """The honest updates a colluding attack estimates the benign distribution from:
        the visible honest peers plus the colluders' honest Δs, or the own honest Δ alone."""
        refs = (*self.peers, *self.colluders)
        return refs if refs else (self.honest,)


@dataclass(frozen=True)
class ModelAttack:
    """Replaces the honest Δ with ``fn(ctx)``.

    ``colluding`` attacks read ``ctx.peers``/``ctx.colluders``; ``needs_global_step`` ones
    read ``ctx.global_step``. The runtimes fetch those from the ledger only when asked.
    """

    name: str
    fn: Callable[[AttackContext], np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)
    colluding: bool = False
    needs_global_step: bool = False
    kind: Literal["model"] = "model"

    def __call__(self, ctx: AttackContext) -> np.ndarray:
        out = f32(self.fn(ctx))
        if out.shape != np.shape(ctx.honest):
            raise ValueError(
                f"attack {self.name!r} returned {out.shape[0]} values for a model of "
                f"{np.size(ctx.honest)}"
            )
        return out


@dataclass(frozen=True)
class DataAttack:
    """Rewrites a trainer's private data once, when it loads its partition.

    ``fn(x, y, num_classes, rng) -> (x, y)`` gets images as (N, C, H, W) float32 and
    integer labels and returns new arrays (never mutating its input).
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray, int, np.random.Generator], tuple[np.ndarray, np.ndarray]]
    params: dict[str, Any] = field(default_factory=dict)
    #: builds the set an attack success rate is measured on (backdoors), from a test set
    test_set: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    kind: Literal["data"] = "data"

    def triggered_test_set(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The test set on which accuracy is this attack's success rate (backdoors only)."""
        if self.test_set is None:
            raise ValueError(f"attack {self.name!r} has no attack-success test set")
        return self.test_set(x, y)

    def __call__(
        self, x: np.ndarray, y: np.ndarray, num_classes: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        nx, ny = self.fn(np.asarray(x), np.asarray(y), num_classes, rng)
        if len(nx) != len(ny):
            raise ValueError(f"attack {self.name!r} returned {len(nx)} inputs, {len(ny)} labels")
        return nx, ny
