"""The ``[sync]`` section of the TOML config: the scheme is a registry name, the defaults
are the genesis', and the genesis records exactly :meth:`SyncSection.settings`."""

from __future__ import annotations

import pytest

from flobc.algorithms.sync import SCHEMES, SyncSettings
from flobc.app.fl.config import FLConfig
from flobc.node_apps.fl.genesis import fl_app_state
from flobc.node_apps.fl.settings import ConfigError, load_config
from flobc.sim.fl_fixtures import tiny_config


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_the_genesis_records_the_sync_settings(scheme: str) -> None:
    cfg = tiny_config(
        **{
            "sync.scheme": scheme.upper(),
            "sync.period_s": 2.5,
            "sync.max_round_s": 9,
            "sync.ssp_max_extra_steps": 7,
            "sync.majority_ratio": 0.6,
            "sync.adaptive": True,
        }
    )
    assert cfg.sync.scheme == scheme
    app_state, _ = fl_app_state(cfg, [])
    fl = FLConfig.from_app_state(app_state)
    assert fl.sync == cfg.sync.settings()
    assert fl.scheme().name == scheme
    assert fl.sync == SyncSettings(
        scheme, 2_500, False, 0.6, 9_000, 7, adaptive=True
    )  # tiny_config turns wait_for_all off


def test_an_unknown_scheme_is_one_line_naming_the_field() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, **{"sync.scheme": "gossip"})
    assert "sync.scheme: unknown sync scheme 'gossip'; known: ['asp', 'bap', 'bsp', 'ssp']" in (
        str(err.value)
    )
    assert "\n" not in str(err.value)


def test_an_unknown_scheme_in_a_genesis_is_refused() -> None:
    app_state, _ = fl_app_state(tiny_config(), [])
    app_state["fl"]["sync"]["scheme"] = "gossip"
    with pytest.raises(ValueError, match="invalid FL config in genesis: unknown sync scheme"):
        FLConfig.from_app_state(app_state)
