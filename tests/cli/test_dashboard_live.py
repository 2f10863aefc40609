"""The dashboard on a live FL network of real processes on loopback.

Headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by Selenium with
explicit paths, so nothing is downloaded) loads the page of validator 0: it lists the
versions, shows a newly released version without a reload, and logs no console error.
Also: ``flobc dashboard NETDIR`` and the list endpoints the page uses.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flobc.orchestration import processes as net
from flobc.orchestration.fl_setup import fl_network_args
from flobc.orchestration.netdir import create_network, list_nodes
from flobc.sim.fl_fixtures import tiny_config

pytestmark = [pytest.mark.processes, pytest.mark.timeout(300)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def wait_until(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def latest(url: str) -> int:
    try:
        return int(get(url + "/v1/models/latest")["version"])
    except (OSError, ValueError):
        return -1


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A 3-validator, 3-trainer FL network that keeps releasing versions."""
    netdir = tmp_path_factory.mktemp("dashboard") / "net"
    cfg = tiny_config(**{"network.validators": 3, "network.trainers": 3, "sync.period_s": 3})
    create_network(netdir, validators=3, trainers=3, **fl_network_args(None, cfg=cfg))
    try:
        rows = net.up(netdir, timeout=120)
        assert all(r.state == net.READY for r in rows), [(r.entry.name, r.state) for r in rows]
        url = list_nodes(netdir)[0].url
        wait_until(lambda: latest(url) >= 2, 150, "model version 2")
        yield netdir, url
    finally:
        net.down(netdir)


def test_cli_prints_the_dashboard_url(live: tuple[Path, str], tmp_path: Path) -> None:
    netdir, url = live
    cmd = [sys.executable, "-m", "flobc.cli.main", "dashboard", str(netdir)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == url + "/"
    stopped = tmp_path / "stopped"
    create_network(stopped, validators=1)
    res = subprocess.run([*cmd[:-1], str(stopped)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "flobc net up" in res.stderr


def test_list_endpoints(live: tuple[Path, str]) -> None:
    _, url = live
    versions = get(url + "/v1/models")
    assert [v["version"] for v in versions] == list(range(len(versions)))
    assert get(url + "/v1/models?since=1&limit=1")[0]["version"] == 1
    # A version is scored by the validators that voted on updates trained from it.
    scored = [v["validation"] for v in versions if v["validation"]["median"] is not None]
    assert scored, versions
    for val in scored:
        assert set(val["by_validator"]) <= {"0", "1", "2"}
        assert min(val["by_validator"].values()) <= val["median"]
        assert val["median"] <= max(val["by_validator"].values())
    ups = get(url + "/v1/updates?limit=5")
    assert 0 < len(ups) <= 5
    assert [u["height"] for u in ups] == sorted((u["height"] for u in ups), reverse=True)
    assert all(u["round"] == 1 for u in get(url + "/v1/updates?round=1"))
    for status in ("accepted", "rejected"):
        assert all(u["status"] == status for u in get(url + f"/v1/updates?status={status}"))
    decided = [u for u in get(url + "/v1/updates?limit=50") if u["decided_height"] is not None]
    assert decided and all(len(u["votes"]) >= 2 for u in decided)
    for bad in ("limit=0", "limit=x", "round=-1", "version=1.5", "since=-3"):
        path = "/v1/models?" if bad.startswith("since") else "/v1/updates?"
        assert status_of(url + path + bad) == 400, bad
    net_doc = get(url + "/v1/network")
    assert net_doc["app"] == "fl" and net_doc["metric"]["name"] == "accuracy"
    assert [v["reachable"] for v in net_doc["validators"]] == [True, True, True]


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install both)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (test extra)")
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not download anything
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.add_argument("--window-size=1400,1800")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    try:
        yield drv
    finally:
        drv.quit()


def test_page_lists_versions_and_updates_live(live: tuple[Path, str], browser: Any) -> None:
    _, url = live
    drv = browser
    drv.get(url + "/")
    js = drv.execute_script

    def shown_versions() -> list[int]:
        return js(
            "return [...document.querySelectorAll('#versions tbody tr')]"
            ".map(r => Number(r.dataset.version))"
        )

    wait_until(lambda: len(shown_versions()) >= 3, 60, "the versions table")
    shown = shown_versions()  # one read: the live page may add a version between two
    assert shown == sorted(shown, reverse=True)  # newest first
    assert shown[-1] == 0
    newest = shown[0]
    assert js("return document.getElementById('h-version').textContent") == str(newest)
    js("window.__sameDocument = true")

    # A release arrives over /v1/events and the page shows it without a reload.
    wait_until(lambda: shown_versions()[0] > newest, 120, "a new version on the page")
    assert js("return window.__sameDocument") is True
    assert int(js("return document.body.dataset.events || '0'")) > 0
    assert "on" in js("return document.getElementById('live').className")

    # Nodes, round, charts, updates with every validator's vote.
    assert len(js("return document.querySelectorAll('#nodes tbody tr')")) == 3
    assert js("return document.getElementById('h-round').textContent").endswith("BSP")
    for chart in ("chart-accuracy", "chart-trust", "chart-decisions"):
        assert js(f"return document.querySelectorAll('#{chart} canvas').length") == 1, chart
    wait_until(
        lambda: js("return document.querySelectorAll('#updates tbody .vote').length") >= 2,
        30,
        "votes in the updates table",
    )
    errors = [e for e in drv.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
