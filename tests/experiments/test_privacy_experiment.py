"""``flobc experiment privacy``, cut to fit CI: 2 rounds, ε = ∞ and the Gaussian mechanism
at ε = 8, and the reconstruction check on 10 images (skipped without the privacy extra)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opacus")
pytest.importorskip("skimage")

from flobc.experiments import privacy
from flobc.experiments.runtime import Runner
from flobc.experiments.settings import Options


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    opts = Options(quick=True, rounds=2, out=tmp_path_factory.mktemp("privacy"))
    d = privacy.run(opts, Runner(opts), only=[("none", math.inf), ("gaussian", 8.0)], images=10)
    privacy.write(d, opts)
    return d


def test_cells_have_the_issue_fields_and_the_ledger_shows_epsilon(doc: dict[str, Any]) -> None:
    keys = {"epsilon", "delta", "noise_multiplier", "clip", "final_accuracy", "max_accuracy"}
    cells = {c["mechanism"]: c for c in doc["cells"]}
    for c in cells.values():
        assert keys | {"honest_false_rejection"} <= set(c) and c["validators_agreed"]
    plain, dp = cells["none"], cells["gaussian"]
    assert plain["epsilon"] is None and plain["epsilon_spent"] == {}
    assert dp["epsilon"] == 8.0 and dp["noise_multiplier"] > 0.5
    spent = dp["epsilon_spent"]
    assert len(spent) == 7 and all(7.9 <= e <= 8.0 for e in spent.values())
    assert plain["max_accuracy"] > 0.5


def test_reconstruction_without_dp_recovers_the_image_with_dp_not(doc: dict[str, Any]) -> None:
    rows = doc["reconstruction"]["rows"]
    assert rows["no DP"]["ssim"] > 0.99  # the analytic attack is exact without noise
    assert not rows["no DP"]["ssim_no_better_than_random"]
    assert rows["gaussian eps=8"]["ssim_no_better_than_random"]
    assert rows["gaussian eps=8"]["ssim"] < rows["no DP"]["ssim"] - 0.5


def test_writes_results_plots_and_report(doc: dict[str, Any]) -> None:
    out = Path(doc["options"]["out"])
    for name in ("results.json", "report.md", "accuracy.png", "reconstruction.png"):
        assert (out / name).stat().st_size > 0
    assert json.loads((out / "results.json").read_text())["cells"] == doc["cells"]
    assert "Reconstruction check" in (out / "report.md").read_text()
