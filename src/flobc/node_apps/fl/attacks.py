"""A Byzantine trainer's attack, wired the same way into the simulator and into processes.

:class:`TrainerAttack` holds one trainer's configured attack (``[[attacks]]`` in the TOML,
:class:`~flobc.node_apps.fl.settings.AttackEntry`) and builds the
:class:`~flobc.algorithms.attacks.AttackContext` from what the trainer computed and what the
ledger shows (:class:`LedgerView`).
:class:`~flobc.node_apps.fl.trainer_core.TrainerCore` calls it when it runs the trainer
core's ``BuildUpdate`` effect. Only when :attr:`TrainerAttack.wants_peers`
or :attr:`TrainerAttack.wants_previous` asks for it does the core first emit ``FetchView``,
which each runtime answers with a :class:`LedgerView` built through :func:`visible_updates`
on the round document (``GET /v1/round``, or the same query in-process).

Colluders and sybils: the trainers of one ``[[attacks]]`` entry form one group.

* Colluding attacks (ALIE, IPM, min-max, min-sum) estimate the honest distribution from the
  round's visible honest updates (every upload of a non-attacker on the same base version)
  plus the honest Δs of the group's first ``max_reference`` trainers (each attacker
  replays their honest training: same data, same seeds, hence the same bytes), its own
  always included. So they work even before any honest update of the round is on the
  ledger, as in Shejwalkar & Houmansadr's "partial knowledge" setting.
* With ``sybil = true`` every group member acts as the group's first trainer (its honest Δ,
  its RNG, its history, the colluders' Δs only, never the timing-dependent ledger view),
  so all of them upload byte-identical poison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from flobc.algorithms.attacks import AttackContext, DataAttack, ModelAttack, attack_rng, f32
from flobc.node_apps.fl.settings import AttackEntry, FLRunConfig

#: how many of its own earlier honest updates a trainer keeps for replay attacks
HISTORY = 32


@dataclass(frozen=True)
class LedgerView:
    """What the ledger shows a trainer as it builds an update on base version ``v``."""

    #: (trainer index, Δ) of the round's updates on base version v, by trainer index
    peers: tuple[tuple[int, np.ndarray], ...] = ()
    #: the global weights w_{v-1} (None at version 0 or when not asked for)
    previous: np.ndarray | None = None


def visible_updates(round_doc: dict[str, Any], version: int) -> list[tuple[int, str]]:
    """(trainer index, update id) of the round's updates on base ``version``, by index."""
    return sorted(
        (int(u["trainer"]), str(u["id"]))
        for u in round_doc.get("updates", [])
        if int(u["base_version"]) == version
    )


class TrainerAttack:
    """Trainer ``index``'s configured attack."""

    def __init__(self, cfg: FLRunConfig, index: int, entry: AttackEntry):
        self.cfg = cfg
        self.index = index
        self.entry = entry
        self.attack: DataAttack | ModelAttack = entry.build()
        self.group = entry.indices(cfg.network.trainers)
        self.attackers = cfg.attackers()
        self.sybil = entry.sybil
        #: whose poison this trainer sends (the group leader for sybils)
        self.acting = self.group[0] if self.sybil else index
        refs = self.group[: entry.max_reference]
        self.reference = refs if self.sybil else sorted({*refs, index})
        self.history: list[tuple[int, np.ndarray]] = []

    @property
    def is_model(self) -> bool:
        return self.attack.kind == "model"

    @property
    def wants_peers(self) -> bool:
        """Whether the runtime should fill :attr:`LedgerView.peers`."""
        return isinstance(self.attack, ModelAttack) and self.attack.colluding and not self.sybil

    @property
    def wants_previous(self) -> bool:
        """Whether the runtime should fill :attr:`LedgerView.previous`."""
        return isinstance(self.attack, ModelAttack) and self.attack.needs_global_step

    def poison_data(
        self, x: np.ndarray, y: np.ndarray, num_classes: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The trainer's partition after a data attack (unchanged for a model attack)."""
        if not isinstance(self.attack, DataAttack):
            return x, y
        return self.attack(x, y, num_classes, attack_rng(self.cfg.seed, "data", self.index))

    def poison_update(
        self,
        base: np.ndarray,
        honest: np.ndarray,
        version: int,
        rnd: int,
        honest_of: Callable[[int], np.ndarray],
        view: LedgerView | None = None,
    ) -> np.ndarray:
        """The Δ to upload instead of ``honest`` (unchanged for a data attack).

        ``honest_of(j)`` replays trainer j's honest training of this round (see
        :meth:`~flobc.node_apps.fl.trainer_core.TrainerCore.replay_honest`).
        """
        if not isinstance(self.attack, ModelAttack):
            return honest
        view = view or LedgerView()
        own = honest if self.acting == self.index else honest_of(self.acting)
        colluders: tuple[np.ndarray, ...] = ()
        if self.attack.colluding:
            colluders = tuple(honest if j == self.index else honest_of(j) for j in self.reference)
        peers = tuple(
            d
            for j, d in view.peers
            if j not in self.attackers and j != self.index and len(d) == len(honest)
        )
        step = None
        if view.previous is not None and version > 0:
            step = f32(np.asarray(base, np.float64) - np.asarray(view.previous, np.float64))
        ctx = AttackContext(
            base=base,
            honest=own,
            version=version,
            rnd=rnd,
            rng=attack_rng(self.cfg.seed, "attack", self.acting, version, rnd),
            trainer=self.acting,
            num_trainers=self.cfg.network.trainers,
            num_attackers=len(self.group),
            peers=() if self.sybil else peers,
            colluders=colluders,
            global_step=step,
            history=tuple(self.history),
        )
        out = self.attack(ctx)
        self.history = [*self.history, (version, own)][-HISTORY:]
        return out


def trainer_attack(cfg: FLRunConfig, index: int) -> TrainerAttack | None:
    """Trainer ``index``'s attack, or None for an honest trainer."""
    entry = cfg.attack_entry(index)
    return None if entry is None else TrainerAttack(cfg, index, entry)
