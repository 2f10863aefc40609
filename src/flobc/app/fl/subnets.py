"""Model subnetworks (paper §IV.C): one chain, one consensus validator set, several models.

The genesis FL section either is one FL config (the implicit single subnetwork, as before)
or holds only ``subnets = [{name, validators, ...FL config...}]``. Each subnetwork has
its own model, trainers, validators (a non-empty subset of the chain's validators), sync
scheme, reputation, aggregator and validation rule. A node may validate one subnetwork and
train in another, never both in the same one (paper: "a node is not allowed to perform
both roles simultaneously for the same subnetwork").

A transaction names its subnetwork in its signed kind (``fl.update@NAME``), so it cannot be
replayed into another; the implicit subnetwork keeps the bare kinds (``fl.update``).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from flobc.app.fl.config import FLConfig
from flobc.app.fl.txs import SEP
from flobc.chain.genesis import Genesis
from flobc.crypto.keys import node_id_of

#: Names go into transaction kinds and URLs: short, lower case, no separators.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def split_kind(kind: str) -> tuple[str, str | None]:
    """``(base kind, subnet name or None)`` of a transaction kind."""
    base, sep, name = kind.partition(SEP)
    return (base, name) if sep else (base, None)


def has_subnets(app_state: dict[str, Any]) -> bool:
    """Whether a genesis app state declares named subnetworks."""
    fl = app_state.get("fl")
    return isinstance(fl, dict) and "subnets" in fl


class SubnetSpec(msgspec.Struct, frozen=True):
    """One subnetwork as the genesis declares it."""

    name: str
    #: hex public keys of the chain validators that validate (vote in) this subnetwork
    validators: tuple[str, ...]
    config: FLConfig
    #: the genesis seen by this subnetwork's app: its validators only, its FL config
    genesis: Genesis


class SubnetError(ValueError):
    """A subnetwork genesis that cannot be used, or a request naming no usable subnetwork."""


def parse_subnets(genesis: Genesis) -> list[SubnetSpec]:
    """The subnetworks of ``genesis``, in genesis order; :class:`SubnetError` (one line
    naming the subnetwork and the field or node) for anything that cannot run."""
    fl = genesis.app_state.get("fl")
    if not isinstance(fl, dict) or set(fl) != {"subnets"}:
        raise SubnetError("invalid FL config in genesis: with subnets, fl holds only 'subnets'")
    entries = fl["subnets"]
    if not isinstance(entries, list) or not entries:
        raise SubnetError("invalid FL config in genesis: fl.subnets must be a non-empty list")
    chain = {v.public_key.hex(): v for v in genesis.validators}
    seen: set[str] = set()
    out = []
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise SubnetError(f"invalid FL config in genesis: fl.subnets[{k}] is not a table")
        body = dict(entry)
        name = body.pop("name", None)
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise SubnetError(
                f"fl.subnets[{k}].name: {name!r} is not a subnetwork name "
                "(1-32 of a-z, 0-9, '_', '-', starting with a letter or digit)"
            )
        if name in seen:
            raise SubnetError(f"subnet {name!r}: the name is used twice")
        seen.add(name)
        validators = body.pop("validators", [])
        if not isinstance(validators, list) or not validators:
            raise SubnetError(
                f"subnet {name!r}: validators is empty; each subnetwork needs at least one"
            )
        for pk in validators:
            if pk not in chain:
                raise SubnetError(
                    f"subnet {name!r}: validator {pk!r} is not in the chain's validator set"
                )
        if len(set(validators)) != len(validators):
            raise SubnetError(f"subnet {name!r}: a validator is listed twice")
        try:
            cfg = FLConfig.from_app_state({"fl": body})
        except ValueError as exc:
            raise SubnetError(f"subnet {name!r}: {exc}") from exc
        for pk in cfg.trainers:
            if pk in validators:
                raise SubnetError(
                    f"subnet {name!r}: node {node_id_of(bytes.fromhex(pk))} is both a trainer "
                    "and a validator; a node may hold only one role per subnetwork"
                )
        members = set(validators)
        sub_genesis = msgspec.structs.replace(
            genesis,
            validators=[v for v in genesis.validators if v.public_key.hex() in members],
            app_state={"app": "fl", "fl": body},
        )
        out.append(SubnetSpec(name, tuple(validators), cfg, sub_genesis))
    return out


def choose(names: list[str], requested: str | None) -> str:
    """The subnetwork a request means: ``requested``, or the only one; :class:`SubnetError`
    naming the ``subnet`` parameter when it is unknown or needed."""
    if requested is None or requested == "":
        if len(names) == 1:
            return names[0]
        raise SubnetError(
            f"subnet: this network has {len(names)} subnetworks ({', '.join(names)}); name one"
        )
    if requested not in names:
        raise SubnetError(f"subnet: unknown subnetwork {requested!r} (known: {', '.join(names)})")
    return requested
