"""The ``[aggregation]`` section of the TOML config: a rule, its params and the clipping
pre-step are validated at load (one line naming the field) and written into the genesis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flobc.app.fl.config import FLConfig
from flobc.node_apps.fl.genesis import fl_app_state
from flobc.node_apps.fl.settings import ConfigError, load_config
from flobc.sim.fl_fixtures import tiny_config


def test_defaults_are_fedavg_without_clipping() -> None:
    a = load_config(None).aggregation
    assert (a.rule, a.params, a.clip_multiplier) == ("fedavg", {}, 0.0)


def test_a_rule_with_params_loads_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "fl.toml"
    path.write_text(
        '[aggregation]\nrule = "Multi-Krum"\nparams = { f = 2, m = 5 }\nclip_multiplier = 3.0\n'
    )
    a = load_config(path).aggregation
    assert (a.rule, a.params, a.clip_multiplier) == ("multi_krum", {"f": 2.0, "m": 5.0}, 3.0)


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"aggregation.rule": "avg"}, "aggregation.rule: unknown aggregator 'avg'; known: ["),
        (
            {"aggregation.rule": "krum", "aggregation.params": {"beta": 0.1}},
            "aggregation.params: unknown parameter(s) ['beta'] for aggregator 'krum'",
        ),
        (
            {"aggregation.rule": "trimmed_mean", "aggregation.params": {"beta": 0.7}},
            "aggregation.params: aggregator 'trimmed_mean': beta must be < 0.5, got 0.7",
        ),
        (
            {"aggregation.rule": "median", "aggregation.weight_by_samples": True},
            "aggregation.weight_by_samples: applies only to rule = 'fedavg', not 'median'",
        ),
        ({"aggregation.clip_multiplier": -1.0}, "aggregation.clip_multiplier"),
    ],
)
def test_bad_rules_are_refused_at_load_naming_the_field(
    overrides: dict[str, Any], line: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, **overrides)
    assert line in str(err.value)


def test_the_genesis_records_the_rule_for_every_validator() -> None:
    cfg = tiny_config(
        **{
            "aggregation.rule": "geometric_median",
            "aggregation.params": {"iterations": 4},
            "aggregation.clip_multiplier": 2.0,
        }
    )
    app_state, _ = fl_app_state(cfg, [])
    fl = FLConfig.from_app_state(app_state)
    assert (fl.aggregator, fl.aggregator_params, fl.clip_multiplier) == (
        "geometric_median",
        {"iterations": 4.0},
        2.0,
    )
    assert fl.aggregation_rule().name == "geometric_median+norm_clipping"
