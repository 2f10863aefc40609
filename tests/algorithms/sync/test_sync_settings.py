"""The sync settings: one definition, one set of defaults, validated; the registry."""

from __future__ import annotations

import msgspec
import pytest

from flobc.algorithms.sync import (
    ASP,
    BAP,
    BSP,
    DEFAULT_SYNC,
    SCHEMES,
    SSP,
    SyncSettings,
    scheme_class,
    sync_scheme,
)
from flobc.app.fl.config import FLConfig
from flobc.node_apps.fl.settings import SyncSection, load_config


def test_registry_holds_one_class_per_scheme() -> None:
    assert SCHEMES == {"bsp": BSP, "ssp": SSP, "bap": BAP, "asp": ASP}
    assert all(cls.name == name for name, cls in SCHEMES.items())
    assert isinstance(sync_scheme(SyncSettings("SSP")), SSP)  # case-insensitive
    assert scheme_class(" bap ") is BAP


def test_defaults_are_the_documented_ones() -> None:
    # README's [sync] example and every results.json ran with these
    assert (DEFAULT_SYNC.scheme, DEFAULT_SYNC.period_ms, DEFAULT_SYNC.wait_for_all) == (
        "bsp",
        20_000,
        True,
    )
    assert DEFAULT_SYNC.ssp_max_extra_steps == 20
    assert DEFAULT_SYNC.round_cap_ms == 10 * 20_000


def test_toml_section_and_genesis_share_the_defaults() -> None:
    section = SyncSection()
    assert section.settings() == DEFAULT_SYNC
    assert load_config(None).sync.settings() == DEFAULT_SYNC
    (sync,) = [f for f in msgspec.structs.fields(FLConfig) if f.name == "sync"]
    assert sync.type is SyncSettings and sync.default == DEFAULT_SYNC


def test_toml_section_converts_seconds() -> None:
    s = SyncSection(scheme="bap", period_s=1.5, max_round_s=7, adaptive_max_s=30)
    assert s.settings() == SyncSettings("bap", 1_500, max_round_ms=7_000, adaptive_max_ms=30_000)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"period_ms": 0},
        {"majority_ratio": 0.0},
        {"majority_ratio": 1.5},
        {"max_round_ms": 0},
        {"ssp_max_extra_steps": -1},
        {"asp_threshold": float("nan")},
        {"adaptive_percentile": 0.0},
        {"adaptive_window": 0},
        {"adaptive_min_ms": 5_000, "adaptive_max_ms": 1_000},
    ],
)
def test_bad_settings_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SyncSettings(**kwargs)
    with pytest.raises(msgspec.ValidationError):  # also when read from a genesis
        msgspec.convert(kwargs, SyncSettings)


def test_unknown_scheme_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown sync scheme 'gossip'; known: \['asp'"):
        sync_scheme(SyncSettings("gossip"))
    with pytest.raises(ValueError, match=r"sync\.scheme: unknown sync scheme 'gossip'"):
        load_config(None, **{"sync.scheme": "gossip"})


def test_toml_refuses_what_the_ledger_would() -> None:
    with pytest.raises(ValueError, match="adaptive_min_ms must be > 0 and <= adaptive_max_ms"):
        load_config(None, **{"sync.adaptive_min_s": 10, "sync.adaptive_max_s": 5})
