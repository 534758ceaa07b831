"""Soak: ~10,000 mixed requests at concurrency 32 against a real `tinyserve serve` process.

Every answer must be the in-process model's answer for that request's own inputs (so a batching bug
that hands one request another's rows fails), there must be no error of any kind, and the server's
resident memory after the soak must be within 10% of its memory after warm-up.
Sized by ``TINYSERVE_SOAK_REQUESTS`` (default 10,000; warm-up is a tenth of it, at least 500).
"""

import asyncio
import itertools
import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from artifacts import ModelStore
from service.runtime.imaging import image_to_mnist
from service.runtime.runner import ModelRunner
from tests.hardening import tally
from tests.paths import MODELS_STORE
from tests.servers import running_server
from tests.service.conftest import b64, make_settings, png_bytes

SETTINGS = make_settings(device="cpu")

REQUESTS = int(os.environ.get("TINYSERVE_SOAK_REQUESTS", "10000"))
WARMUP = max(500, REQUESTS // 10)
CONCURRENCY = 32
SURNAMES = [
    "Nakamura", "Tanaka", "Dvořák", "Novák", "Müller", "Schmidt", "Иванов", "Смирнов", "O'Neill", "Murphy",
    "Nguyễn", "Trần", "Παπαδόπουλος", "Rossi", "Bianchi", "García", "Fernández", "Kowalski", "Nowak", "Dubois",
    "Smith", "Johnson", "王", "Kim", "Haddad", "Khoury", "De Jong", "Jansen", "Silva", "Santos",
]  # fmt: skip


@dataclass(frozen=True)
class Request:
    path: str
    body: dict[str, object]
    expected: list[int | str]  # per item: the digit or the country


def clear_answers(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax per row, and whether its margin over the runner-up is clear of batching round-off."""
    top2 = np.sort(probabilities, axis=1)[:, -2:]
    return probabilities.argmax(axis=1), (top2[:, 1] - top2[:, 0]) > 1e-3


def digit_inputs() -> list[tuple[dict[str, object], int]]:
    """Real MNIST digits shifted by up to 2 pixels, as pixels and as PNG files, with the in-process answer."""
    store = ModelStore(MODELS_STORE)
    runner = ModelRunner.for_artifact(store.load("digits-cnn"), torch.device("cpu"), SETTINGS)
    golden = store.load("digits-cnn").golden
    assert golden.pixels is not None
    grids = [
        np.roll(pixels, (dy, dx), axis=(0, 1))
        for pixels in golden.pixels.numpy()
        for dy, dx in itertools.product((-2, 0, 2), repeat=2)
    ]
    pngs = [png_bytes(Image.fromarray(255 - g)) for g in grids]
    pixel_labels, pixel_clear = clear_answers(runner.forward([np.stack(grids)]))
    image_labels, image_clear = clear_answers(runner.forward([np.stack([image_to_mnist(p, 10**8) for p in pngs])]))
    inputs: list[tuple[dict[str, object], int]] = []
    for grid, png, label, clear, image_label, image_ok in zip(
        grids, pngs, pixel_labels, pixel_clear, image_labels, image_clear, strict=True
    ):
        if clear:
            inputs.append(({"pixels": grid.tolist()}, int(label)))
        if image_ok:
            inputs.append(({"image_base64": b64(png)}, int(image_label)))
    return inputs


def name_inputs() -> list[tuple[str, str]]:
    runner = ModelRunner.for_artifact(ModelStore(MODELS_STORE).load("names-gru"), torch.device("cpu"), SETTINGS)
    labels, clear = clear_answers(runner.forward([runner.task.fold(SURNAMES)]))
    return [
        (name, runner.task.labels[int(label)]) for name, label, ok in zip(SURNAMES, labels, clear, strict=True) if ok
    ]


def build_requests(count: int, seed: int) -> list[Request]:
    rng = random.Random(seed)
    digits, names = digit_inputs(), name_inputs()
    requests = []
    for _ in range(count):
        size = rng.randint(1, 4)
        if rng.random() < 0.5:
            picked = rng.sample(digits, size)
            body = {"images": [item for item, _ in picked], "model": "digits-cnn", "top_k": 1}
            requests.append(Request("/v1/digits/predict", body, [label for _, label in picked]))
        else:
            chosen = rng.sample(names, size)
            body = {"names": [name for name, _ in chosen], "model": "names-gru", "top_k": 1}
            requests.append(Request("/v1/names/predict", body, [country for _, country in chosen]))
    return requests


def rss_kib(pid: int) -> int:
    """VmRSS of the process and all its descendants (uvicorn workers, if any)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        status = Path(f"/proc/{current}/status").read_text()
        total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
        for task in Path(f"/proc/{current}/task").iterdir():
            pending.extend(int(child) for child in (task / "children").read_text().split())
    return total


async def run(base: str, requests: list[Request], statuses: Counter[int], wrong: list[str]) -> None:
    jobs = iter(requests)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def worker() -> None:
            for request in jobs:  # shared iterator: each request is taken by exactly one worker
                try:
                    response = await client.post(request.path, json=request.body)
                except httpx.TransportError as exc:
                    statuses[-1] += 1
                    wrong.append(f"{request.path}: {type(exc).__name__}")
                    continue
                statuses[response.status_code] += 1
                if response.status_code != 200:
                    wrong.append(f"{request.path}: {response.status_code} {response.text[:200]}")
                    continue
                predictions = response.json()["predictions"]
                key = "digit" if request.path.startswith("/v1/digits") else "country"
                answers = [p[key] for p in predictions]
                if answers != request.expected:
                    wrong.append(f"{request.path}: expected {request.expected}, got {answers}")

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


@pytest.mark.slow
async def test_soak_has_no_errors_correct_answers_and_flat_memory() -> None:
    warmup, soak = build_requests(WARMUP, seed=1), build_requests(REQUESTS, seed=2)
    statuses: Counter[int] = Counter()
    wrong: list[str] = []
    with running_server(TINYSERVE_TORCH_THREADS="1") as (base, process):
        await run(base, warmup, Counter(), wrong)
        await asyncio.sleep(1)
        before = rss_kib(process.pid)
        started = time.perf_counter()
        await run(base, soak, statuses, wrong)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(1)
        after = rss_kib(process.pid)
    for status, count in statuses.items():
        for _ in range(count):
            tally.record("soak: digits and names at concurrency 32", status)
    growth = (after - before) / before
    summary = (
        f"soak: {REQUESTS} requests ({WARMUP} warm-up first) at concurrency {CONCURRENCY} in {elapsed:.1f} s "
        f"({REQUESTS / elapsed:.0f} req/s); statuses {dict(statuses)}; wrong or failed {len(wrong)}; "
        f"RSS after warm-up {before / 1024:.1f} MiB, after soak {after / 1024:.1f} MiB ({growth:+.1%})"
    )
    print(summary)
    tally.note(
        "soak: digits and names at concurrency 32",
        f"RSS {before / 1024:.1f} MiB after warm-up, {after / 1024:.1f} MiB after ({growth:+.1%})",
    )
    assert not wrong, wrong[:10]
    assert statuses == Counter({200: REQUESTS})
    assert growth < 0.10, summary
