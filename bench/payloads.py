"""What is sent: one load body per scenario (what wrk repeats) and the check requests with their answers.

Inputs are the artifacts' own golden samples (committed with every model), so a run needs no
data set. Each scenario carries the in-process answers it is checked against (``reference``).
"""

import io
import json
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from bench.reference import Reference

JSON = "application/json"
BOUNDARY = "tinyservebenchboundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
BULK_IMAGES = 64  # tinyserve's default TINYSERVE_MAX_IMAGES
CHECK_TOP_K = 3


@dataclass(frozen=True)
class Payload:
    path: str  # path and query, e.g. "/v1/digits/predict"
    body: bytes
    content_type: str
    items: int  # images or names in the request
    expected: np.ndarray  # reference probabilities, one row per item
    top_k: int
    model: str


@dataclass(frozen=True)
class Scenario:
    name: str  # e.g. "digits-cnn json", "digits-cnn bulk64", "names-gru"
    kind: str  # json | bulk | upload | names
    model: str
    version: int
    labels: list[str]
    load: Payload
    checks: list[Payload] = field(default_factory=list)
    concurrency: tuple[int, ...] = (1, 16, 64)


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def digits_json(name: str, pixels: np.ndarray, expected: np.ndarray, top_k: int) -> Payload:
    body = {"images": [{"pixels": grid.tolist()} for grid in pixels], "top_k": top_k, "model": name}
    return Payload("/v1/digits/predict", _json(body), JSON, len(pixels), expected, top_k, name)


def png(grid: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(grid, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def multipart(files: list[bytes]) -> bytes:
    parts = [
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="digit{i}.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + b"\r\n"
        for i, data in enumerate(files)
    ]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def digits_upload(name: str, files: list[bytes], expected: np.ndarray, top_k: int) -> Payload:
    path = f"/v1/digits/predict/upload?top_k={top_k}&model={name}"
    return Payload(path, multipart(files), MULTIPART, len(files), expected, top_k, name)


def names_json(name: str, raw: list[str], expected: np.ndarray, top_k: int) -> Payload:
    body = {"names": raw, "top_k": top_k, "model": name}
    return Payload("/v1/names/predict", _json(body), JSON, len(raw), expected, top_k, name)


def image_scenarios(
    ref: Reference, name: str, conc: tuple[int, ...], bulk_conc: tuple[int, ...], upload: bool
) -> list[Scenario]:
    artifact = ref.artifact(name)
    pixels = artifact.golden.pixels
    assert pixels is not None, f"{name}: image artifacts carry golden pixels"
    grids = pixels.numpy()
    probs = ref.digits(name, grids)
    version, labels = artifact.manifest.version, list(artifact.manifest.labels)

    def scenario(kind: str, load: Payload, checks: list[Payload], concurrency: tuple[int, ...]) -> Scenario:
        title = f"{name} {kind}" if kind != "bulk" else f"{name} bulk{BULK_IMAGES}"
        return Scenario(title, kind, name, version, labels, load=load, checks=checks, concurrency=concurrency)

    singles = [digits_json(name, grids[i : i + 1], probs[i : i + 1], CHECK_TOP_K) for i in range(len(grids))]
    load = digits_json(name, grids[:1], probs[:1], 1)
    found = [scenario("json", load, [load, *singles], conc)]

    picks = [i % len(grids) for i in range(BULK_IMAGES)]
    bulk = digits_json(name, grids[picks], probs[picks], 1)
    bulk_check = digits_json(name, grids[picks], probs[picks], CHECK_TOP_K)
    found.append(scenario("bulk", bulk, [bulk, bulk_check], bulk_conc))

    if upload:
        files = [png(grid) for grid in grids]
        uprobs = ref.uploads(name, files)
        load_up = digits_upload(name, files[:1], uprobs[:1], 1)
        checks = [load_up, digits_upload(name, files, uprobs, CHECK_TOP_K)]
        checks += [digits_upload(name, files[i : i + 1], uprobs[i : i + 1], CHECK_TOP_K) for i in range(len(files))]
        found.append(scenario("upload", load_up, checks, conc))
    return found


def text_scenarios(ref: Reference, name: str, conc: tuple[int, ...]) -> list[Scenario]:
    artifact = ref.artifact(name)
    raw = artifact.golden.names
    assert raw, f"{name}: text artifacts carry golden names"
    probs = ref.countries(name, raw)
    singles = [names_json(name, raw[i : i + 1], probs[i : i + 1], CHECK_TOP_K) for i in range(len(raw))]
    load = names_json(name, raw[:1], probs[:1], 1)
    return [
        Scenario(
            name,
            "names",
            name,
            artifact.manifest.version,
            list(artifact.manifest.labels),
            load=load,
            checks=[load, *singles, names_json(name, raw, probs, CHECK_TOP_K)],
            concurrency=conc,
        )
    ]


def primary_digits_model(ref: Reference) -> str | None:
    """The small CNN the peers serve too, else the first image model."""
    image_models = [n for n in ref.names if ref.task(n) == "image-classification"]
    if "digits-cnn" in image_models:
        return "digits-cnn"
    return image_models[0] if image_models else None


def build_scenarios(ref: Reference, conc: tuple[int, ...], bulk_conc: tuple[int, ...]) -> list[Scenario]:
    """The store's classifiers the bench knows how to load: single-image JSON and 64-image bulk for
    image models (upload for the primary one), one-name requests for text models. Other task kinds
    (the course's small models) are not benchmarked."""
    primary = primary_digits_model(ref)
    found: list[Scenario] = []
    for name in ref.names:
        if ref.task(name) == "image-classification":
            found += image_scenarios(ref, name, conc, bulk_conc, upload=name == primary)
        elif ref.task(name) == "text-classification":
            found += text_scenarios(ref, name, conc)
    # The headline scenario first, uploads last: the order rows are printed in.
    order = {"json": 0, "names": 1, "bulk": 2, "upload": 3}
    found.sort(key=lambda s: (s.model != primary or s.kind != "json", order[s.kind], s.model))
    return found
