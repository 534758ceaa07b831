"""The published results file: one JSON per full run under bench/results/, the source of every figure in the docs.

``bench.run`` writes one (``published.json`` beside its raw ``results.json``) from the run's document;
``bench.publish`` renders the performance page, its charts and the README's table from the newest.
Fields a run could not measure, or that were not recovered when a file was transcribed by hand, are null.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bench import report

SCHEMA = "tinyserve-bench-results/1"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Machine(Strict):
    description: str = Field(description="In words, as a reader would name it: CPU, cores, memory, GPU.")
    cpu_model: str | None = None
    cpu_count: int | None = None
    memory_gib: float | None = None
    gpu: str | None = None


class Method(Strict):
    command: str
    rounds: int
    duration_s: float = Field(description="Seconds of load per cell.")
    warmup_s: float
    torch_threads: int
    load_generator: str
    aggregate: str = "median over rounds"


class Cell(Strict):
    """One server (or route) at one concurrency."""

    target: str
    conc: int
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    x_baseline: float | None = Field(None, description="Requests/s as a multiple of the hand-written baseline's.")


class Server(Strict):
    target: str
    label: str = Field(description="What the reader sees in tables and legends.")
    version: str | None = None
    alternative: bool = Field(description="A server a user could pick instead of tinyserve (not a ceiling).")


class Bulk(Strict):
    model: str
    conc: int
    images_per_s: float | None = None
    share_of_bare: float | None = Field(None, description="Images/s over HTTP / the bare forward's best batch-256.")


class TwoWorkers(Strict):
    scenario: str
    conc: int
    one_worker_rps: float | None = None
    two_workers_rps: float | None = None
    ratio: float | None = None


class Results(Strict):
    schema_id: str = Field(SCHEMA, alias="schema")
    transcribed: bool = Field(description="True when typed in from a report rather than written by bench.run.")
    source: str = Field(description="Where the figures come from.")
    date: str
    started: str | None = None
    finished: str | None = None
    commit: str | None = None
    machine: Machine
    method: Method
    peer_model: str = Field(description="What every server of the peer comparison serves.")
    peer_servers: list[Server]
    peers: list[Cell]
    routes: list[Cell] = Field(description="tinyserve's own routes against bench/baseline_app.py.")
    bulk: list[Bulk]
    two_workers: TwoWorkers | None = None
    cold_start_s: list[float] = Field(default_factory=list, description="Start to ready, per round.")
    memory_mib: dict[str, float | None] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list, description="What this file does not hold, and why.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def dump(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=1, ensure_ascii=False) + "\n"


def versioned(label: str, version: str | None) -> str:
    """'TorchServe, batch 32' with version 0.12 -> 'TorchServe 0.12, batch 32'."""
    if not version:
        return label
    head, comma, rest = label.partition(",")
    return f"{head} {version}{comma}{rest}"


def load(path: Path) -> Results:
    return Results.model_validate_json(path.read_text())


def latest(folder: Path = RESULTS_DIR) -> Path:
    """The newest results file: file names start with the run's date and time, so they sort by it."""
    files = sorted(folder.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no results file in {folder}")
    return files[-1]


PEER_LABELS = {
    "tinyserve": ("tinyserve", True),
    "ceiling": ("HTTP ceiling: FastAPI + pydantic, constant reply", False),
    "ceiling-raw": ("HTTP ceiling: FastAPI + json.loads, constant reply", False),
    "naive-async": ("hand-written FastAPI, async def", True),
    "naive": ("hand-written FastAPI, def", True),
    "torchserve-b32": ("TorchServe, batch 32 / 5 ms", True),
    "litserve-b32": ("LitServe, batch 32 / 5 ms", True),
    "litserve-b1": ("LitServe, no batching", True),
    "kserve": ("KServe Python server", True),
}


def from_run(doc: dict[str, Any], peer_doc: dict[str, Any] | None) -> Results:
    """The published file for a run of ``bench.run`` (its raw document and, with --peerbench, peerbench's)."""
    m, s = doc["machine"], doc["settings"]
    peer_rows = peer_doc.get("summary", []) if peer_doc else []
    targets = list(dict.fromkeys(row["target"] for row in peer_rows))
    return Results(
        transcribed=False,
        source="written by bench.run",
        date=m["date"][:10],
        started=m["date"],
        finished=m.get("finished"),
        commit=m["commit"],
        machine=Machine(
            description=f"{m['cpu_model']}, {m['cpu_count']} CPUs", cpu_model=m["cpu_model"], cpu_count=m["cpu_count"]
        ),
        method=Method(
            command=s["command"],
            rounds=s["rounds"],
            duration_s=s["duration_s"],
            warmup_s=s["warmup_s"],
            torch_threads=s["torch_threads"],
            load_generator=m["loadgen"],
        ),
        peer_model="peerbench's untrained course CNN, one 784-integer JSON body",
        peer_servers=[
            Server(target=t, label=PEER_LABELS.get(t, (t, True))[0], alternative=PEER_LABELS.get(t, (t, True))[1])
            for t in targets
        ],
        peers=[
            Cell(target=r["target"], conc=r["conc"], rps=r["rps"], p50_ms=r["p50_ms"], p99_ms=r["p99_ms"])
            for r in peer_rows
        ],
        routes=[
            Cell(
                target=r["scenario"],
                conc=r["conc"],
                rps=r["rps"],
                p50_ms=r["p50_ms"],
                p99_ms=r["p99_ms"],
                x_baseline=r["x_baseline"],
            )
            for r in doc["summary"]
            if r["kind"] != "bulk" and r["target"] == "tinyserve"
        ],
        bulk=[
            Bulk(model=r["model"], conc=r["conc"], images_per_s=r["items_per_s"], share_of_bare=_share(r, doc))
            for r in doc["summary"]
            if r["kind"] == "bulk" and r["target"] == "tinyserve"
        ],
        cold_start_s=[x["cold_start_s"] for x in doc["servers"] if x["name"] == "tinyserve" and x.get("cold_start_s")],
        two_workers=_two_workers(doc),
    )


def _share(row: dict[str, Any], doc: dict[str, Any]) -> float | None:
    bare = report.bare_reference(doc.get("inprocess", {}), row["model"])
    return row["items_per_s"] / bare if bare else None


def _two_workers(doc: dict[str, Any]) -> TwoWorkers | None:
    """Two workers against one on the primary scenario at its highest concurrency, when both ran."""
    primary = doc.get("primary")
    rows = [r for r in doc["summary"] if r["scenario"] == primary]
    if not rows:
        return None
    top = max(r["conc"] for r in rows)
    by = {r["target"]: r for r in rows if r["conc"] == top}
    one, two = by.get("tinyserve"), by.get("tinyserve-w2")
    if not one or not two or not one["rps"]:
        return None
    return TwoWorkers(
        scenario=primary, conc=top, one_worker_rps=one["rps"], two_workers_rps=two["rps"], ratio=two["rps"] / one["rps"]
    )
