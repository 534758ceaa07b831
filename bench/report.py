"""Turning a run's JSON document into Markdown tables, medians over rounds and the criteria."""

import statistics
from collections.abc import Iterable
from typing import Any

from bench.criteria import Criterion

Doc = dict[str, Any]
Row = dict[str, Any]
BASELINE = "baseline"
TARGET_ORDER = ("tinyserve", "tinyserve-w2", "tinyserve-w2-pinned", "tinyserve-w2-free", "tinyserve-log", BASELINE)


def _order(target: str) -> int:
    return TARGET_ORDER.index(target) if target in TARGET_ORDER else len(TARGET_ORDER)


def summarise(cells: Iterable[Row]) -> list[Row]:
    """One row per (scenario, target, conc): medians over rounds, sums of counts."""
    groups: dict[tuple[str, str, int], list[Row]] = {}
    scenario_order: list[str] = []
    for cell in cells:
        groups.setdefault((cell["scenario"], cell["target"], cell["conc"]), []).append(cell)
        if cell["scenario"] not in scenario_order:
            scenario_order.append(cell["scenario"])
    rows = []
    for (scenario, target, conc), runs in groups.items():

        def med(key: str, runs: list[Row] = runs) -> float:
            return float(statistics.median(r[key] for r in runs))

        rows.append(
            {
                "scenario": scenario,
                "kind": runs[0]["kind"],
                "model": runs[0]["model"],
                "target": target,
                "conc": conc,
                "rounds": len(runs),
                "items_per_request": runs[0]["items_per_request"],
                "rps": med("rps"),
                "rps_all": [round(r["rps"], 1) for r in runs],
                "items_per_s": med("rps") * runs[0]["items_per_request"],
                "p50_ms": med("p50_ms"),
                "p99_ms": med("p99_ms"),
                "http_errors": sum(r["http_errors"] for r in runs),
                "socket_errors": sum(r["socket_errors"] for r in runs),
                "requests": sum(r["requests"] for r in runs),
                "server_cpu_ms_per_req": med("server_cpu_ms_per_req"),
                "server_cores": med("server_cores"),
                "metrics_ok": all(r.get("metrics_ok", True) for r in runs),
            }
        )
    base = {(r["scenario"], r["conc"]): r for r in rows if r["target"] == BASELINE}
    for row in rows:
        ref = base.get((row["scenario"], row["conc"]))
        row["x_baseline"] = row["rps"] / ref["rps"] if ref and ref["rps"] else None
        row["p99_vs_baseline"] = row["p99_ms"] / ref["p99_ms"] if ref and ref["p99_ms"] else None
        row["p50_vs_baseline"] = row["p50_ms"] / ref["p50_ms"] if ref and ref["p50_ms"] else None
    rows.sort(key=lambda r: (scenario_order.index(r["scenario"]), _order(r["target"]), r["conc"]))
    return rows


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def load_table(rows: list[Row]) -> list[str]:
    lines = [
        "| scenario | target | c | req/s | items/s | x baseline | p50 ms | p99 ms | p99 / baseline's | 4xx/5xx "
        "| sock err | srv CPU ms/req | srv cores | req/s per round |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['target']} | {r['conc']} | {r['rps']:.0f} | {r['items_per_s']:.0f} | "
            f"{_f(r['x_baseline'])} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {_f(r['p99_vs_baseline'])} | "
            f"{r['http_errors']} | {r['socket_errors']} | {r['server_cpu_ms_per_req']:.2f} | "
            f"{r['server_cores']:.2f} | {' / '.join(f'{x:.0f}' for x in r['rps_all'])} |"
        )
    return lines


def _checks_text(servers: list[Row]) -> str:
    checks = [c for s in servers for c in s.get("checks", [])]
    if not checks:
        return "-"
    good = sum(c["sequential_ok"] + c["concurrent_ok"] for c in checks)
    total = sum(c["sequential_n"] + c["concurrent_n"] for c in checks)
    worst = max(c["max_abs_error"] for c in checks)
    verdict = "OK" if good == total else "FAILED"
    return f"{verdict} {good}/{total} replies, max abs err {worst:.1e}"


def _cold(server: Row) -> str:
    """Cold start to ready; with several workers also when the first one said ready."""
    cold, first = server.get("cold_start_s"), server.get("first_ready_s")
    if cold is None or first is None or server["workers"] == 1:
        return _f(cold)
    return f"{cold:.2f} (first worker {first:.2f})"


def server_table(servers: list[Row]) -> list[str]:
    lines = [
        "| target | workers | cold start to ready s (per round) | correct vs in-process | /metrics counts | "
        "RSS per worker MiB | PSS all processes MiB | error | what |",
        "|---|---:|---:|---|---|---:|---:|---|---|",
    ]
    names: list[str] = []
    for s in servers:
        if s["name"] not in names:
            names.append(s["name"])
    for name in sorted(names, key=_order):
        runs = [s for s in servers if s["name"] == name]
        cold = " / ".join(_cold(s) for s in runs)
        metric_runs = [s["metrics_ok"] for s in runs if s.get("metrics_ok") is not None]
        metrics = "-" if not metric_runs else ("OK" if all(metric_runs) else "MISMATCH")
        workers = [m for s in runs for m in s.get("memory", []) if m["role"] in {"server", "worker"}]
        rss = _f(max((m["rss_mib"] for m in workers), default=None), 0)
        pss = _f(statistics.median(s["pss_total_mib"] for s in runs) if runs[0].get("memory") else None, 0)
        errors = "; ".join(sorted({s["error"] for s in runs if s.get("error")}))
        lines.append(
            f"| {name} | {runs[0]['workers']} | {cold} | {_checks_text(runs)} | {metrics} | {rss} | {pss} | "
            f"{errors} | {runs[0]['note']} |"
        )
    return lines


