"""deploy/grafana/tinyserve.json against Grafana's dashboard schema, and its metrics against service/metrics.py.

No JSON Schema of Grafana dashboards ships in a package reachable offline (Grafana defines them in
CUE; @grafana/schema on npm carries TypeScript types only). What is checked instead:
1. grafana-foundation-sdk, Grafana's own Python models generated from that CUE schema, decodes the
   dashboard (panels, their options and field config by panel type, Prometheus queries) and encodes
   it back: a field the schema does not know is dropped on the way and fails the comparison. Those
   models check names and nesting, not value types;
2. so a pydantic model of the fields Grafana needs to import and draw it checks their types and values.
Queries returning data is tests/deploy/test_prometheus.py's job, against a live Prometheus.
"""

import copy
import json
import re
from typing import Any, Literal

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard
from pydantic import BaseModel, ConfigDict, Field, model_validator

from service import metrics
from tests.deploy.observability_files import alert_queries, dashboard_queries, load_alert_rules, load_dashboard

register_default_plugins()  # decode panel options and Prometheus queries by their types


def schema_differences(given: Any, encoded: Any, path: str = "") -> list[str]:
    """Where the dashboard and its round trip through Grafana's models differ (empty: none)."""
    if isinstance(given, dict):
        if not isinstance(encoded, dict):
            return [f"{path or '.'}: not an object in Grafana's schema"]
        found = []
        for key, value in given.items():
            if key not in encoded:
                found.append(f"{path}.{key}: not a field of Grafana's schema here")
            else:
                found += schema_differences(value, encoded[key], f"{path}.{key}")
        return found
    if isinstance(given, list):
        if not isinstance(encoded, list) or len(given) != len(encoded):
            return [f"{path}: not the same list after Grafana's schema"]
        return [
            diff
            for index, pair in enumerate(zip(given, encoded, strict=True))
            for diff in schema_differences(*pair, f"{path}[{index}]")
        ]
    return [] if given == encoded else [f"{path}: {given!r} became {encoded!r}"]


def round_trip(dashboard: dict[str, Any]) -> list[str]:
    encoded = json.loads(json.dumps(Dashboard.from_json(dashboard), cls=JSONEncoder))
    return schema_differences(dashboard, encoded)


def test_the_dashboard_round_trips_through_grafanas_schema_models() -> None:
    assert round_trip(load_dashboard()) == []


@pytest.mark.parametrize(
    ("where", "wrong"),
    [
        (lambda d: d["panels"][1], "gridpos"),  # gridPos misspelt
        (lambda d: d["panels"][1]["targets"][0], "expresion"),  # a Prometheus query's expr misspelt
        (lambda d: d["panels"][1]["options"], "legnd"),  # a timeseries option misspelt
        (lambda d: d, "templates"),  # templating misspelt
    ],
)
def test_the_round_trip_catches_a_misspelt_field(where: Any, wrong: str) -> None:
    dashboard = copy.deepcopy(load_dashboard())
    where(dashboard)[wrong] = {} if wrong in ("legnd", "templates") else "x"
    assert any(wrong in difference for difference in round_trip(dashboard))


# ---- the fields Grafana needs, typed ----

Strict = ConfigDict(extra="allow", strict=True)
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


class GridPos(BaseModel):
    model_config = Strict
    h: int = Field(ge=1)
    w: int = Field(ge=1, le=24)
    x: int = Field(ge=0, le=23)
    y: int = Field(ge=0)

    @model_validator(mode="after")
    def _inside_the_grid(self) -> "GridPos":
        assert self.x + self.w <= 24, f"panel at x={self.x} of width {self.w} is past the 24 columns"
        return self


class Target(BaseModel):
    model_config = Strict
    refId: str = Field(pattern=r"^[A-Z]$")  # noqa: N815 (Grafana's name)
    expr: str = Field(min_length=1)
    datasource: dict[str, str]
    legendFormat: str  # noqa: N815


