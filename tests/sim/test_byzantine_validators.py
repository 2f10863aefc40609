"""Byzantine validators in the simulator: while at most f of n = 3f + 1 lie in their votes,
no decision changes; more liars than that can flip decisions (the negative control)."""

from __future__ import annotations

from typing import Any

import pytest

from flobc.app.fl.app import FLApp
from flobc.node_apps.fl.settings import ConfigError
from flobc.sim.fl_fixtures import tiny_config
from flobc.sim.fl_network import SimFLNetwork

VERSIONS = 3


def _decisions(**overrides: Any) -> tuple[dict[str, str], list[str]]:
    """(update id -> status, version weights) of a 4-validator run, and the failed txs."""
    net = SimFLNetwork(tiny_config(**{"network.validators": 4, **overrides}))
    assert net.run_until_version(VERSIONS, 90_000)
    app: FLApp = net.ledger.node(0).app  # type: ignore[assignment]
    versions = [v.weights for v in app.state.versions[: VERSIONS + 1]]
    done = {u.id: u.status for u in app.state.updates.values() if u.round <= VERSIONS}
    return done, versions


@pytest.fixture(scope="module")
def honest() -> tuple[dict[str, str], list[str]]:
    return _decisions()


@pytest.mark.parametrize(
    "behaviour", ["accept_all", "reject_all", "random", "withhold", "equivocate"]
)
def test_one_byzantine_validator_of_four_flips_no_decision(
    honest: tuple[dict[str, str], list[str]], behaviour: str
) -> None:
    byz = [{"behaviour": behaviour, "validators": [3]}]
    decisions, versions = _decisions(byzantine_validators=byz)
    assert decisions == honest[0]
    assert versions == honest[1]


def test_two_liars_of_four_can_reject_honest_work(
    honest: tuple[dict[str, str], list[str]],
) -> None:
    """Negative control: past the f bound, a quorum holding both liars decides their way."""
    byz = [{"behaviour": "reject_all", "validators": [2, 3]}]
    decisions, _ = _decisions(byzantine_validators=byz)
    rejected = sum(s == "rejected" for s in decisions.values())
    assert "rejected" not in honest[0].values()
    assert rejected >= 2


def test_bad_byzantine_configuration_is_refused() -> None:
    with pytest.raises(ConfigError, match="no validator 4"):
        tiny_config(
            **{"network.validators": 4},
            byzantine_validators=[{"behaviour": "withhold", "validators": [4]}],
        )
    with pytest.raises(ConfigError, match="unknown Byzantine validator behaviour"):
        tiny_config(byzantine_validators=[{"behaviour": "lie", "validators": [0]}])
