"""Matplotlib charts of a published results file, as PNGs that are byte-identical for the same input.

Byte-identical output is what lets a test prove the committed charts come from the committed results:
no timestamp or software version in the PNG, matplotlib's bundled font, the Agg backend, a fixed size.
"""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.typing import RcKeyType  # noqa: E402

from bench.results import Results, versioned  # noqa: E402

STYLE: dict[RcKeyType, Any] = {"font.family": "DejaVu Sans", "font.size": 10, "axes.grid": True, "grid.alpha": 0.3}
OURS = "tinyserve"


def _title(results: Results, what: str) -> str:
    return f"{what}\n{results.machine.description}, {results.date}"


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def _peer_order(results: Results) -> list[str]:
    """tinyserve first, then the others by their best requests/s, fastest first."""
    best = {s.target: max((c.rps or 0.0) for c in results.peers if c.target == s.target) for s in results.peer_servers}
    return sorted(best, key=lambda t: (t != OURS, -best[t]))


def _labels(results: Results) -> dict[str, str]:
    return {s.target: versioned(s.label, s.version) for s in results.peer_servers}


def throughput(results: Results, path: Path) -> None:
    """Requests/s against concurrency, one line per server; ceilings dashed."""
    labels = _labels(results)
    ceilings = {s.target for s in results.peer_servers if not s.alternative and s.target != OURS}
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(9, 5.2))
        for target in _peer_order(results):
            cells = sorted((c for c in results.peers if c.target == target and c.rps is not None), key=lambda c: c.conc)
            ax.plot(
                [c.conc for c in cells],
                [c.rps or 0.0 for c in cells],
                marker="o",
                linewidth=3 if target == OURS else 1.5,
                linestyle="--" if target in ceilings else "-",
                color="black" if target == OURS else None,
                label=labels[target],
            )
        concs = sorted({c.conc for c in results.peers})
        ax.set_xscale("log", base=2)
        ax.set_xticks(concs, [str(c) for c in concs])
        ax.set_xlabel("concurrent clients (log scale)")
        ax.set_ylabel("requests per second")
        ax.set_ylim(bottom=0)
        ax.set_title(_title(results, "Throughput, one MNIST image per request (higher is better)"))
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        _save(fig, path)


def p99(results: Results, path: Path) -> None:
    """p99 latency per server, one bar per concurrency."""
    labels = _labels(results)
    order = _peer_order(results)
    concs = sorted({c.conc for c in results.peers})
    by = {(c.target, c.conc): c.p99_ms for c in results.peers}
    width = 0.8 / len(concs)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(9, 5.2))
        for i, conc in enumerate(concs):
            ax.barh(
                [y + i * width for y in range(len(order))],
                [by.get((t, conc)) or 0.0 for t in order],
                height=width,
                label=f"{conc} concurrent",
            )
        ax.set_yticks([y + width * (len(concs) - 1) / 2 for y in range(len(order))], [labels[t] for t in order])
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("p99 latency, milliseconds (log scale; lower is better)")
        ax.set_title(_title(results, "p99 latency, one MNIST image per request"))
        ax.legend(fontsize=8)
        _save(fig, path)


def bulk(results: Results, path: Path) -> None:
    """64-image requests: images/s when recorded, else the share of the bare model's rate."""
    models = list(dict.fromkeys(b.model for b in results.bulk))
    concs = sorted({b.conc for b in results.bulk})
    rates = all(b.images_per_s is not None for b in results.bulk)
    value = {(b.model, b.conc): (b.images_per_s if rates else b.share_of_bare) or 0.0 for b in results.bulk}
    width = 0.8 / len(concs)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for i, conc in enumerate(concs):
            ax.bar(
                [x + i * width for x in range(len(models))],
                [value[(m, conc)] for m in models],
                width=width,
                label=f"{conc} concurrent",
            )
        ax.set_xticks([x + width * (len(concs) - 1) / 2 for x in range(len(models))], models)
        ax.set_xlabel("model")
        if rates:
            ax.set_ylabel("images per second")
        else:
            ax.set_ylabel("images/s over HTTP ÷ bare forward's images/s")
            ax.set_ylim(0, 1)
        ax.set_title(_title(results, "Bulk: 64 images per JSON request"))
        ax.legend(fontsize=8)
        _save(fig, path)
