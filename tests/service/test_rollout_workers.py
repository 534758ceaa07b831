"""A reload with several workers: `tinyserve serve --workers 2` as a real process on loopback."""

import re
import signal
import time
from pathlib import Path

import httpx

from tests.servers import running_server
from tests.service.stores import MODEL, add_version

BODY = {"images": [{"pixels": [[0] * 28 for _ in range(28)]}]}


def test_sighup_to_the_supervisor_reloads_every_worker_and_readiness_holds(tmp_path: Path) -> None:
    store = tmp_path / "store"
    add_version(store, 1)
    environment = {
        "TMPDIR": str(tmp_path),
        "TINYSERVE_MODEL_STORE": str(store),
        "TINYSERVE_MODELS": MODEL,
        "TINYSERVE_AUTOTUNE": "false",
        "TINYSERVE_CPU_AFFINITY": "off",
    }
    with running_server("--workers", "2", **environment) as (base, process):
        # Ready answers come from the first worker up; the second may still be loading (it would answer
        # the signal once loaded, but this test wants a reload in each, not a start of version 2).
        deadline = time.monotonic() + 60
        while promotions_of(httpx.get(f"{base}/metrics", timeout=10).text, "start", "none", 1) < 2:
            assert time.monotonic() < deadline, "the second worker never started"
            time.sleep(0.1)
        add_version(store, 2)
        process.send_signal(signal.SIGHUP)
        versions, statuses, ready = [], [], []
        promotions = 0.0
        deadline = time.monotonic() + 90
        # A new connection per request, so the kernel hands them to whichever worker accepts.
        while time.monotonic() < deadline and not (versions[-30:] == [2] * 30 and promotions == 2):
            answer = httpx.post(f"{base}/v1/models/{MODEL}/predict", json=BODY, timeout=10)
            statuses.append(answer.status_code)
            versions.append(answer.json().get("version"))
            ready.append(httpx.get(f"{base}/health/ready", timeout=10).status_code)
            promotions = promotions_of(httpx.get(f"{base}/metrics", timeout=10).text, "sighup", 1, 2)
    assert promotions == 2  # one in each worker
    assert versions[-30:] == [2] * 30, versions[-40:]
    assert set(statuses) == {200} and set(ready) == {200}
    assert process.returncode == 0  # the supervisor kept running: it forwarded the signal, restarted nothing


def promotions_of(metrics: str, reason: str, old: object, new: object) -> float:
    pattern = rf'tinyserve_model_transitions_total{{from="{old}",model="{MODEL}",reason="{reason}",to="{new}"}} (\S+)'
    found = re.search(pattern, metrics)
    return float(found.group(1)) if found else 0.0
