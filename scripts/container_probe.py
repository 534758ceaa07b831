"""Checks a running tinyserve container from the host, over HTTP: scripts/container_check.sh's probe.

Each subcommand prints what it saw and exits 1 when the check fails:
  wait-ready URL            poll /health/ready until 200; prints the seconds it took
  models URL --data-dir D   every model ready; each digits and names model's accuracy on evenly
                            spaced test rows no lower than its manifest's test accuracy allows
  upload URL --data-dir D   multipart PNGs of MNIST test digits to /v1/digits/predict/upload
  playground URL            GET / is the HTML playground (skipped while it answers 404)
  auth URL --api-key K      /v1 answers 401 without a key and 200 with it
  version URL --model M     the model serves --version N (or a version above --version-above)
  stop-burst URL --stop CMD run CMD (podman stop) during a burst of requests: every request
                            either completed with 200 or was refused at connect
"""

import argparse
import csv
import io
import math
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

DIGITS_PER_REQUEST = 64
NAMES_PER_REQUEST = 256
UPLOAD_PATH = "/v1/digits/predict/upload"


def fail(message: str) -> None:
    print(f"container_probe: FAIL: {message}", file=sys.stderr)
    raise SystemExit(1)


def client(url: str, api_key: str | None = None, timeout: float = 60.0) -> httpx.Client:
    headers = {"X-API-Key": api_key} if api_key else {}
    return httpx.Client(base_url=url, headers=headers, timeout=timeout)


# --- data -----------------------------------------------------------------------------


