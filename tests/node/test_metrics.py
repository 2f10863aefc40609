"""``GET /metrics`` of live validators parses as Prometheus text and agrees with the JSON API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_fl import LiveNet, get, get_text, live_fl_network, upload_update
from prometheus_client.parser import text_string_to_metric_families

from flobc.orchestration import processes as net
from flobc.orchestration.netdir import create_network, list_nodes

pytestmark = [pytest.mark.processes, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNet]:
    with live_fl_network(tmp_path_factory.mktemp("metrics"), validators=2) as w:
        yield w


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``(sample name, sorted labels) -> value`` of one scrape."""
    out = {}
    for family in text_string_to_metric_families(get_text(url + "/metrics")):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def one(samples: dict, metric: str, **labels: str) -> float:
    return samples[(metric, tuple(sorted(labels.items())))]


def test_metrics_match_status_and_trainers(network: LiveNet) -> None:
    w = network
    uid = upload_update(w)
    for url in w.urls:
        before, trainers = get(url + "/v1/status"), get(url + "/v1/trainers")
        version_before = get(url + "/v1/models/latest")["version"]
        m = scrape(url)
        after, trainers_after = get(url + "/v1/status"), get(url + "/v1/trainers")
        version_after = get(url + "/v1/models/latest")["version"]

        assert before["height"] <= one(m, "flobc_height") <= after["height"]
        assert version_before <= one(m, "flobc_model_version") <= version_after
        assert one(m, "flobc_mempool_transactions") == before["mempool"] == 0
        assert one(m, "flobc_peers") == len(before["peers"]) == len(w.urls) - 1
        assert one(m, "flobc_peers_reporting") == 1
        assert one(m, "flobc_consensus_round") >= 0
        # trust moves only at a release: read again if one happened during the scrape
        assert trainers == trainers_after or version_before != version_after
        for t in trainers:
            assert one(m, "flobc_trainer_trust", trainer=t["id"], name=t["name"]) == t["score"]
        for what in ("submitted", "accepted", "rejected"):
            assert one(m, f"flobc_updates_{what}_total") == sum(t[what] for t in trainers)
        assert one(m, "flobc_updates_accepted_total") + one(m, "flobc_updates_rejected_total") == 1
        # the update and at least one vote on it were committed while this node ran
        assert one(m, "flobc_transactions_committed_total") >= 2
        assert one(m, "flobc_blocks_committed_total") >= after["height"] - 1
        assert one(m, "flobc_block_interval_seconds_count") >= 1
        assert one(m, "flobc_sent_bytes_total", channel="p2p") > 0
        assert one(m, "flobc_received_bytes_total", channel="p2p") > 0
        assert one(m, "flobc_sent_bytes_total", channel="api") > 0
        assert one(m, "flobc_http_responses_total", code="2xx") > 0
    # the upload went to the first validator: its submit -> commit latency was observed
    first = scrape(w.url)
    assert one(first, "flobc_commit_latency_seconds_count") >= 1
    assert 0 < one(first, "flobc_commit_latency_seconds_sum") < 60
    assert one(first, "flobc_received_bytes_total", channel="api") > w.size * 4
    assert get(f"{w.url}/v1/updates/{uid}")["status"] in ("accepted", "rejected")
    assert len(get(f"{w.url}/v1/updates/{uid}")["votes"]) == len(w.urls)


def test_metrics_registry_is_per_node(network: LiveNet) -> None:
    """Two validators report their own peers, not a shared global registry's."""
    ids = {get(u + "/v1/status")["node_id"] for u in network.urls}
    for url in network.urls:
        heights = {k[1][0][1] for k in scrape(url) if k[0] == "flobc_peer_height"}
        own = get(url + "/v1/status")["node_id"]
        assert heights == ids - {own}


def test_grafana_dashboard_uses_exposed_metrics(network: LiveNet) -> None:
    """Every ``flobc_*`` series in docs/grafana/flobc.json is one a validator serves."""
    dashboard = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "flobc.json"
    doc = json.loads(dashboard.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\bflobc_[a-z0-9_]+", e)}
    served = {k[0] for k in scrape(network.url)}
    assert used and used <= served, used - served


def test_kv_validator_serves_core_metrics_and_spec(tmp_path: Path) -> None:
    """A ledger without FL: core metrics only, and a spec without the FL routes."""
    netdir = tmp_path / "kv"
    create_network(netdir, validators=1)
    try:
        assert net.up(netdir, timeout=30)[0].state == net.READY
        url = list_nodes(netdir)[0].url
        m = scrape(url)
        assert one(m, "flobc_height") >= 0 and one(m, "flobc_peers") == 0
        assert not any(k[0].startswith("flobc_model") for k in m)
        paths = get(url + "/v1/openapi.json")["paths"]
        assert "/v1/status" in paths and "/v1/models/latest" not in paths
    finally:
        net.down(netdir)
