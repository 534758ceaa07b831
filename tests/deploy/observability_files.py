"""The PromQL in deploy/grafana/tinyserve.json and deploy/prometheus/alerts.yml, ready to query."""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "tinyserve.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
QUEUE_AUTOSCALING = ROOT / "deploy" / "k8s" / "queue-autoscaling"

# What Grafana puts in place of its variables when every value is selected, over a short range.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$job": ".+", "$model": ".+"}
_COMPARISON = re.compile(
    r"^(?P<signal>.+?)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<threshold>-?[0-9.]+(e[-+]?[0-9]+)?)\s*$", re.S
)


@dataclass(frozen=True)
class Query:
    where: str  # "panel 'Queue depth' A", "alert TinyserveQueueNearFull"
    expr: str


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def load_alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def with_grafana_variables(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def dashboard_queries(dashboard: dict[str, Any]) -> list[Query]:
    return [
        Query(f"panel {panel['title']!r} {target['refId']}", with_grafana_variables(target["expr"]))
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def variable_queries(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(variable, series selector, label) of each ``label_values(selector, label)`` variable."""
    found = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"]["query"])
        assert match is not None, f"variable {variable['name']}: only label_values(selector, label) is checked"
        found.append((variable["name"], with_grafana_variables(match.group(1)), match.group(2)))
    return found


def split_alert(expr: str) -> tuple[str, str, float]:
    """An alert's ``<signal> <op> <threshold>`` in three parts (the file's convention)."""
    match = _COMPARISON.match(expr.strip())
    assert match is not None, f"alert expression does not end in '<op> <threshold>': {expr}"
    return match.group("signal"), match.group("op"), float(match.group("threshold"))


def alert_queries(rules: list[dict[str, Any]]) -> list[Query]:
    """Each alert's signal (present whenever the metrics are), and the whole rule with `bool` (0 or 1)."""
    queries = []
    for rule in rules:
        signal, op, threshold = split_alert(rule["expr"])
        queries.append(Query(f"alert {rule['alert']} signal", signal))
        queries.append(Query(f"alert {rule['alert']} as bool", f"({signal}) {op} bool {threshold}"))
    return queries


def adapter_queries() -> list[Query]:
    """prometheus-adapter's metricsQuery with its template filled as the adapter would for one pod."""
    config_map = yaml.safe_load((QUEUE_AUTOSCALING / "prometheus-adapter-rules.yaml").read_text())
    rules = yaml.safe_load(config_map["data"]["config.yaml"])["rules"]
    fills = {"<<.Series>>": "tinyserve_queue_depth", "<<.LabelMatchers>>": 'job=~".+"', "<<.GroupBy>>": "instance"}
    queries = []
    for rule in rules:
        expr = rule["metricsQuery"]
        for template, value in fills.items():
            expr = expr.replace(template, value)
        queries.append(Query(f"prometheus-adapter rule {rule['name']['as']}", expr))
    return queries
