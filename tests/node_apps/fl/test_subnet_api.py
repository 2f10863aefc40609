"""Over real HTTP, a network of two model subnetworks: ``GET /v1/subnets``, the
``?subnet=NAME`` choice (a 400 JSON error naming the parameter when it is missing or
unknown), per-subnet models and metrics; and a validator refusing a genesis whose
subnetwork has a node both training and validating, with a one-line error."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from flobc.chain.genesis import Genesis
from flobc.cli.main import cli
from flobc.crypto.keys import KeyPair
from flobc.node_apps.fl.subnets import split_config
from flobc.orchestration import processes as net
from flobc.orchestration.fl_setup import fl_network_args, total_trainers
from flobc.orchestration.netdir import create_network, list_nodes
from flobc.sim.fl_fixtures import tiny_config

pytestmark = [pytest.mark.processes, pytest.mark.timeout(120)]


def two_subnets() -> Any:
    cfg = tiny_config(**{"network.validators": 2, "network.trainers": 3})
    return split_config(cfg, 2)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    netdir = tmp_path_factory.mktemp("subnet-api") / "net"
    cfg = two_subnets()
    genesis = create_network(
        netdir, validators=2, trainers=total_trainers(cfg), **fl_network_args(None, cfg=cfg)
    )
    try:
        rows = net.up(netdir, validators_only=True, timeout=60)
        assert all(r.state == net.READY for r in rows if r.entry.role == "validator"), rows
        yield {"url": list_nodes(netdir)[0].url, "genesis": genesis, "netdir": netdir}
    finally:
        net.down(netdir)


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read()
            return resp.status, (json.loads(body) if body[:1] in (b"[", b"{") else body)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_subnets_are_listed_in_genesis_order(network: dict[str, Any]) -> None:
    status, docs = get(network["url"] + "/v1/subnets")
    assert status == 200
    assert [d["name"] for d in docs] == ["small-cnn", "mlp"]
    assert [d["trainers"] for d in docs] == [2, 1]
    keys = [v.public_key.hex() for v in network["genesis"].validators]
    assert [d["validators"] for d in docs] == [[keys[0]], [keys[1]]]
    # every trainer home names its subnetwork
    homes = [e for e in list_nodes(network["netdir"]) if e.role == "trainer"]
    assert [e.settings.extra["subnet"] for e in homes] == ["small-cnn", "small-cnn", "mlp"]


@pytest.mark.parametrize(
    "path",
    ["/v1/models/latest", "/v1/round", "/v1/trainers", "/v1/config", "/v1/models", "/v1/updates"],
)
def test_every_fl_endpoint_needs_a_known_subnet(network: dict[str, Any], path: str) -> None:
    url = network["url"] + path
    status, doc = get(url)
    assert status == 400 and doc["error"].startswith("subnet: this network has 2"), doc
    status, doc = get(url + "?subnet=nope")
    assert status == 400 and "unknown subnetwork 'nope'" in doc["error"], doc
    for name in ("small-cnn", "mlp"):
        status, _ = get(f"{url}?subnet={name}")
        assert status == 200


def test_each_subnet_serves_its_own_model(network: dict[str, Any]) -> None:
    sizes = {}
    for name in ("small-cnn", "mlp"):
        status, doc = get(network["url"] + f"/v1/config?subnet={name}")
        assert status == 200
        sizes[name] = doc["model"]["size"]
        status, blob = get(network["url"] + f"/v1/models/0/weights?subnet={name}")
        assert status == 200 and len(blob) > 4 * doc["model"]["size"]
    assert sizes["small-cnn"] != sizes["mlp"]


def test_metrics_carry_a_subnet_label(network: dict[str, Any]) -> None:
    with urllib.request.urlopen(network["url"] + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    # rounds close on time even without trainers, so the versions may have moved on
    for name in ("small-cnn", "mlp"):
        assert re.search(rf'^flobc_model_version{{subnet="{name}"}} \d+\.0$', text, re.M), text
    assert re.search(r'^flobc_trainer_trust\{name="",subnet="mlp",trainer="\w+"\} ', text, re.M)


def test_a_node_both_training_and_validating_one_subnet_is_refused(tmp_path: Path) -> None:
    netdir = tmp_path / "net"
    cfg = two_subnets()
    create_network(
        netdir, validators=2, trainers=total_trainers(cfg), **fl_network_args(None, cfg=cfg)
    )
    home = netdir / "validator-0"
    genesis = Genesis.load(home / "genesis.json")
    state = json.loads(json.dumps(genesis.app_state))
    me = KeyPair.load(home / "node_key.json")
    state["fl"]["subnets"][0]["trainers"].append(me.public_key.hex())
    msgspec.structs.replace(genesis, app_state=state).save(home / "genesis.json")
    res = CliRunner().invoke(cli, ["validator", "--home", str(home)])
    assert res.exit_code == 1
    line = f"subnet 'small-cnn': node {me.node_id} is both a trainer and a validator"
    assert line in res.output and res.output.count("\n") == 1, res.output


def test_the_served_openapi_document_names_the_subnets(network: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    status, doc = get(network["url"] + "/v1/openapi.json")
    assert status == 200
    validate(doc)
    params = doc["paths"]["/v1/models/latest"]["get"]["parameters"]
    (subnet,) = [p for p in params if p["name"] == "subnet"]
    assert subnet["required"] and subnet["schema"]["enum"] == ["small-cnn", "mlp"]
    assert "SubnetDoc" in doc["components"]["schemas"]


def test_the_dashboard_shows_one_subnet_at_a_time(
    network: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("needs Debian's chromium and chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (test extra)")
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
    hashes = {
        n: get(network["url"] + f"/v1/models/0?subnet={n}")[1]["hash"] for n in ("small-cnn", "mlp")
    }

    def shown() -> Any:
        return drv.execute_script(
            "const s = window.flobcDashboard; const v = s.versions[0];"
            "return [s.subnet, v ? v.hash : null,"
            " [...document.querySelectorAll('#h-subnet option')].map(o => o.value),"
            " document.getElementById('h-subnet-box').hidden];"
        )

    def wait_for(want: Any) -> Any:
        deadline = time.monotonic() + 30
        while (got := shown()) != want and time.monotonic() < deadline:
            time.sleep(0.2)
        return got

    try:
        drv.get(network["url"] + "/")
        names = ["small-cnn", "mlp"]
        assert wait_for(["small-cnn", hashes["small-cnn"], names, False]) == [
            "small-cnn",
            hashes["small-cnn"],
            names,
            False,
        ]
        drv.execute_script(
            "const s = document.getElementById('h-subnet'); s.value = 'mlp';"
            "s.dispatchEvent(new Event('change'));"
        )
        assert wait_for(["mlp", hashes["mlp"], names, False]) == [
            "mlp",
            hashes["mlp"],
            names,
            False,
        ]
        errors = [e for e in drv.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert not errors, errors
    finally:
        drv.quit()
