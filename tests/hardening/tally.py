"""What the hardening tests sent, by input class and status, for the README table (the README's Hardening section).

Tests call :func:`record` for every request they send; the conftest prints :func:`table` at the end
of the run, so the numbers in the docs come from a real run, not from memory.
"""

from collections import Counter, defaultdict

SENT: defaultdict[str, Counter[int]] = defaultdict(Counter)
NOTES: dict[str, str] = {}


def record(input_class: str, status: int) -> None:
    SENT[input_class][status] += 1


def note(input_class: str, text: str) -> None:
    """A free-text column, e.g. the soak's memory before and after."""
    NOTES[input_class] = text


def table() -> str:
    lines = [
        "| input class | requests | answers by status | 5xx | notes |",
        "|---|---:|---|---:|---|",
    ]
    for name in sorted(SENT):
        statuses = SENT[name]
        by_status = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        server_errors = sum(count for status, count in statuses.items() if status >= 500)
        total = sum(statuses.values())
        lines.append(f"| {name} | {total} | {by_status} | {server_errors} | {NOTES.get(name, '')} |")
    return "\n".join(lines)
