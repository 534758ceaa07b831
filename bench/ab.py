"""Alternated A/B of two revisions of the server: ``python -m bench.ab BASE [HEAD] --rounds 3``.

Each revision is checked out into a temporary git worktree and served by its own `tinyserve serve`
process (one worker, the committed models). Each round starts both afresh, side by side (so the
graph choices a server times at start-up are drawn again each round), then loads every scenario and
concurrency with wrk on A and on B in alternating order, so drift on a shared machine slows both
alike. It prints one Markdown table of medians (req/s, p99, and the CPU time the event loop's thread
spent per request, which a shared machine's drift moves less than req/s) and B/A ratios, and writes
every cell as JSON beside it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench import payloads
from bench.load import LoadResult, run_load
from bench.procs import free_port, start, stop, wait_optimised, wait_ready
from bench.reference import Reference

PROJECT = Path(__file__).resolve().parent.parent
SCENARIOS = ("digits-cnn json", "names-gru", "digits-cnn upload")


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="tinyserve-ab-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), revision], cwd=PROJECT, check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=PROJECT, check=False)


def loop_cpu_s(pid: int) -> float:
    """CPU seconds the process's main thread (uvicorn's event loop) has used."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@contextmanager
def server(source: Path, log: Path) -> Iterator[tuple[str, int]]:
    """`tinyserve serve` of the code in ``source`` (its own packages first on the path): its URL and pid."""
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(source),
        "TINYSERVE_MODEL_STORE": str(PROJECT / "models_store"),
        "TINYSERVE_MODELS": "digits-cnn,names-gru",  # what the scenarios use, and what any revision can serve
        "TINYSERVE_ACCESS_LOG": "false",
        "TINYSERVE_PORT": str(port),
    }
    process = start([sys.executable, "-m", "service", "serve"], env, source, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/health/ready", process, 120)
        wait_optimised(f"{base}/health/ready", process, 120)
        yield base, process.pid
    finally:
        stop(process)


def loads(reference: Reference) -> dict[str, payloads.Payload]:
    scenarios = payloads.image_scenarios(reference, "digits-cnn", (1,), (1,), upload=True)
    scenarios += payloads.text_scenarios(reference, "names-gru", (1,))
    return {scenario.name: scenario.load for scenario in scenarios if scenario.name in SCENARIOS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="revision A, e.g. HEAD~1")
    parser.add_argument("head", nargs="?", default="HEAD", help="revision B (default HEAD)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--out", type=Path, default=Path("ab.json"))
    args = parser.parse_args()

    bodies = loads(Reference(PROJECT / "models_store"))
    cells: list[dict[str, object]] = []
    with ExitStack() as trees:
        sources = {side: trees.enter_context(worktree(rev)) for side, rev in (("A", args.base), ("B", args.head))}
        logs = Path(tempfile.mkdtemp(prefix="tinyserve-ab-logs-"))
        for round_ in range(args.rounds):
            with ExitStack() as servers:  # fresh servers each round: start-up choices (timed graphs) vary too
                bases = {
                    side: servers.enter_context(server(src, logs / f"{side}-{round_}.log"))
                    for side, src in sources.items()
                }
                warm_up(bases, bodies)
                cells += measure_round(round_, bases, bodies, args.concurrency, args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"base": args.base, "head": args.head, "cells": cells}, indent=1) + "\n")
    print(table(cells, bodies, args.concurrency, args.base, args.head))


def warm_up(bases: dict[str, tuple[str, int]], bodies: dict[str, payloads.Payload]) -> None:
    """A first load pays for allocations and caches: not measured."""
    for payload in bodies.values():
        for url, _ in bases.values():
            run_load("wrk", url + payload.path, payload.body, payload.content_type, 16, 1)


def measure_round(
    round_: int,
    bases: dict[str, tuple[str, int]],
    bodies: dict[str, payloads.Payload],
    concurrency: list[int],
    seconds: float,
) -> list[dict[str, object]]:
    """Every scenario and concurrency on A and on B, back to back, in the order this round takes."""
    cells = []
    for name, payload in bodies.items():
        for conc in concurrency:
            for side in ("A", "B") if round_ % 2 == 0 else ("B", "A"):
                url, pid = bases[side][0] + payload.path, bases[side][1]
                cpu = loop_cpu_s(pid)
                result = run_load("wrk", url, payload.body, payload.content_type, conc, seconds)
                loop_us = (loop_cpu_s(pid) - cpu) / max(result.requests, 1) * 1e6
                cells.append(_cell(side, name, conc, round_, result) | {"loop_cpu_us": loop_us})
                print(f"round {round_} {name} c={conc} {side}: {result.rps:,.0f} req/s", flush=True)
    return cells


def _cell(side: str, name: str, conc: int, round_: int, result: LoadResult) -> dict[str, object]:
    errors = result.http_errors + result.socket_errors
    return {
        "side": side,
        "scenario": name,
        "conc": conc,
        "round": round_,
        "rps": result.rps,
        "p99_ms": result.p99_ms,
        "errors": errors,
    }


def table(
    cells: list[dict[str, object]], bodies: Mapping[str, object], concurrency: list[int], base: str, head: str
) -> str:
    def median(side: str, name: str, conc: int, key: str) -> float:
        return statistics.median(
            float(c[key])  # type: ignore[arg-type]
            for c in cells
            if (c["side"], c["scenario"], c["conc"]) == (side, name, conc)
        )

    lines = [
        f"| scenario | c | A {base} req/s | B {head} req/s | B/A | B/A per round | A p99 ms | B p99 ms "
        "| loop CPU us/req A, B | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in bodies:
        for conc in concurrency:
            a, b = median("A", name, conc, "rps"), median("B", name, conc, "rps")
            errors = sum(int(c["errors"]) for c in cells if (c["scenario"], c["conc"]) == (name, conc))  # type: ignore[call-overload]
            rounds = ", ".join(f"{ratio:.2f}" for ratio in per_round(cells, name, conc))
            lines.append(
                f"| {name} | {conc} | {a:,.0f} | {b:,.0f} | {b / a:.3f} | {rounds} | "
                f"{median('A', name, conc, 'p99_ms'):.2f} | {median('B', name, conc, 'p99_ms'):.2f} | "
                f"{median('A', name, conc, 'loop_cpu_us'):.0f}, {median('B', name, conc, 'loop_cpu_us'):.0f} | "
                f"{errors} |"
            )
    return "\n".join(lines)


def per_round(cells: list[dict[str, object]], name: str, conc: int) -> list[float]:
    """B/A of each round: the two sides of a round ran back to back, so they met the same drift."""
    mine = [c for c in cells if (c["scenario"], c["conc"]) == (name, conc)]
    rps = {(str(c["side"]), str(c["round"])): str(c["rps"]) for c in mine}
    rounds = sorted({r for _, r in rps}, key=int)
    return [float(rps["B", r]) / float(rps["A", r]) for r in rounds]


if __name__ == "__main__":
    main()
