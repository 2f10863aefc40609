"""``flobc experiment``: options, presets, helpers, the results folder, and processes mode."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from flobc.cli.main import cli
from flobc.experiments import NAMES, experiment, reputation, split, sync
from flobc.experiments.report import table
from flobc.experiments.runtime import Runner
from flobc.experiments.settings import (
    FULL,
    QUICK,
    Options,
    make_config,
    parse_override,
    sim_timing,
)
from flobc.orchestration.round_profile import PHASES as ROUND_PHASES


def test_presets_and_config() -> None:
    quick = make_config(Options(quick=True, seed=4))
    assert (quick.data.dataset, quick.model.name, quick.seed) == ("digits", "small-cnn", 4)
    full = make_config(Options(), **{"network.trainers": 6})
    assert (full.data.dataset, full.model.name) == ("fashion-mnist", "paper-cnn")
    assert full.data.max_train_samples == FULL.max_train_samples
    assert full.network.trainers == 6
    assert Options(quick=True).n_rounds == QUICK.rounds
    assert Options(rounds=3).n_rounds == 3


def test_set_overrides_apply_last() -> None:
    assert parse_override("training.epochs=3") == ("training.epochs", 3)
    assert parse_override("training.speed=[1, 2.5]") == ("training.speed", [1, 2.5])
    assert parse_override("sync.wait_for_all=false") == ("sync.wait_for_all", False)
    assert parse_override("model.name=mlp") == ("model.name", "mlp")
    with pytest.raises(ValueError):
        parse_override("no-equals-sign")
    opts = Options(quick=True, overrides={"reputation.acceptance_threshold": 0.0})
    cfg = sync.config(opts, "BSP", 8.0, 100)
    assert cfg.reputation.acceptance_threshold == 0.0  # the user's --set beats the arm's -1


def test_sim_timing_scales_with_data() -> None:
    opts = Options(quick=True)
    cfg = make_config(opts)
    t = sim_timing(cfg, opts)
    # digits: 1151 training images, 30% per trainer, 5 ms per image and epoch
    assert t.train_ms_per_epoch == round(5.0 * 1151 * 0.3)
    assert t.eval_ms == round(1.0 * 287 / 3)


def test_helpers() -> None:
    assert set(NAMES) == {"benchmark", "split", "reputation", "sync", "robustness", "privacy"}
    with pytest.raises(ValueError):
        experiment("nope")
    assert split.splits() == [(t, 10 - t) for t in range(9, 0, -1)]
    assert reputation.table_rounds(30) == [0, 5, 10, 15, 20, 25, 30]
    assert reputation.table_rounds(8) == [0, 5, 8]
    assert table(["a", "b"], [[1, 0.123456]]).splitlines()[-1] == "| 1 | 0.1235 |"


def test_sync_period_between_paces() -> None:
    opts = Options(quick=True)
    runner = Runner(opts)
    timing, period_s = sync.timing_and_period(sync.config(opts, "BSP", 1.0, 1), runner)
    train_s = timing.train_ms_per_epoch * QUICK.epochs / 1000
    assert train_s >= sync.MIN_ROUND_TRAIN_MS / 1000
    # speed 1.5 trainers fit in the period with >= 1 s to spare, speed 2 ones do not
    assert 1.5 * train_s + 1.0 < period_s < 2.0 * train_s + 1.0


def test_cli_writes_results_folder_and_replots(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    args = ["experiment", "reputation", "--quick", "--rounds", "2", "--seed", "1",
            "--set", "training.epochs=1"]  # fmt: skip
    res = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["experiment"] == "reputation" and doc["options"]["seed"] == 1
    assert "flobc experiment reputation" in doc["options"]["command"]
    assert "--set training.epochs=1" in doc["options"]["command"]
    assert doc["config"]["training"]["epochs"] == 1
    assert [v["version"] for v in doc["runs"]["scoring"]["versions"]] == [0, 1, 2]
    for name in ("report.md", "accuracy.png", "scores.png"):
        assert (out / name).stat().st_size > 0
    (out / "report.md").unlink()
    res = CliRunner().invoke(cli, ["experiment", "reputation", "--out", str(out), "--replot"])
    assert res.exit_code == 0, res.output
    assert "Table I" in (out / "report.md").read_text()


def test_cli_sync_is_simulator_only(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli, ["experiment", "sync", "--quick", "--runtime", "processes", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0
    assert "simulator only" in res.output
    assert not (tmp_path / "results.json").exists()


def test_cli_missing_dataset_is_a_clear_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli,
        ["experiment", "benchmark", "--dataset", "mnist", "--data-dir", str(tmp_path),
         "--rounds", "1", "--out", str(tmp_path / "o")],
    )  # fmt: skip
    assert res.exit_code != 0
    assert "mnist" in res.output.lower()


@pytest.mark.parametrize(
    ("extra", "field", "why"),
    [
        (["--ray-address", "10.0.0.1:6379"], "--ray-address", "needs --executor ray"),
        (["--executor", "ray", "--runtime", "processes"], "--executor", "only the simulator"),
    ],
)
def test_cli_executor_options_are_checked(
    tmp_path: Path, extra: list[str], field: str, why: str
) -> None:
    out = tmp_path / "o"
    res = CliRunner().invoke(cli, ["experiment", "benchmark", "--out", str(out), *extra])
    assert res.exit_code == 2
    assert field in res.output and why in res.output
    assert not out.exists()


def test_runner_executor_default_is_in_process() -> None:
    opts = Options(quick=True)
    runner = Runner(opts)
    cfg = make_config(opts)
    assert runner.executor(cfg).name == "inprocess"
    assert runner.executor(cfg) is runner.executor(cfg)


@pytest.mark.processes
@pytest.mark.timeout(300)
def test_benchmark_on_real_processes(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    res = CliRunner().invoke(
        cli,
        ["experiment", "benchmark", "--quick", "--rounds", "3", "--runtime", "processes",
         "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "results.json").read_text())
    dec = doc["decentralized"]
    assert dec["runtime"] == "processes" and dec["agreed"]
    assert [v["version"] for v in dec["versions"]][:4] == [0, 1, 2, 3]
    assert dec["versions"][-1]["accuracy"] > 0.5
    o = doc["summary"]["overhead"]
    assert o["slowest_training_s"] > 0 and o["ratio"] > 1.0
    assert doc["summary"]["traffic"]["estimated"]
    # where the rounds went: the ledger's phases add up to each round; CPU per role
    times = {v["version"]: v["time_s"] for v in dec["versions"]}
    for p in dec["extra"]["round_profile"]:
        phases = sum(p[k] for k in ROUND_PHASES)
        assert phases == pytest.approx(times[p["version"]] - times[p["version"] - 1], abs=2e-3)
    cpu = dec["extra"]["cpu_per_round_s"]
    assert cpu["validators"] > 0 and cpu["trainers"] > 0 and cpu["wall"] > 0
    assert len(dec["extra"]["loadavg_at_start"]) == len(dec["extra"]["loadavg_at_end"]) == 3
    assert not (out / "_networks").exists()
    ps = subprocess.run(["pgrep", "-f", str(out)], capture_output=True, text=True)
    assert ps.stdout.strip() == "", f"processes left running: {ps.stdout}"
