"""The ledger's side of differential privacy: checking and recording DP claims on updates.

Deterministic (no Opacus, no clocks): the claim's parameters against the genesis minimum,
the claimed cumulative ε against the budget and, for the Gaussian mechanism, against the
ε the ledger computes itself from the trainer's releases; the Δ blob's norm against the
band an honest clipped-and-noised update falls in.
"""

from __future__ import annotations

import numpy as np

from flobc.algorithms import privacy as dp
from flobc.algorithms.validation import DeclaredNoise
from flobc.app.abci import TxCheck
from flobc.app.fl.config import PrivacyRules
from flobc.app.fl.state import TrainerInfo, UpdateInfo
from flobc.app.fl.txs import UpdateBody

#: Status for an update whose privacy claim the network does not accept.
REJECT = 422


def check_claim(rules: PrivacyRules | None, trainer: TrainerInfo, body: UpdateBody) -> TxCheck:
    """An update's DP claim against the network's rules and the trainer's history."""
    claim = body.dp
    if rules is None:
        return TxCheck()  # a network without DP rules ignores claims (they cost nothing)
    if claim is None:
        if rules.required:
            return TxCheck(REJECT, "this network requires differentially private updates")
        return TxCheck()
    if trainer.epsilon >= rules.epsilon_budget:
        return TxCheck(
            REJECT,
            f"privacy budget spent: epsilon {trainer.epsilon:.4f} of {rules.epsilon_budget}",
        )
    why = dp.check_claim(
        mechanism=claim.mechanism,
        clip=claim.clip,
        noise_multiplier=claim.noise_multiplier,
        epsilon=claim.epsilon,
        prev_epsilon=trainer.epsilon,
        prev_rho=trainer.dp_rho,
        min_noise_multiplier=rules.min_noise_multiplier,
        max_clip=rules.max_clip,
        epsilon_budget=rules.epsilon_budget,
        delta=rules.delta,
    )
    return TxCheck(REJECT, why) if why else TxCheck()


def check_delta(rules: PrivacyRules | None, body: UpdateBody, delta: np.ndarray) -> TxCheck:
    """The received Δ against its claim: clipped to C and carrying noise of scale σC."""
    if rules is None or body.dp is None:
        return TxCheck()
    why = dp.check_norm(body.dp.mechanism, body.dp.clip, body.dp.noise_multiplier, delta)
    return TxCheck(REJECT, why) if why else TxCheck()


def record(
    rules: PrivacyRules | None,
    trainer: TrainerInfo,
    body: UpdateBody,
    update: UpdateInfo | None = None,
) -> None:
    """Spend the privacy of an update once it is on the ledger (public, whatever its fate),
    and keep its claim with the update for the validation rule."""
    if rules is None or body.dp is None:
        return
    if update is not None:
        update.dp = body.dp
    trainer.epsilon = body.dp.epsilon
    trainer.dp_releases += 1
    if body.dp.mechanism == dp.Mechanism.GAUSSIAN:
        trainer.dp_rho += dp.zcdp_rho(body.dp.noise_multiplier)


def declared_noise(update: UpdateInfo) -> DeclaredNoise | None:
    """The noise the validation rule judges ``update`` against (None: a clean update)."""
    c = update.dp
    return None if c is None else DeclaredNoise(c.mechanism, c.clip, c.noise_multiplier)
