"""The attack library: how Byzantine trainers poison federated learning (issue 8).

Every attack is a pure rule (numpy only, no I/O, no torch), selected per trainer in the
run's TOML (``[[attacks]]``, see :mod:`flobc.node_apps.fl.settings`) and applied by the
trainer's :class:`~flobc.node_apps.fl.trainer_core.TrainerCore` in the simulator and in
processes alike.

* data attacks (:mod:`.data`) rewrite the trainer's partition once: ``label_flip``,
  ``backdoor``;
* model attacks (:mod:`.model`) replace the honest Δ: ``gaussian`` (the paper's),
  ``sign_flip``, ``scaling``, ``free_ride_zero``, ``free_ride_replay``,
  ``free_ride_global``;
* colluding attacks (:mod:`.colluding`) craft Δ from the round's honest updates: ``alie``,
  ``ipm``, ``min_max``, ``min_sum``.

User attacks are ``"package.module:function"`` references. The registry stays pure: the
node layer imports them (:meth:`flobc.node_apps.fl.settings.AttackEntry.build`, through
:func:`flobc.ml.plugins.resolve_callable`) and wraps them with :func:`attack_from_callable`.
A plug-in ``fn(ctx, **params) -> Δ`` is a model attack; one with ``fn.attack_kind = "data"``
is a data attack ``fn(x, y, num_classes, rng, **params) -> (x, y)``. A model plug-in that
reads ``ctx.peers``/``ctx.colluders`` or ``ctx.global_step`` says so with
``fn.colluding = True`` / ``fn.needs_global_step = True``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from flobc.algorithms.attacks.base import (
    AttackContext,
    DataAttack,
    ModelAttack,
    attack_rng,
    f32,
    stack,
)
from flobc.algorithms.attacks.colluding import (
    DIRECTIONS,
    alie,
    alie_z,
    ipm,
    min_max,
    min_sum,
    pairwise_distances,
    perturbation,
    search_gamma,
)
from flobc.algorithms.attacks.data import (
    CORNERS,
    Trigger,
    attack_success_rate,
    backdoor,
    label_flip,
    triggered_test_set,
)
from flobc.algorithms.attacks.model import (
    free_ride_global,
    free_ride_replay,
    free_ride_zero,
    gaussian,
    scaling,
    sign_flip,
)

Attack = DataAttack | ModelAttack

#: name -> factory(**params) -> attack
ATTACKS: dict[str, Callable[..., Attack]] = {
    "label_flip": label_flip,
    "backdoor": backdoor,
    "gaussian": gaussian,
    "sign_flip": sign_flip,
    "scaling": scaling,
    "free_ride_zero": free_ride_zero,
    "free_ride_replay": free_ride_replay,
    "free_ride_global": free_ride_global,
    "alie": alie,
    "ipm": ipm,
    "min_max": min_max,
    "min_sum": min_sum,
}


def is_plugin_name(name: str) -> bool:
    """Whether ``name`` is a ``module:function`` reference rather than a registry name."""
    mod, sep, attr = name.partition(":")
    return bool(sep and mod and attr)


def attack_from_callable(name: str, fn: Callable[..., Any], params: Mapping[str, Any]) -> Attack:
    """Wrap a user's attack function (see the module docstring for the two contracts)."""
    p = dict(params)
    if getattr(fn, "attack_kind", "model") == "data":
        return DataAttack(name, lambda x, y, c, rng: fn(x, y, c, rng, **p), p)
    return ModelAttack(
        name,
        lambda ctx: fn(ctx, **p),
        p,
        colluding=bool(getattr(fn, "colluding", False)),
        needs_global_step=bool(getattr(fn, "needs_global_step", False)),
    )


def attack_from_name(name: str, /, **params: Any) -> Attack:
    """The registry's attack ``name`` with ``params``; ValueError for an unknown name or
    bad params. ``module:function`` plug-ins are imported by the node layer (this package
    does no I/O): :meth:`flobc.node_apps.fl.settings.AttackEntry.build`, which then calls
    :func:`attack_from_callable`."""
    if is_plugin_name(name):
        raise ValueError(
            f"attack {name!r} is a plug-in: load it with "
            "flobc.node_apps.fl.settings.AttackEntry(...).build() (or attack_from_callable)"
        )
    factory = ATTACKS.get(name)
    if factory is None:
        raise ValueError(
            f"unknown attack {name!r}; choose from {sorted(ATTACKS)} or give 'module:function'"
        )
    accepted = list(inspect.signature(factory).parameters)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"attack {name!r} has no parameter {unknown[0]!r}; its parameters: {accepted}"
        )
    return factory(**params)


__all__ = [
    "ATTACKS",
    "CORNERS",
    "DIRECTIONS",
    "Attack",
    "AttackContext",
    "DataAttack",
    "ModelAttack",
    "Trigger",
    "alie",
    "alie_z",
    "attack_from_callable",
    "attack_from_name",
    "attack_rng",
    "attack_success_rate",
    "backdoor",
    "f32",
    "free_ride_global",
    "free_ride_replay",
    "free_ride_zero",
    "gaussian",
    "ipm",
    "is_plugin_name",
    "label_flip",
    "min_max",
    "min_sum",
    "pairwise_distances",
    "perturbation",
    "scaling",
    "search_gamma",
    "sign_flip",
    "stack",
    "triggered_test_set",
]