def bare_reference(inprocess: Doc, model: str, batch: int = 256) -> float | None:
    rates = [r["images_per_s"] for r in inprocess.get("forward", []) if r["model"] == model and r["batch"] == batch]
    return max(rates) if rates else None


def bulk_table(rows: list[Row], inprocess: Doc) -> list[str]:
    lines = [
        "| model | target | c | images/s over HTTP (64 per request) | bare forward, batch 256, images/s | share |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["kind"] != "bulk":
            continue
        bare = bare_reference(inprocess, r["model"])
        share = r["items_per_s"] / bare if bare else None
        lines.append(
            f"| {r['model']} | {r['target']} | {r['conc']} | {r['items_per_s']:.0f} | {_f(bare, 0)} | {_f(share)} |"
        )
    return lines


def inprocess_table(inprocess: Doc) -> list[str]:
    if "error" in inprocess:
        return [f"in-process measurement failed: {inprocess['error']}"]
    lines = [
        "| model | weights | oneDNN | torch threads | batch | images/s | ms per batch |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in inprocess.get("forward", []):
        lines.append(
            f"| {r['model']} | {r.get('layout', 'plain')} | {'on' if r['mkldnn'] else 'off'} | {r['threads']} | "
            f"{r['batch']} | {r['images_per_s']:.0f} | {r['ms_per_batch']:.3f} |"
        )
    return lines


def criteria(rows: list[Row], servers: list[Row], inprocess: Doc, primary: str | None) -> list[Criterion]:
    """The issue's targets that this run can measure without the peers."""
    found: list[Criterion] = []
    by = {(r["scenario"], r["target"], r["conc"]): r for r in rows}
    for r in rows:
        if r["target"] != "tinyserve" or r["x_baseline"] is None or r["kind"] == "bulk":
            continue
        where = f"{r['scenario']} c={r['conc']}"
        found.append(Criterion(f"{where}: req/s vs baseline", r["x_baseline"], ">=", 1.5))
        found.append(Criterion(f"{where}: p99 vs baseline's p99", r["p99_vs_baseline"], "<=", 1.0))
        if r["conc"] == 1 and r["p50_vs_baseline"] is not None:
            found.append(Criterion(f"{where}: p50 vs baseline's p50", r["p50_vs_baseline"], "<=", 0.8))
    if primary is not None:
        top = max((r["conc"] for r in rows if r["scenario"] == primary), default=None)
        one, two = by.get((primary, "tinyserve", top)), by.get((primary, "tinyserve-w2", top))
        if one and two and one["rps"]:
            # The cores each used tell a CPU-bound miss (wrk shares them) from a slow second worker.
            cores = f"server cores {two['server_cores']:.2f} vs {one['server_cores']:.2f}"
            found.append(
                Criterion(
                    f"{primary} c={top}: 2 workers vs 1 worker req/s ({cores})", two["rps"] / one["rps"], ">=", 1.6
                )
            )
    colds = [s["cold_start_s"] for s in servers if s["name"] == "tinyserve" and s.get("cold_start_s") is not None]
    if colds:
        found.append(Criterion("tinyserve cold start to ready, s (worst round)", max(colds), "<=", 3.0))
    for r in rows:
        bare = bare_reference(inprocess, r["model"])
        if r["kind"] == "bulk" and r["target"] == "tinyserve" and bare:
            share = r["items_per_s"] / bare
            found.append(Criterion(f"{r['scenario']} c={r['conc']}: images/s vs bare batch-256", share, ">=", 0.4))
    return found


def markdown(doc: Doc) -> str:
    s, m = doc["settings"], doc["machine"]
    rows, servers, inprocess = doc["summary"], doc["servers"], doc.get("inprocess", {})
    lines = [
        f"# tinyserve bench ({m['date']})",
        "",
        f"Machine: {m['cpu_model']}, {m['cpu_count']} CPUs, load average at start "
        f"{' '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}. Commit {m['commit'][:12]}"
        f"{' (with uncommitted changes)' if m['tracked_changes'] else ''}. Load generator: {m['loadgen']}, one thread, "
        f"{s['duration_s']} s per cell after a {s['warmup_s']} s warm-up per scenario; {s['rounds']} round(s), "
        f"servers restarted each round in rotated order, cells are medians. torch threads per worker: "
        f"{s['torch_threads']}. The load generator shares the CPUs with the server: only ratios within one run mean "
        "anything.",
        "",
        f"Command: `{s['command']}`",
        "",
    ]
    if s.get("quick"):
        lines += ["**Quick (smoke) run: these numbers are not measurements.**", ""]
    lines += ["## Throughput and latency", "", *load_table(rows), ""]
    lines += ["## Servers", "", *server_table(servers), ""]
    lines += ["## Bulk requests vs the bare model", "", *bulk_table(rows, inprocess), ""]
    lines += ["## In-process forward (no HTTP)", "", *inprocess_table(inprocess), ""]
    if doc.get("peers"):
        lines += ["## Beside the peers (peerbench)", "", *doc["peers"]["lines"], ""]
    lines += ["## Targets from the issue", ""]
    lines += [c.markdown() for c in criteria(rows, servers, inprocess, doc.get("primary"))]
    for p in doc.get("peers", {}).get("criteria", []):
        lines.append(Criterion(p["name"], p["value"], p["op"], p["bound"]).markdown())
    return "\n".join(lines) + "\n"
