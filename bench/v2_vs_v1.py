"""V2 binary and V2 JSON against /v1 JSON: the same images, one server, one run.

    python -m bench.v2_vs_v1 [--duration 6] [--conc 1,16,64] [--model digits-cnn]

Every body is first sent once and its answer compared with /v1's for the same images.
"""

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import httpx
import numpy as np

from artifacts import ModelStore
from bench import procs, servers
from bench.load import LoadResult, run_wrk

MODELS_STORE = Path(__file__).resolve().parents[1] / "models_store"
V2_HEADER = "Inference-Header-Content-Length"


def v1_body(model: str, pixels: np.ndarray) -> bytes:
    return json.dumps({"images": [{"pixels": p.tolist()} for p in pixels], "top_k": 1, "model": model}).encode()


def v2_binary_body(pixels: np.ndarray) -> tuple[bytes, dict[str, str]]:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "images",
                    "datatype": "UINT8",
                    "shape": list(pixels.shape),
                    "parameters": {"binary_data_size": pixels.nbytes},
                }
            ],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": False}}],
        }
    ).encode()
    return header + pixels.astype(np.uint8).tobytes(), {V2_HEADER: str(len(header))}


def v2_json_body(pixels: np.ndarray) -> bytes:
    data = pixels.reshape(-1).tolist()
    tensor = {"name": "images", "datatype": "UINT8", "shape": list(pixels.shape), "data": data}
    return json.dumps({"inputs": [tensor], "outputs": [{"name": "probabilities"}]}).encode()


def check(base: str, model: str, pixels: np.ndarray) -> None:
    """V2 (binary and JSON) must give /v1's top-1 digit and probability for every image."""
    v1 = httpx.post(f"{base}/v1/digits/predict", content=v1_body(model, pixels)).json()["predictions"]
    body, headers = v2_binary_body(pixels)
    answers = [
        httpx.post(f"{base}/v2/models/{model}/infer", content=body, headers=headers).json(),
        httpx.post(f"{base}/v2/models/{model}/infer", content=v2_json_body(pixels)).json(),
    ]
    for answer in answers:
        probabilities = np.asarray(answer["outputs"][0]["data"], dtype=np.float32).reshape(len(pixels), -1)
        assert [p["digit"] for p in v1] == probabilities.argmax(axis=1).tolist()
        assert np.allclose([p["probability"] for p in v1], probabilities.max(axis=1), atol=1e-6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="digits-cnn")
    parser.add_argument("--duration", type=float, default=6)
    parser.add_argument("--conc", default="1,16,64")
    args = parser.parse_args()
    golden = ModelStore(MODELS_STORE).load(args.model).golden.pixels
    assert golden is not None
    one, bulk = golden.numpy()[:1], golden.numpy()[np.arange(64) % len(golden)]
    with tempfile.TemporaryDirectory(prefix="tinyserve-v2bench-") as tmp:
        store = Path(tmp) / "store"
        shutil.copytree(MODELS_STORE / args.model, store / args.model)
        spec = servers.tinyserve("tinyserve", procs.free_port(), store, 1, 1, access_log=False)
        process = procs.start(spec.argv, spec.env, Path(tmp), Path(tmp) / "server.log")
        try:
            procs.wait_ready(spec.ready_url, process, timeout_s=60)
            assert spec.settled_line is not None
            procs.wait_log_lines(Path(tmp) / "server.log", 0, spec.settled_line, 1, process, timeout_s=30)
            check(spec.base_url, args.model, one)
            check(spec.base_url, args.model, bulk)
            rows = measure(spec.base_url, args.model, one, bulk, [int(c) for c in args.conc.split(",")], args.duration)
        finally:
            procs.stop(process)
    print_table(rows)


def measure(
    base: str, model: str, one: np.ndarray, bulk: np.ndarray, concurrencies: list[int], duration: float
) -> list[tuple[str, int, int, LoadResult]]:
    v1_url, v2_url = f"{base}/v1/digits/predict", f"{base}/v2/models/{model}/infer"
    cases = []
    for label, pixels in (("1 image", one), ("64 images", bulk)):
        binary, headers = v2_binary_body(pixels)
        cases += [
            (f"/v1 JSON, {label}", v1_url, v1_body(model, pixels), {}, len(pixels)),
            (f"V2 binary, {label}", v2_url, binary, headers, len(pixels)),
            (f"V2 JSON, {label}", v2_url, v2_json_body(pixels), {}, len(pixels)),
        ]
    rows = []
    for name, url, body, headers, items in cases:
        for conc in concurrencies if items == 1 else [1, 4]:
            run_wrk(url, body, "application/json", conc, 1, headers)  # warm-up
            rows.append((name, conc, items, run_wrk(url, body, "application/json", conc, duration, headers)))
    return rows


def print_table(rows: list[tuple[str, int, int, LoadResult]]) -> None:
    baseline = {(c, i): r.rps for name, c, i, r in rows if name.startswith("/v1")}
    print("| request | c | req/s | images/s | x /v1 JSON | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, conc, items, result in rows:
        ratio = result.rps / baseline[(conc, items)]
        errors = result.http_errors + result.socket_errors
        print(
            f"| {name} | {conc} | {result.rps:,.0f} | {result.rps * items:,.0f} | {ratio:.2f} "
            f"| {result.p50_ms:.2f} | {result.p99_ms:.2f} | {errors} |"
        )


if __name__ == "__main__":
    main()
