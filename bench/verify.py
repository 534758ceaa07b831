"""Correctness of a running server: every answer against the in-process reference.

Per scenario: each check request once, in order, then 64 requests from 16 threads at once
(so a batching server mixes them into shared forward passes). A reply is right when, for every
item, the returned class is a most probable one of the reference, and every probability listed
(top-1 and top-k) is the reference's within ``TOLERANCE``.
"""

import concurrent.futures as cf
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.payloads import Payload, Scenario

# tinyserve's own golden tolerance on the CPU; on CUDA set BENCH_TOLERANCE=2e-3 (its CUDA tolerance),
# since the reference forward runs on the CPU.
TOLERANCE = float(os.environ.get("BENCH_TOLERANCE", "1e-4"))
CONCURRENT_REQUESTS = 64
CONCURRENT_THREADS = 16


def post(base_url: str, payload: Payload, timeout: float = 30.0) -> tuple[int | None, bytes]:
    request = urllib.request.Request(
        base_url + payload.path, data=payload.body, method="POST", headers={"Content-Type": payload.content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            status: int = reply.status
            return status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return None, str(exc).encode()


def _label_index(scenario: Scenario, prediction: dict[str, Any], key: str) -> int:
    value = prediction[key]
    return int(value) if key == "digit" else scenario.labels.index(value)


def compare(scenario: Scenario, payload: Payload, reply: dict[str, Any]) -> tuple[list[str], float]:
    """Problems found (empty when right) and the largest probability difference seen."""
    problems: list[str] = []
    worst = 0.0
    key = "country" if scenario.kind == "names" else "digit"
    if reply.get("model") != payload.model or reply.get("version") != scenario.version:
        problems.append(f"served {reply.get('model')}:{reply.get('version')}, asked {payload.model}:{scenario.version}")
    predictions = reply.get("predictions", [])
    if len(predictions) != payload.items:
        return [*problems, f"{len(predictions)} predictions for {payload.items} items"], worst
    for i, (prediction, expected) in enumerate(zip(predictions, payload.expected, strict=True)):
        best = _label_index(scenario, prediction, key)
        diff = abs(float(prediction["probability"]) - float(expected[best]))
        worst = max(worst, diff)
        if expected.max() - expected[best] > TOLERANCE:
            problems.append(f"item {i}: got {prediction[key]!r}, reference says {int(np.argmax(expected))}")
        if diff > TOLERANCE:
            problems.append(f"item {i}: probability {prediction['probability']} vs reference {expected[best]:.6f}")
        ranked = prediction.get("top_k", [])
        if len(ranked) != payload.top_k:
            problems.append(f"item {i}: {len(ranked)} entries in top_k, asked {payload.top_k}")
        kth = np.sort(expected)[::-1][len(ranked) - 1] if ranked else 1.0
        for entry in ranked:
            index = _label_index(scenario, entry, key)
            d = abs(float(entry["probability"]) - float(expected[index]))
            worst = max(worst, d)
            if d > TOLERANCE or expected[index] < kth - TOLERANCE:
                problems.append(f"item {i}: top_k entry {entry} is not the reference's ({expected[index]:.6f})")
    return problems, worst


@dataclass
class ScenarioCheck:
    scenario: str
    sequential_ok: int = 0
    sequential_n: int = 0
    concurrent_ok: int = 0
    concurrent_n: int = 0
    max_abs_error: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.sequential_ok == self.sequential_n and self.concurrent_ok == self.concurrent_n


def _one(base_url: str, scenario: Scenario, payload: Payload) -> tuple[bool, float, str]:
    status, raw = post(base_url, payload)
    if status != 200:
        return False, 0.0, f"{payload.path}: status {status}: {raw[:200]!r}"
    try:
        problems, worst = compare(scenario, payload, json.loads(raw))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return False, 0.0, f"{payload.path}: unreadable reply {raw[:200]!r}: {exc!r}"
    return not problems, worst, "; ".join(problems[:3])


def check_scenario(base_url: str, scenario: Scenario) -> ScenarioCheck:
    result = ScenarioCheck(scenario.name)
    outcomes = [_one(base_url, scenario, payload) for payload in scenario.checks]
    result.sequential_n, result.sequential_ok = len(outcomes), sum(ok for ok, _, _ in outcomes)
    mixed = [scenario.checks[i % len(scenario.checks)] for i in range(CONCURRENT_REQUESTS)]
    with cf.ThreadPoolExecutor(CONCURRENT_THREADS) as pool:
        concurrent = list(pool.map(lambda payload: _one(base_url, scenario, payload), mixed))
    result.concurrent_n, result.concurrent_ok = len(concurrent), sum(ok for ok, _, _ in concurrent)
    result.max_abs_error = max((worst for _, worst, _ in outcomes + concurrent), default=0.0)
    result.failures = [detail for ok, _, detail in outcomes + concurrent if not ok][:5]
    return result
