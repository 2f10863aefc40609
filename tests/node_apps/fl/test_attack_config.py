"""``[[attacks]]`` in the run's TOML: who attacks with what, and clear errors at load time."""

from __future__ import annotations

from pathlib import Path

import pytest

from flobc.node_apps.fl.settings import ConfigError, FLRunConfig, load_config


def load(tmp_path: Path, attacks: str, trainers: int = 10, extra: str = "") -> FLRunConfig:
    path = tmp_path / "run.toml"
    path.write_text(f"{extra}\n[network]\ntrainers = {trainers}\n{attacks}")
    return load_config(path)


def test_trainers_and_fraction_choose_the_attackers(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        """
[[attacks]]
name = "sign_flip"
fraction = 0.3
params = { scale = 10 }

[[attacks]]
name = "label_flip"
trainers = [1, 0]
""",
    )
    assert cfg.attacks[0].indices(10) == [7, 8, 9]  # the LAST floor(0.3 * 10)
    assert cfg.attacks[1].indices(10) == [0, 1]
    assert cfg.attackers() == frozenset({0, 1, 7, 8, 9})
    entry = cfg.attack_entry(8)
    assert entry is not None and entry.params == {"scale": 10}
    assert cfg.attack_entry(3) is None
    ipm = load(tmp_path, '[[attacks]]\nname = "ipm"\nfraction = 0.45').attacks[0]
    assert ipm.indices(10) == [6, 7, 8, 9]  # floor(4.5) = 4: at most the fraction
    # it survives the JSON round trip the process launcher uses
    again = FLRunConfig.model_validate(cfg.model_dump(mode="json", exclude_none=True))
    assert again.attackers() == cfg.attackers()


def test_a_plugin_attack_is_resolved_at_load(tmp_path: Path) -> None:
    cfg = load(tmp_path, '[[attacks]]\nname = "flobc.ml.noise:noise_std"\ntrainers = [2]')
    assert cfg.attack_entry(2) is not None


@pytest.mark.parametrize(
    "attacks,match",
    [
        ('name = "nope"\ntrainers = [1]', "unknown attack 'nope'"),
        ('name = "sign_flip"\ntrainers = [10]', "trainer 10 does not exist"),
        ('name = "sign_flip"\ntrainers = [-1]', "trainer indices are >= 0"),
        ('name = "sign_flip"\ntrainers = []', "trainers is empty"),
        ('name = "sign_flip"\ntrainers = [1, 1]', "a trainer is listed twice"),
        ('name = "sign_flip"\nfraction = 1.0', "less than 1"),
        ('name = "sign_flip"\nfraction = 0', "greater than 0"),
        ('name = "sign_flip"\nfraction = -0.2', "greater than 0"),
        ('name = "sign_flip"', "give either trainers"),
        ('name = "sign_flip"\ntrainers = [1]\nfraction = 0.2', "give either trainers"),
        ('name = "sign_flip"\ntrainers = [1]\nparams = { sacle = 2 }', "no parameter 'sacle'"),
        ('name = "label_flip"\ntrainers = [1]\nsybil = true', "sybil needs a model attack"),
        ('name = "nowhere.mod:fn"\ntrainers = [1]', "cannot import module 'nowhere.mod'"),
        ('name = "sign_flip"\ntrainers = [1]\ncolour = 1', "Extra inputs are not permitted"),
    ],
)
def test_bad_attack_entries_fail_at_load(tmp_path: Path, attacks: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load(tmp_path, f"[[attacks]]\n{attacks}")


def test_a_trainer_with_two_attacks_is_an_error(tmp_path: Path) -> None:
    two = (
        '[[attacks]]\nname = "sign_flip"\ntrainers = [9]\n[[attacks]]\nname = "ipm"\nfraction = 0.1'
    )
    with pytest.raises(ConfigError, match="trainer 9 is given two attacks: 'sign_flip' and 'ipm'"):
        load(tmp_path, two)


def test_noise_k_and_attacks_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exclusive"):
        load(
            tmp_path,
            '[[attacks]]\nname = "sign_flip"\ntrainers = [1]',
            extra="[training]\nnoise_k = 0.05",
        )


def test_overrides_can_set_attacks() -> None:
    cfg = load_config(None, attacks=[{"name": "alie", "fraction": 0.3}])
    assert cfg.attackers() == frozenset({5, 6})  # default 7 trainers: floor(2.1) = 2


def test_a_fraction_that_selects_no_trainer_is_an_error() -> None:
    with pytest.raises(ConfigError, match="selects none"):
        load_config(None, attacks=[{"name": "alie", "fraction": 0.1}])  # floor(0.7) = 0
