"""One command: tinyserve and the hand-written baseline side by side, checked and loaded.

    python -m bench.run                      # full run (about 13 min on 2 cores), wrk
    python -m bench.run --quick              # smoke: 1 s cells, c=1 and 4, one round
    python -m bench.run --peerbench          # also run ../shared/peerbench with the tinyserve target first
    python -m bench.run --peer-results /tmp/pb-results/latest.json   # add that run's comparison

Per round, each server in turn (rotated order): start, cold start to /health/ready, every
scenario's answers against the in-process reference, then per scenario a warm-up and one load
run per concurrency, with the server's CPU time, /metrics request counts (tinyserve) and
memory (after the load). Then the bare forward pass in-process. Writes results.json and
results.md to --out and prints the Markdown. Exit status 1 when an answer was wrong, a server failed, or
tinyserve's /metrics did not count the requests it answered.
"""

import argparse
import dataclasses
import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py` as well as `python -m bench.run`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import PROJECT_ROOT, load, machine, peers, procs, report, results, scrape, servers, verify
from bench.payloads import Scenario, build_scenarios, primary_digits_model
from bench.reference import Reference

PEERBENCH_DIR = PROJECT_ROOT.parent / "shared" / "peerbench"
PEER_TARGETS = "ceiling,ceiling-raw,naive,naive-async,litserve-b32,litserve-b1,torchserve-b32,kserve,tinyserve"
ONLY_PRIMARY = {"tinyserve-w2", "tinyserve-w2-pinned", "tinyserve-w2-free", "tinyserve-log"}  # headline scenario only
ALL_WORKERS_WAIT_S = 30.0  # after the first worker's 200, how long to wait for the others' load lines
STARTUP_S, CHECK_S, CELL_OVERHEAD_S = 6.0, 3.0, 0.5  # for the time estimate


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--model-store", type=Path, default=PROJECT_ROOT / "models_store")
    p.add_argument("--out", type=Path, help="folder for results.json, results.md and server logs")
    p.add_argument(
        "--targets", default=",".join(servers.DEFAULT_TARGETS), help="comma list of " + ", ".join(servers.TARGET_NAMES)
    )
    p.add_argument("--kinds", default="json,names,bulk,upload", help="scenario kinds to load (all are checked)")
    p.add_argument("--conc", type=_ints, default=(1, 16, 64), help="concurrencies (default 1,16,64)")
    p.add_argument("--bulk-conc", type=_ints, default=(1, 4), help="concurrencies of 64-image requests (default 1,4)")
    p.add_argument("--duration", type=float, default=8.0, help="seconds per cell (wrk: whole seconds)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per scenario (0: none)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--torch-threads", type=int, default=1)
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto", help="auto: wrk when installed")
    p.add_argument("--inproc-seconds", type=float, default=2.0)
    p.add_argument("--ready-timeout", type=float, default=120.0)
    p.add_argument("--quick", action="store_true", help="smoke run: 1 s cells, c=1,4, bulk c=1, one round")
    p.add_argument("--dry-run", action="store_true", help="print what would be loaded and how long it takes")
    p.add_argument("--peer-results", type=Path, help="latest.json of a peerbench run that had the tinyserve target")
    p.add_argument("--peerbench", action="store_true", help="run peerbench (with the tinyserve target) first")
    p.add_argument("--peerbench-dir", type=Path, default=PEERBENCH_DIR)
    p.add_argument("--peer-targets", default=PEER_TARGETS)
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds, args.inproc_seconds = 1.0, 0.0, 1, 0.2
        args.conc, args.bulk_conc = (1, 4), (1,)
    if args.loadgen == "auto":
        args.loadgen = "wrk" if load.have_wrk() else "python"
    if args.loadgen == "wrk" and not load.have_wrk():
        p.error("wrk is not installed (apt-get install wrk), use --loadgen python for a smoke run")
    args.targets = [t for t in args.targets.split(",") if t]
    args.kinds = {k for k in args.kinds.split(",") if k}
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    args.out = args.out or Path(tempfile.gettempdir()) / "tinyserve-bench" / stamp
    return args


def log(*parts: object) -> None:
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


def snapshot_store(source: Path, into: Path) -> Path:
    """A private copy of the store, so that every server of the run serves the same artifacts even if
    someone retrains a model meanwhile (plots left out)."""
    if not source.is_dir():
        raise SystemExit(f"model store {source} not found")
    shutil.copytree(source, into, ignore=shutil.ignore_patterns("*.png"))
    return into


def plan(scenarios: list[Scenario], targets: list[str], kinds: set[str]) -> dict[str, list[Scenario]]:
    loaded = [s for s in scenarios if s.kind in kinds]
    return {t: loaded[:1] if t in ONLY_PRIMARY else loaded for t in targets}


def estimate_s(work: dict[str, list[Scenario]], args: argparse.Namespace, image_models: int) -> float:
    cell = max(1.0, round(args.duration)) if args.loadgen == "wrk" else args.duration
    per_round = sum(
        STARTUP_S + CHECK_S + sum(args.warmup + len(s.concurrency) * (cell + CELL_OVERHEAD_S) for s in scenarios)
        for scenarios in work.values()
    )
    inproc = 3 + image_models * 2 * 3 * (args.inproc_seconds + 0.1)
    return float(args.rounds * per_round + inproc)


def _route(scenario: Scenario) -> str:
    return scenario.load.path.split("?", 1)[0]


def load_cells(
    spec: servers.ServerSpec, proc: subprocess.Popen[bytes], scenarios: list[Scenario], args: argparse.Namespace
) -> list[dict[str, Any]]:
    cells = []
    for scenario in scenarios:
        url, body, ctype = spec.base_url + scenario.load.path, scenario.load.body, scenario.load.content_type
        if args.warmup > 0:
            load.run_load(args.loadgen, url, body, ctype, min(16, max(scenario.concurrency)), args.warmup)
            time.sleep(0.2)  # the warm-up's last requests, cut off by the load generator, finish on the server
        for conc in scenario.concurrency:
            counted = scrape.requests_counted(spec.base_url, _route(scenario)) if spec.kind == "tinyserve" else None
            pids = procs.process_tree(proc.pid)
            cpu0 = procs.cpu_seconds(pids)
            result = load.run_load(args.loadgen, url, body, ctype, conc, args.duration)
            cpu = procs.cpu_seconds(pids) - cpu0
            cell: dict[str, Any] = {
                "target": spec.name,
                "scenario": scenario.name,
                "kind": scenario.kind,
                "model": scenario.model,
                "items_per_request": scenario.load.items,
                **dataclasses.asdict(result),
                "rps": result.rps,
                "server_cpu_ms_per_req": cpu * 1e3 / max(result.requests, 1),
                "server_cores": cpu / result.seconds if result.seconds else 0.0,
            }
            if counted is not None:
                time.sleep(0.05)  # the server counts a request just after its reply is sent
                delta = scrape.requests_counted(spec.base_url, _route(scenario)) - counted
                cell["metrics_delta"] = delta
                cell["metrics_ok"] = result.requests - result.http_errors <= delta <= result.requests + conc
            cells.append(cell)
            log(
                f"  {spec.name:>13} {scenario.name:<20} c={conc:<3} {result.rps:8.0f} req/s"
                f"  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms"
                f"  errors {result.http_errors} http, {result.socket_errors} socket"
            )
    return cells


def bench_server(
    spec: servers.ServerSpec,
    all_scenarios: list[Scenario],
    loaded: list[Scenario],
    models: int,
    args: argparse.Namespace,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    record: dict[str, Any] = {"name": spec.name, "kind": spec.kind, "workers": spec.workers, "note": spec.note}
    cells: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix=f"tinyserve-bench-{spec.name}-") as scratch:
        env = dict(spec.env)
        if spec.kind == "tinyserve" and spec.workers > 1:  # tinyserve would leave its own mkdtemp behind
            env["PROMETHEUS_MULTIPROC_DIR"] = str(Path(scratch) / "metrics")
            Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir()
        log_path = args.out / "logs" / f"{spec.name}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        started = time.perf_counter()
        proc = procs.start(spec.argv, env, Path(scratch), log_path)
        try:
            record["cold_start_s"] = record["first_ready_s"] = procs.wait_ready(
                spec.ready_url, proc, args.ready_timeout
            )
            if spec.workers > 1 and spec.loaded_line is not None:
                expected = spec.workers * models
                seen = procs.wait_log_lines(log_path, offset, spec.loaded_line, expected, proc, ALL_WORKERS_WAIT_S)
                procs.wait_ready(spec.ready_url, proc, args.ready_timeout)
                record["cold_start_s"] = time.perf_counter() - started
                record["all_workers_confirmed"] = seen
                if not seen:
                    log(f"  {spec.name}: fewer than {expected} 'loaded' log lines after {ALL_WORKERS_WAIT_S:.0f} s")
            checks = [verify.check_scenario(spec.base_url, s) for s in all_scenarios]
            record["checks"] = [{**dataclasses.asdict(c), "ok": c.ok} for c in checks]
            ok = all(c.ok for c in checks)
            log(f"  {spec.name}: ready in {record['cold_start_s']:.2f} s, answers {'OK' if ok else 'WRONG'}")
            for c in checks:
                if not c.ok:
                    log(f"    {c.scenario}: {c.failures}")
            if spec.settled_line is not None:
                expected = spec.workers * models
                if not procs.wait_log_lines(log_path, offset, spec.settled_line, expected, proc, ALL_WORKERS_WAIT_S):
                    log(f"  {spec.name}: fewer than {expected} 'runs its ... graph' log lines; measuring anyway")
            cells = load_cells(spec, proc, loaded, args)
            if spec.kind == "tinyserve":
                record["metrics_ok"] = all(c.get("metrics_ok", True) for c in cells)
            memory = procs.memory(proc.pid)
            record["memory"] = [dataclasses.asdict(m) for m in memory]
            record["pss_total_mib"] = sum(m.pss_mib for m in memory)
            if proc.poll() is not None:
                record["error"] = f"server exited with code {proc.returncode} during the run"
        except Exception as exc:  # noqa: BLE001 - one broken server must not end the run
            record["error"] = f"{type(exc).__name__}: {exc} (log: {args.out / 'logs' / (spec.name + '.log')})"
            log(f"  {spec.name}: ERROR {record['error']}")
        finally:
            procs.stop(proc)
    return record, cells


def measure_inprocess(args: argparse.Namespace) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.inproc", "--store", str(args.model_store)]
    argv += ["--seconds", str(args.inproc_seconds), "--threads", str(args.torch_threads)]
    env = servers.clean_env(args.torch_threads, {})
    done = subprocess.run(argv, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False)
    try:
        result: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"error": done.stderr[-1000:]}
    return result


def run_peerbench(args: argparse.Namespace) -> Path:
    out = args.out / "peerbench"
    argv = ["bash", str(args.peerbench_dir / "run.sh"), "--targets", args.peer_targets, "--out", str(out)]
    argv += ["--rounds", str(args.rounds), "--duration", str(max(1, round(args.duration)))]
    argv += ["--warmup", str(max(1, round(args.warmup))), "--conc", ",".join(map(str, args.conc))]
    env = {**os.environ, "PB_EXTRA_TARGETS": str(PROJECT_ROOT / "bench" / "peerbench_targets.py")}
    log("peerbench:", " ".join(shlex.quote(a) for a in argv))
    subprocess.run(argv, env=env, check=False)
    latest: Path = out / "latest.json"
    return latest


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tinyserve-bench-store-") as tmp:
        source, args.model_store = args.model_store, snapshot_store(args.model_store, Path(tmp) / "store")
        return run(args, source, argv)


def run(args: argparse.Namespace, source: Path, argv: list[str] | None) -> int:
    command = "python -m bench.run " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    ref = Reference(args.model_store)
    scenarios = build_scenarios(ref, args.conc, args.bulk_conc)
    primary = primary_digits_model(ref)
    work = plan(scenarios, args.targets, args.kinds)
    image_models = sum(ref.task(n) == "image-classification" for n in ref.names)
    doc: dict[str, Any] = {
        "settings": {
            "command": command,
            "quick": args.quick,
            "model_store": str(source),
            "targets": args.targets,
            "conc": list(args.conc),
            "bulk_conc": list(args.bulk_conc),
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "torch_threads": args.torch_threads,
            "loadgen": args.loadgen,
            "models": {n: ref.artifact(n).manifest.version for n in ref.names},
        },
        "machine": machine.describe(args.loadgen),
        "primary": next((s.name for s in scenarios if s.model == primary and s.kind == "json"), None),
        "scenarios": [
            {"name": s.name, "kind": s.kind, "path": s.load.path, "bytes": len(s.load.body)} for s in scenarios
        ],
        "servers": [],
        "cells": [],
    }
    if args.dry_run:
        for name, loaded in work.items():
            print(f"{name}: " + ", ".join(f"{s.name} c={','.join(map(str, s.concurrency))}" for s in loaded))
        print(f"about {estimate_s(work, args, image_models) / 60:.1f} min (plus peerbench's own run with --peerbench)")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    if args.peerbench:
        args.peer_results = run_peerbench(args)
    log(
        f"bench: {len(args.targets)} servers x {args.rounds} round(s), {args.loadgen}, about "
        f"{estimate_s(work, args, image_models) / 60:.1f} min; output in {args.out}"
    )
    for rnd in range(args.rounds):
        k = rnd % len(args.targets)
        for name in args.targets[k:] + args.targets[:k]:
            spec = servers.make(name, procs.free_port(), args.model_store, args.torch_threads)
            log(f"round {rnd + 1}/{args.rounds}: {name} ({spec.note})")
            record, cells = bench_server(spec, scenarios, work[name], len(ref.names), args)
            doc["servers"].append({**record, "round": rnd + 1})
            doc["cells"] += [{**c, "round": rnd + 1} for c in cells]
    log("in-process forward pass")
    doc["inprocess"] = measure_inprocess(args)
    doc["summary"] = report.summarise(doc["cells"])
    if args.peer_results:
        lines, peer_criteria = peers.compare(peers.load(args.peer_results))
        doc["peers"] = {
            "results": str(args.peer_results),
            "lines": lines,
            "criteria": [c.as_dict() for c in peer_criteria],
        }
    doc["machine"]["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    text = report.markdown(doc)
    (args.out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    # the run in the published format (bench/results.py); copy it to bench/results/ and run bench.publish
    peer_doc = peers.load(args.peer_results) if args.peer_results else None
    (args.out / "published.json").write_text(results.from_run(doc, peer_doc).dump())
    (args.out / "results.md").write_text(text)
    print(text)
    log(f"wrote {args.out / 'results.md'}, results.json and published.json")
    problems = [
        f"{s['name']} (round {s['round']}): {reason}"
        for s in doc["servers"]
        for reason, bad in (
            (f"error {s.get('error')}", bool(s.get("error"))),
            ("wrong answers", not all(c["ok"] for c in s.get("checks", []))),
            ("/metrics missed answered requests", s.get("metrics_ok") is False),
        )
        if bad
    ]
    for problem in problems:
        log("FAILED:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