class Panel(BaseModel):
    model_config = Strict
    id: int = Field(ge=1)
    type: Literal["row", "timeseries", "stat", "table"]
    title: str = Field(min_length=1)
    gridPos: GridPos  # noqa: N815
    datasource: dict[str, str] | None = None
    targets: list[Target] = []

    @model_validator(mode="after")
    def _queries(self) -> "Panel":
        if self.type == "row":
            assert not self.targets, f"row {self.title!r} holds queries"
        else:
            assert self.datasource == DATASOURCE, f"panel {self.title!r}: datasource is not the dashboard's variable"
            assert self.targets, f"panel {self.title!r} has no query"
            assert len({target.refId for target in self.targets}) == len(self.targets), "refIds repeat"
            assert all(target.datasource == DATASOURCE for target in self.targets)
        return self


class Variable(BaseModel):
    model_config = Strict
    name: str = Field(pattern=r"^[a-z_]+$")
    type: Literal["datasource", "query"]


class Templating(BaseModel):
    model_config = Strict
    list: list[Variable]


class GrafanaDashboard(BaseModel):
    model_config = Strict
    uid: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")
    title: str = Field(min_length=1)
    schemaVersion: int = Field(ge=36)  # noqa: N815 (Grafana 9.4 and later read this layout as is)
    panels: list[Panel] = Field(min_length=1)
    templating: Templating
    time: dict[str, str]

    @model_validator(mode="after")
    def _consistent(self) -> "GrafanaDashboard":
        ids = [panel.id for panel in self.panels]
        assert len(set(ids)) == len(ids), f"panel ids repeat: {ids}"
        cells = [
            (x, y)
            for p in self.panels
            for x in range(p.gridPos.x, p.gridPos.x + p.gridPos.w)
            for y in range(p.gridPos.y, p.gridPos.y + p.gridPos.h)
        ]
        assert len(set(cells)) == len(cells), "panels overlap"
        defined = {variable.name for variable in self.templating.list}
        used = {name for p in self.panels for t in p.targets for name in re.findall(r"\$(\w+)", t.expr)}
        assert used - {"__rate_interval", "__interval"} <= defined, f"undefined variables: {used - defined}"
        return self


def test_the_dashboard_has_what_grafana_needs() -> None:
    dashboard = GrafanaDashboard.model_validate(load_dashboard())
    titles = " ".join(panel.title.lower() for panel in dashboard.panels)
    for topic in ("request rate", "errors", "latency", "batch size", "queue depth", "queue wait", "inference"):
        assert topic in titles, topic


def test_the_typed_model_catches_a_wrong_value() -> None:
    dashboard = copy.deepcopy(load_dashboard())
    dashboard["panels"][1]["gridPos"]["w"] = "12"
    with pytest.raises(ValueError, match="gridPos.w"):
        GrafanaDashboard.model_validate(dashboard)


# ---- the metrics the queries name exist ----


def exported_names() -> set[str]:
    """Every series name service/metrics.py exports (counters with _total, histograms with their parts)."""
    names = set()
    for collector in (
        metrics.REQUESTS,
        metrics.REQUEST_SECONDS,
        metrics.BATCH_SIZE,
        metrics.INFERENCE_SECONDS,
        metrics.QUEUE_DEPTH,
        metrics.ITEMS_PREDICTED,
        metrics.MODEL_INFO,
    ):
        for family in collector.describe():
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
            names |= {family.name + suffix for suffix in suffixes}
    return names


def test_every_metric_the_dashboard_and_alerts_name_is_exported() -> None:
    """Offline, before test_prometheus.py: a renamed metric shows here first."""
    queries = dashboard_queries(load_dashboard()) + alert_queries(load_alert_rules())
    named = {name for item in queries for name in re.findall(r"\btinyserve_\w+", item.expr)}
    assert named and named <= exported_names(), named - exported_names()
