"""tinyserve beside the peers, from a peerbench run that included the ``tinyserve`` target.

Only ratios within one peerbench run mean anything (its README), so every ratio here compares
rows of the same peerbench JSON: tinyserve serving peerbench's own model and payload through
bench/pb_serve.py, against the best peer in each concurrency column.

``python -m bench.peers /tmp/pb-results/latest.json`` prints the table.
"""

import argparse
import json
from pathlib import Path
from typing import Any

from bench.criteria import Criterion

NON_PEERS = ("ceiling", "tinyserve")  # the HTTP ceilings and tinyserve itself are not alternatives
HAND_WRITTEN_ASYNC = "naive-async"


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def _rows(doc: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(row["target"], row["conc"]): row for row in doc.get("summary", [])}


def compare(doc: dict[str, Any], ours: str = "tinyserve") -> tuple[list[str], list[Criterion]]:
    """Markdown lines and the issue's criteria that need the peers."""
    rows = _rows(doc)
    conc = sorted({c for (_, c) in rows})
    lines = [
        f"peerbench run {doc.get('started', '?')}: `{ours}` vs the best peer per column "
        f"(peers: {', '.join(sorted({t for (t, _) in rows if not t.startswith(NON_PEERS)}))}).",
        "",
        "| conc | tinyserve req/s | best peer | its req/s | ratio | tinyserve p50 / p99 ms | peer p50 / p99 ms "
        "| x ceiling |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    criteria: list[Criterion] = []
    for c in conc:
        mine = rows.get((ours, c))
        peers = [row for (t, cc), row in rows.items() if cc == c and not t.startswith(NON_PEERS)]
        if mine is None or not peers:
            continue
        best = max(peers, key=lambda row: row["rps"])
        ratio = mine["rps"] / best["rps"]
        xc = mine.get("x_ceiling")
        lines.append(
            f"| {c} | {mine['rps']:.0f} | {best['target']} | {best['rps']:.0f} | {ratio:.2f} | "
            f"{mine['p50_ms']:.2f} / {mine['p99_ms']:.2f} | {best['p50_ms']:.2f} / {best['p99_ms']:.2f} | "
            f"{xc:.2f} |"
            if xc is not None
            else f"| {c} | {mine['rps']:.0f} | {best['target']} | {best['rps']:.0f} | {ratio:.2f} | "
            f"{mine['p50_ms']:.2f} / {mine['p99_ms']:.2f} | {best['p50_ms']:.2f} / {best['p99_ms']:.2f} | - |"
        )
        criteria.append(Criterion(f"peers c={c}: req/s vs best peer ({best['target']})", ratio, ">=", 1.5))
        criteria.append(
            Criterion(f"peers c={c}: p99 vs {best['target']}'s p99", mine["p99_ms"] / best["p99_ms"], "<=", 1.0)
        )
        if c == 1 and (HAND_WRITTEN_ASYNC, 1) in rows:
            base = rows[(HAND_WRITTEN_ASYNC, 1)]
            criteria.append(
                Criterion("peers c=1: p50 vs naive-async's p50", mine["p50_ms"] / base["p50_ms"], "<=", 0.8)
            )
        if c == max(conc) and xc is not None:
            criteria.append(Criterion(f"peers c={c}: req/s vs the HTTP ceiling", xc, ">=", 0.9))
    errors = sorted({r["error"] for r in doc.get("results", []) if r.get("target") == ours and r.get("error")})
    if errors:
        lines += ["", f"{ours} errors in that run: {'; '.join(errors)}"]
    lines += [
        "",
        f'peerbench reports correctness `n/a` for `{ours}` (reply="none": it cannot read tinyserve\'s reply shape); '
        "bench/pb_serve.py checks every sample against peerbench's expected.json before it lets peerbench start "
        f"(see logs/<stamp>/{ours}.log of that run).",
    ]
    return lines, criteria


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", type=Path, help="latest.json of a peerbench run with the tinyserve target")
    parser.add_argument("--target", default="tinyserve")
    args = parser.parse_args()
    lines, criteria = compare(load(args.results), args.target)
    print("\n".join(lines + ["", *[c.markdown() for c in criteria]]))


if __name__ == "__main__":
    main()
