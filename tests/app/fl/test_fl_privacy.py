"""The FL app's DP rules: claims against the genesis minimum and budget, the Δ norm band,
and ε spent per trainer in the state and ``/v1/trainers`` (toy model, no ML)."""

from __future__ import annotations

from typing import Any

import numpy as np

from flobc.algorithms import privacy as dp
from flobc.app.fl.txs import DPClaim, UpdateBody, update_tx
from flobc.chain.types import SignedTx
from flobc.encoding import decode, encode, sha256
from flobc.sim.fl_fixtures import AppDriver, f32

SIZE = 2000
RULES = {"epsilon_budget": 8.0, "delta": 1e-5, "min_noise_multiplier": 1.0, "max_clip": 5.0}


def _driver(**rules: Any) -> AppDriver:
    return AppDriver(trainers=2, size=SIZE, privacy={**RULES, **rules})


def _honest(sigma: float = 2.0, clip: float = 1.0, release: int = 0) -> np.ndarray:
    rng = np.random.default_rng(release)
    return dp.clip_and_noise(rng.normal(0, 1, SIZE), clip, sigma, dp.dp_rng(0, 0, 0, release))


def _eps(sigma: float, releases: int = 1) -> float:
    return dp.epsilon_from_rho(releases * dp.zcdp_rho(sigma), 1e-5) * (1 + 1e-9)


def _update(d: AppDriver, delta: np.ndarray, claim: DPClaim | None) -> tuple[SignedTx, bytes]:
    blob = f32(delta).tobytes()
    d.blobs.put(blob)
    body = UpdateBody(d.state.version.version, sha256(blob), 10, 0, claim)
    key = d.tkeys[0]
    return update_tx(d.chain_id, key, body, d.next_nonce(key)), blob


def _submit(d: AppDriver, delta: np.ndarray, claim: DPClaim | None) -> tuple[int, str]:
    """CheckTx and the blob check, as a validator's ``POST /v1/updates`` runs them."""
    tx, blob = _update(d, delta, claim)
    check = d.app.check_tx(tx)
    if check.ok:
        check = d.app.check_blob(tx, blob)
    return check.code, check.message


def test_an_honest_dp_update_is_admitted_and_its_epsilon_recorded() -> None:
    d = _driver()
    claim = DPClaim("gaussian", 1.0, 2.0, _eps(2.0))
    assert _submit(d, _honest(), claim) == (0, "")
    tx, _ = _update(d, _honest(release=1), claim)
    assert d.block([tx]).tx_results[0].code == 0
    t = d.state.trainers[d.tid(0)]
    assert (t.epsilon, t.dp_releases) == (claim.epsilon, 1)
    assert t.dp_rho == dp.zcdp_rho(2.0)
    row = next(r for r in d.app.query("trainers", {}) if r["id"] == d.tid(0))
    assert row["epsilon"] == claim.epsilon and row["dp_releases"] == 1


def test_updates_without_dp_are_refused_when_required_admitted_otherwise() -> None:
    code, msg = _submit(_driver(), _honest(), None)
    assert code == 422 and "requires differentially private updates" in msg
    assert _submit(_driver(required=False), _honest(), None) == (0, "")


def test_cheating_claims_and_deltas_are_refused() -> None:
    d = _driver()
    cases = [
        (_honest(0.5), DPClaim("gaussian", 1.0, 0.5, 7.9), "below the network minimum"),
        (_honest(2.0, 6.0), DPClaim("gaussian", 6.0, 2.0, _eps(2.0)), "exceeds the network"),
        (_honest(), DPClaim("gaussian", 1.0, 2.0, 0.01), "below the ledger's"),
        (_honest(1.0), DPClaim("gaussian", 1.0, 1.0, 9.0), "exceed the budget"),
        # claims DP but skipped the noise (clipped only), or skipped the clipping
        (_honest(1e-9), DPClaim("gaussian", 1.0, 2.0, _eps(2.0)), "too small for noise"),
        (_honest() * 10, DPClaim("gaussian", 1.0, 2.0, _eps(2.0)), "exceeds clip"),
    ]
    for delta, claim, message in cases:
        code, msg = _submit(d, delta, claim)
        assert code == 422 and message in msg, (claim, msg)


