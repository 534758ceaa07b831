"""The dashboard's and the alerts' PromQL, proven against Debian's Prometheus scraping a real `tinyserve serve`.

A renamed metric or label leaves a Grafana panel empty and an alert silent without any error;
here every query must return at least one series. Prometheus and promtool come from
``apt-get install prometheus`` (.ci/run installs them): missing, the test skips on a developer's
machine and fails in CI.
"""

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.observability_files import (
    ALERTS,
    PROMETHEUS_CONFIG,
    Query,
    adapter_queries,
    alert_queries,
    dashboard_queries,
    load_alert_rules,
    load_dashboard,
    variable_queries,
)
from tests.servers import free_port, running_server

pytestmark = pytest.mark.slow
DEADLINE_S = 90  # for Prometheus to start, scrape and answer every query
NAMES = {"names": ["Rossi", "Nakamura", "Dvořák"]}


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} not installed: apt-get install prometheus"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_promtool_checks_the_rules_and_the_config() -> None:
    promtool = tool("promtool")
    rules = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(load_alert_rules())} rules found" in rules.stdout
    config = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True, text=True, timeout=60
    )
    assert config.returncode == 0, config.stdout + config.stderr


def test_the_alerts_fire_past_their_thresholds_and_only_then() -> None:
    """deploy/prometheus/alerts_test.yml: made-up series on each side of every alert's threshold."""
    promtool = tool("promtool")
    tests = ALERTS.with_name("alerts_test.yml")
    result = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", tests.read_text()))
    assert tested == {rule["alert"] for rule in load_alert_rules()}


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The check above can fail: a rule with a PromQL syntax error does not pass."""
    promtool = tool("promtool")
    groups = yaml.safe_load(ALERTS.read_text())
    groups["groups"][0]["rules"][0]["expr"] = "sum by (job (rate(tinyserve_requests_total[5m]))"
    broken = tmp_path / "alerts.yml"
    broken.write_text(yaml.safe_dump(groups))
    result = subprocess.run([promtool, "check", "rules", str(broken)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "parse error" in (result.stdout + result.stderr)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(Prometheus URL, tinyserve URL): Prometheus scraping a real server every second, with the alert rules."""
    binary = tool("prometheus")
    folder = tmp_path_factory.mktemp("prometheus")
    with running_server(TINYSERVE_MODELS="names-gru", TINYSERVE_MAX_BATCH_DELAY_MS="5") as (server, _):
        config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())  # the shipped config, pointed at the test server
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config["rule_files"] = [str(ALERTS)]
        config["scrape_configs"][0]["static_configs"] = [{"targets": [server.removeprefix("http://")]}]
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        url = f"http://127.0.0.1:{free_port()}"
        command = [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_until_ready(url, process)
            yield url, server
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=30)
            if process.returncode not in (0, -15):
                print(stderr.decode(errors="replace")[-4000:])


def wait_until_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("prometheus did not become ready")


async def send_traffic(server: str) -> None:
    """Predictions in bursts (so batches form and the queue fills), and a few 4xx so error series exist."""
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        for _ in range(3):
            answers = await asyncio.gather(*(client.post("/v1/names/predict", json=NAMES) for _ in range(16)))
            assert [answer.status_code for answer in answers] == [200] * 16
            assert answers[0].json()["predictions"][0]["name"] == "Rossi"
        invalid = await client.post("/v1/names/predict", json={"names": "not a list"})
        assert invalid.status_code == 422 and invalid.json()["error"]["type"] == "validation_error"
        unknown = await client.post("/v2/models/nope/infer", json={"inputs": []})
        assert unknown.status_code == 404


def query(url: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{expr}\n{body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def poll_for_series(url: str, queries: list[Query], deadline: float) -> dict[str, str]:
    """Query each until it returns a series or the deadline passes; what never did, with its expression."""
    waiting = {item.where: item.expr for item in queries}
    while waiting and time.monotonic() < deadline:
        waiting = {where: expr for where, expr in waiting.items() if not query(url, expr)}
        if waiting:
            time.sleep(1)
    return waiting


def all_queries() -> list[Query]:
    return [*dashboard_queries(load_dashboard()), *alert_queries(load_alert_rules()), *adapter_queries()]


def test_every_dashboard_alert_and_autoscaling_query_returns_series(prometheus: tuple[str, str]) -> None:
    url, server = prometheus
    deadline = time.monotonic() + DEADLINE_S
    asyncio.run(send_traffic(server))
    queries = all_queries()
    assert len(queries) >= 20  # every panel's targets, two per alert, the adapter's rule
    empty = poll_for_series(url, queries, deadline)
    assert not empty, "queries that returned no series:\n" + "\n".join(f"{k}: {v}" for k, v in empty.items())


def test_every_dashboard_variable_has_values(prometheus: tuple[str, str]) -> None:
    url, _ = prometheus
    deadline = time.monotonic() + DEADLINE_S
    variables = variable_queries(load_dashboard())
    assert {name for name, _, _ in variables} == {"job", "model"}
    for name, selector, label in variables:
        values: list[str] = []
        while not values and time.monotonic() < deadline:
            response = httpx.get(f"{url}/api/v1/label/{label}/values", params={"match[]": selector}, timeout=10)
            values = response.json()["data"]
            if not values:
                time.sleep(1)
        assert values, f"variable {name}: no values for label_values({selector}, {label})"
    assert "names-gru" in values  # the last variable is the model


def test_the_alert_rules_evaluate_without_errors(prometheus: tuple[str, str]) -> None:
    url, _ = prometheus
    deadline = time.monotonic() + DEADLINE_S
    rules: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        groups = httpx.get(f"{url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        if rules and all(rule.get("lastEvaluation", "").startswith("2") for rule in rules):
            break  # evaluated at least once (an RFC 3339 time, not the zero time 0001-...)
        time.sleep(1)
    assert sorted(rule["name"] for rule in rules) == sorted(rule["alert"] for rule in load_alert_rules())
    assert [(rule["name"], rule["health"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"] == []


def test_a_renamed_metric_is_caught(prometheus: tuple[str, str]) -> None:
    """The poll can fail: a query on a metric tinyserve does not export returns no series."""
    url, _ = prometheus
    renamed = Query("renamed", "sum by (model) (rate(tinyserve_items_served_total[1m]))")
    assert poll_for_series(url, [renamed], time.monotonic() + 2) == {"renamed": renamed.expr}
