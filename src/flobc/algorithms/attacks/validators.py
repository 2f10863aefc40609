"""Byzantine validators: what a faulty validator votes instead of its honest measures.

A Byzantine validator runs the honest evaluator and then rewrites what it sends:

* ``accept_all`` — endorses every update (best value of every measure);
* ``reject_all`` — condemns every update (worst value of every measure);
* ``random`` — endorses or condemns each update by a seeded coin;
* ``withhold`` — never votes (its power counts against the quorum's liveness only);
* ``equivocate`` — signs an endorsement and a condemnation of the same update and sends
  them to different validators; the ledger keeps whichever is ordered first and refuses
  the other (a validator votes once per update).

The app decides from the median of each measure over the first votes reaching a > 2/3
quorum, so while at most f of n = 3f + 1 validators lie, every median lies between two
honest votes and no lie can flip a verdict the honest validators agree on. These rules
only forge measure maps; the runtimes sign and send them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

Measures = dict[str, float]

#: Extreme but finite values (the ledger refuses non-finite measures).
ENDORSE: Measures = {
    "loss_gain": 1e6,
    "loss_gain_se": 1e-12,
    "cosine": 1.0,
    "reference_agreement": 0.0,
    "norm_ratio": 1.0,
    "last_step_cosine": -1.0,
    "dp_cosine_z": 1e6,
    "dp_reference_cosine_z": -1e6,
}
CONDEMN: Measures = {
    "loss_gain": -1e6,
    "loss_gain_se": 1e-12,
    "cosine": -1.0,
    "reference_agreement": 1.0,
    "norm_ratio": 1e12,
    "last_step_cosine": 1.0,
    "dp_cosine_z": -1e6,
    "dp_reference_cosine_z": 1e6,
}


def _forge(honest: Mapping[str, float], extreme: Measures, score_shift: float) -> Measures:
    """The honest vote with every measure it carries replaced by ``extreme``'s value."""
    out = {k: extreme.get(k, v) for k, v in honest.items()}
    if "score" in honest and "base_score" in honest:
        out["score"] = honest["base_score"] + score_shift
    return out


def endorse(honest: Mapping[str, float]) -> Measures:
    return _forge(honest, ENDORSE, 1.0)


def condemn(honest: Mapping[str, float]) -> Measures:
    return _forge(honest, CONDEMN, -1.0)


def accept_all(honest: Mapping[str, float], rng: np.random.Generator) -> list[Measures]:
    return [endorse(honest)]


def reject_all(honest: Mapping[str, float], rng: np.random.Generator) -> list[Measures]:
    return [condemn(honest)]


def random_vote(honest: Mapping[str, float], rng: np.random.Generator) -> list[Measures]:
    return [endorse(honest) if rng.random() < 0.5 else condemn(honest)]


def withhold(honest: Mapping[str, float], rng: np.random.Generator) -> list[Measures]:
    return []


def equivocate(honest: Mapping[str, float], rng: np.random.Generator) -> list[Measures]:
    """Two conflicting votes: the first for the validator's own mempool, the second for
    another validator's."""
    return [endorse(honest), condemn(honest)]


#: Behaviour -> forger: honest measures (with score and base_score) -> votes to send.
VOTE_BEHAVIOURS: dict[str, Callable[[Mapping[str, float], np.random.Generator], list[Measures]]]
VOTE_BEHAVIOURS = {
    "accept_all": accept_all,
    "reject_all": reject_all,
    "random": random_vote,
    "withhold": withhold,
    "equivocate": equivocate,
}


def vote_behaviour(
    name: str,
) -> Callable[[Mapping[str, float], np.random.Generator], list[Measures]]:
    try:
        return VOTE_BEHAVIOURS[name]
    except KeyError:
        raise ValueError(
            f"unknown Byzantine validator behaviour {name!r}; known: {sorted(VOTE_BEHAVIOURS)}"
        ) from None