def test_the_budget_is_enforced_across_rounds() -> None:
    """σ = 3.5 over 30 releases spends just under ε = 8; the ledger refuses a claim that
    hides the spending, and once the budget is reached any further update."""
    d = _driver(min_noise_multiplier=3.0)
    t = d.state.trainers[d.tid(0)]
    t.dp_rho, t.epsilon, t.dp_releases = 29 * dp.zcdp_rho(3.5), _eps(3.5, 29), 29
    last = _eps(3.5, 30)
    assert last < 8.0 < _eps(3.5, 31)
    assert _submit(d, _honest(3.5), DPClaim("gaussian", 1.0, 3.5, last)) == (0, "")
    code, msg = _submit(d, _honest(3.5), DPClaim("gaussian", 1.0, 3.5, t.epsilon + 0.01))
    assert code == 422 and "below the ledger's" in msg
    t.epsilon = 8.0
    code, msg = _submit(d, _honest(3.5), DPClaim("gaussian", 1.0, 3.5, 8.0))
    assert code == 422 and "privacy budget spent" in msg


def test_dpsgd_claims_are_checked_for_budget_and_order_only() -> None:
    d = _driver()
    delta = np.random.default_rng(0).normal(0, 0.01, SIZE)
    assert _submit(d, delta, DPClaim("dpsgd", 1.0, 1.1, 0.3)) == (0, "")
    code, msg = _submit(d, delta, DPClaim("dpsgd", 1.0, 1.1, 8.5))
    assert code == 422 and "exceed the budget" in msg


def test_old_update_encodings_still_decode() -> None:

    import msgspec

    class OldBody(msgspec.Struct, array_like=True, frozen=True):
        base_version: int
        update_hash: bytes
        num_samples: int
        local_steps: int = 0

    raw = encode(OldBody(3, b"h" * 32, 10, 2))
    body = decode(raw, UpdateBody)
    assert (body.base_version, body.local_steps, body.dp) == (3, 2, None)


def test_the_robust_rule_judges_a_dp_update_against_its_declared_noise() -> None:
    d = AppDriver(
        validators=3,
        trainers=2,
        size=SIZE,
        privacy=RULES,
        validation="robust",
        validation_params={},
    )
    claim = DPClaim("gaussian", 1.0, 2.0, _eps(2.0))
    tx, _ = _update(d, _honest(), claim)
    assert d.block([tx]).tx_results[0].code == 0
    upd = d.state.updates[tx.hash.hex()]
    assert upd.dp == claim
    norm = float(np.linalg.norm(_honest()))
    # what a validator measures of an honest noised update: the noise dominates its
    # direction, size (37x its reference) and loss, and it is still accepted
    noisy = {
        "loss_gain": -0.5,
        "loss_gain_se": 0.1,
        "cosine": 0.002,
        "reference_agreement": 0.5,
        "norm_ratio": 37.0,
        "last_step_cosine": 0.0,
        "update_norm": norm,
        "dimension": float(SIZE),
        "dp_cosine_z": 0.0,
        "dp_reference_cosine_z": 0.0,
    }
    d.block([d.vote(j, tx, 0.0, measures=noisy) for j in range(3)])
    upd = d.state.updates[tx.hash.hex()]
    assert upd.status == "accepted", upd.reason
    # the same measures without the claim are the clean rule's: rejected
    d2 = AppDriver(validators=3, trainers=2, size=SIZE, validation="robust", validation_params={})
    tx2, _ = _update(d2, _honest(), None)
    d2.block([tx2])
    d2.block([d2.vote(j, tx2, 0.0, measures=noisy) for j in range(3)])
    assert d2.state.updates[tx2.hash.hex()].status == "rejected"
