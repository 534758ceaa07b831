"""Reading tinyserve's /metrics: how many requests the server itself counted, summed over workers."""

import re
import urllib.request

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def counter_total(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match["name"] != name:
            continue
        found = dict(_LABEL.findall(match["labels"] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match["value"])
    return total


def requests_counted(base_url: str, route: str) -> float:
    """tinyserve_requests_total for POST ``route`` with status 200."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return counter_total(text, "tinyserve_requests_total", route=route, method="POST", status="200")