def mnist_test(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST test images (uint8, N x 28 x 28) and labels, read from the IDX files."""
    raw = data_dir / "MNIST" / "raw"
    images = np.frombuffer((raw / "t10k-images-idx3-ubyte").read_bytes(), dtype=np.uint8, offset=16)
    labels = np.frombuffer((raw / "t10k-labels-idx1-ubyte").read_bytes(), dtype=np.uint8, offset=8)
    return images.reshape(-1, 28, 28), labels


def names_test(data_dir: Path) -> list[tuple[str, str]]:
    with (data_dir / "names" / "names_test.csv").open(newline="", encoding="utf-8") as rows:
        return [(row[0], row[1]) for row in csv.reader(rows) if row]


def spread(total: int, samples: int) -> list[int]:
    """``samples`` indices spread evenly over ``range(total)``: every class shows up, the file order does not matter."""
    return [i * total // samples for i in range(min(samples, total))]


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


# --- checks -----------------------------------------------------------------------------


def wait_ready(args: argparse.Namespace) -> None:
    started = time.monotonic()
    deadline = started + args.timeout
    last = "no answer"
    with client(args.url, timeout=5.0) as http:
        while time.monotonic() < deadline:
            try:
                response = http.get("/health/ready")
                last = f"{response.status_code} {response.text[:200]}"
                if response.status_code == 200 and response.json()["status"] == "ready":
                    print(f"ready after {time.monotonic() - started:.1f} s: {response.text}")
                    return
            except httpx.TransportError as error:
                last = repr(error)
            time.sleep(0.5)
    fail(f"{args.url}/health/ready not ready after {args.timeout} s; last: {last}")


def lowest_credible(accuracy_percent: float, samples: int) -> float:
    """The lowest accuracy, in %, that a model at ``accuracy_percent`` plausibly shows on
    ``samples`` rows: four binomial standard errors below it, and one point for rounding."""
    p = accuracy_percent / 100
    return 100 * (p - 4 * math.sqrt(p * (1 - p) / samples)) - 1


def digits_accuracy(http: httpx.Client, model: str, images: np.ndarray, labels: np.ndarray) -> float:
    correct = 0
    for start in range(0, len(images), DIGITS_PER_REQUEST):
        batch = images[start : start + DIGITS_PER_REQUEST]
        body = {"images": [{"pixels": image.tolist()} for image in batch], "model": model, "top_k": 1}
        response = http.post("/v1/digits/predict", json=body)
        if response.status_code != 200:
            fail(f"{model}: /v1/digits/predict answered {response.status_code} {response.text[:300]}")
        predictions = [item["digit"] for item in response.json()["predictions"]]
        correct += sum(int(p == y) for p, y in zip(predictions, labels[start : start + len(batch)], strict=True))
    return 100 * correct / len(images)


def names_accuracy(http: httpx.Client, model: str, rows: list[tuple[str, str]]) -> float:
    correct = 0
    for start in range(0, len(rows), NAMES_PER_REQUEST):
        batch = rows[start : start + NAMES_PER_REQUEST]
        body = {"names": [name for name, _ in batch], "model": model, "top_k": 1}
        response = http.post("/v1/names/predict", json=body)
        if response.status_code != 200:
            fail(f"{model}: /v1/names/predict answered {response.status_code} {response.text[:300]}")
        countries = [item["country"] for item in response.json()["predictions"]]
        correct += sum(int(c == y) for c, y in zip(countries, [y for _, y in batch], strict=True))
    return 100 * correct / len(rows)


def models(args: argparse.Namespace) -> None:
    images, labels = mnist_test(args.data_dir)
    digit_rows = spread(len(images), args.samples)
    names = names_test(args.data_dir)
    name_rows = [names[i] for i in spread(len(names), args.samples)]
    with client(args.url, args.api_key) as http:
        response = http.get("/v1/models")
        if response.status_code != 200:
            fail(f"/v1/models answered {response.status_code} {response.text[:300]}")
        listed: list[dict[str, Any]] = response.json()["models"]
        if not listed:
            fail("/v1/models lists no model")
        checked = 0
        for info in listed:
            name = info["name"]
            if info["status"] != "ready":
                fail(f"{name} is {info['status']}: {info.get('error')}")
            if info["task"] == "image-classification":
                measured = digits_accuracy(http, name, images[digit_rows], labels[digit_rows])
            elif info["task"] == "text-classification":
                measured = names_accuracy(http, name, name_rows)
            else:
                # MNIST and the names are the test sets this check has; other tasks' models must be ready.
                print(f"{name} v{info['version']}: ready; accuracy not checked (task {info['task']!r})")
                continue
            expected = float(info["metrics"]["test_accuracy"])
            floor = lowest_credible(expected, args.samples)
            print(
                f"{name} v{info['version']}: {measured:.1f} % on {args.samples} test rows "
                f"(manifest {expected:.2f} % on the whole test set, floor {floor:.1f} %)"
            )
            if measured < floor:
                fail(f"{name}: {measured:.1f} % is below {floor:.1f} %")
            checked += 1
    if checked == 0:
        fail("no digits or names model to check the accuracy of")
    print(f"{len(listed)} models ready; the {checked} digits and names models accurate")


def upload(args: argparse.Namespace) -> None:
    images, labels = mnist_test(args.data_dir)
    rows = spread(len(images), 8)
    # Dark ink on white, as a phone photo or a drawing would be: the service must invert it.
    files = [("files", (f"digit{i}.png", png(255 - images[i]), "image/png")) for i in rows]
    with client(args.url, args.api_key) as http:
        response = http.post(UPLOAD_PATH, files=files, params={"top_k": 2})
    if response.status_code != 200:
        fail(f"{UPLOAD_PATH} answered {response.status_code} {response.text[:300]}")
    digits = [item["digit"] for item in response.json()["predictions"]]
    expected = [int(labels[i]) for i in rows]
    correct = sum(int(d == y) for d, y in zip(digits, expected, strict=True))
    print(f"upload of {len(rows)} PNGs: predicted {digits}, labels {expected}")
    if correct < len(rows) - 1:
        fail(f"upload: {correct} of {len(rows)} right")


def playground(args: argparse.Namespace) -> None:
    with client(args.url) as http:
        response = http.get("/")
    if response.status_code == 404:
        print("GET / is 404: no playground page yet, check skipped")
        return
    content_type = response.headers.get("content-type", "")
    if response.status_code != 200 or not content_type.startswith("text/html") or "<html" not in response.text.lower():
        fail(f"GET / answered {response.status_code} {content_type}: {response.text[:200]}")
    print(f"GET / is the playground page ({len(response.content)} bytes of HTML)")


def auth(args: argparse.Namespace) -> None:
    with client(args.url) as http:
        refused = http.get("/v1/models")
        wrong = http.get("/v1/models", headers={"X-API-Key": args.api_key + "-wrong"})
        allowed = http.get("/v1/models", headers={"Authorization": f"Bearer {args.api_key}"})
        health = http.get("/health/ready")
    for what, response, status in [("no key", refused, 401), ("a wrong key", wrong, 401), ("the key", allowed, 200)]:
        if response.status_code != status:
            fail(f"/v1/models with {what} answered {response.status_code}, not {status}: {response.text[:200]}")
    if refused.json()["error"]["type"] != "unauthorized" and "key" not in refused.text.lower():
        fail(f"401 without a key has an unexpected body: {refused.text[:200]}")
    if health.status_code != 200:
        fail(f"/health/ready needs no key but answered {health.status_code}")
    print(f"API keys: 401 without a key ({refused.json()['error']['message']}), 401 with a wrong one, 200 with it")


def version(args: argparse.Namespace) -> None:
    with client(args.url, args.api_key) as http:
        response = http.get(f"/v1/models/{args.model}")
        if response.status_code != 200:
            fail(f"/v1/models/{args.model} answered {response.status_code} {response.text[:200]}")
        info = response.json()
        served = info["version"]
        if (args.version is not None and served != args.version) or (
            args.version_above is not None and served <= args.version_above
        ):
            fail(f"{args.model} serves version {served} of {info['versions']}")
        image = np.zeros((28, 28), dtype=np.uint8)
        image[6:22, 13:15] = 255  # a one
        body = {"images": [{"pixels": image.tolist()}], "model": args.model}
        predicted = http.post("/v1/digits/predict", json=body)
    if predicted.status_code != 200 or predicted.json()["version"] != served:
        fail(f"predict with {args.model} answered {predicted.status_code} {predicted.text[:200]}")
    print(f"{args.model} serves the new version {served} (versions {info['versions']}, status {info['status']})")


@dataclass
class Burst:
    """Outcome of each request sent while the server was being stopped."""

    outcomes: Counter[str] = field(default_factory=Counter)
    in_flight_at_stop: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, outcome: str) -> None:
        with self.lock:
            self.outcomes[outcome] += 1


def stop_burst(args: argparse.Namespace) -> None:
    images, _ = mnist_test(args.data_dir) if args.data_dir else (np.zeros((8, 28, 28), np.uint8), None)
    sent_images = [{"pixels": image.tolist()} for image in images[:16]]
    body = {"images": sent_images, "top_k": 3}
    burst = Burst()
    stop_sent = threading.Event()
    in_flight = 0
    in_flight_lock = threading.Lock()

    def send_until_refused() -> None:
        nonlocal in_flight
        # One connection per request: a refused connect is then the only way a request is not sent.
        limits = httpx.Limits(max_keepalive_connections=0)
        timeout = httpx.Timeout(60.0, connect=3.0)
        with httpx.Client(base_url=args.url, limits=limits, timeout=timeout) as http:
            while True:
                with in_flight_lock:
                    in_flight += 1
                try:
                    response = http.post("/v1/digits/predict", json=body)
                except (httpx.ConnectError, httpx.ConnectTimeout):
                    burst.count("refused at connect")
                    if stop_sent.is_set():
                        return
                    continue
                except httpx.TransportError as error:
                    burst.count(f"lost: {type(error).__name__}")
                    continue
                finally:
                    with in_flight_lock:
                        in_flight -= 1
                ok = response.status_code == 200 and len(response.json()["predictions"]) == len(sent_images)
                burst.count("completed 200" if ok else f"lost: HTTP {response.status_code}")

    workers = [threading.Thread(target=send_until_refused, daemon=True) for _ in range(args.concurrency)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 30
    while burst.outcomes["completed 200"] < 4 * args.concurrency:
        if time.monotonic() > deadline:
            fail(f"the burst does not get going: {dict(burst.outcomes)}")
        time.sleep(0.05)
    with in_flight_lock:
        burst.in_flight_at_stop = in_flight
    stop_sent.set()
    started = time.monotonic()
    stopped = subprocess.run(args.stop, capture_output=True, text=True, check=False)
    stop_s = time.monotonic() - started
    for worker in workers:
        worker.join(timeout=60)
    if any(worker.is_alive() for worker in workers):
        fail(f"requests still hang after the stop: {dict(burst.outcomes)}")
    if stopped.returncode != 0:
        fail(f"{' '.join(args.stop)} exited {stopped.returncode}: {stopped.stderr}")
    lost = sum(n for outcome, n in burst.outcomes.items() if outcome.startswith("lost"))
    print(f"burst of {args.concurrency} clients, {' '.join(args.stop)} took {stop_s:.1f} s: {dict(burst.outcomes)}")
    print(f"FIGURE requests in flight at SIGTERM: {burst.in_flight_at_stop}")
    print(f"FIGURE requests lost on stop: {lost}")
    if burst.in_flight_at_stop == 0:
        fail("no request was in flight when the stop began: the check proved nothing")
    if lost:
        fail(f"{lost} requests lost on stop")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {
        "wait-ready": wait_ready,
        "models": models,
        "upload": upload,
        "playground": playground,
        "auth": auth,
        "version": version,
        "stop-burst": stop_burst,
    }
    for name in commands:
        command = sub.add_parser(name)
        command.add_argument("url")
        command.add_argument("--api-key")
        command.add_argument("--data-dir", type=Path)
    sub.choices["wait-ready"].add_argument("--timeout", type=float, default=300.0)
    sub.choices["models"].add_argument("--samples", type=int, default=200)
    sub.choices["version"].add_argument("--model", required=True)
    sub.choices["version"].add_argument("--version", type=int)
    sub.choices["version"].add_argument("--version-above", type=int)
    sub.choices["stop-burst"].add_argument("--concurrency", type=int, default=16)
    sub.choices["stop-burst"].add_argument("--stop", nargs=argparse.REMAINDER, required=True)
    args = parser.parse_args(argv)
    commands[args.command](args)


if __name__ == "__main__":
    main()
