"""The hand-written FastAPI baseline: what one would write in an afternoon, for comparison.

Same models (loaded with ``artifacts.ModelStore``), same request and response shapes as
tinyserve's /v1 routes, same MNIST procedure for uploads. Plain FastAPI: pydantic request and
response models, ``async def`` endpoints that run the forward pass inline on the event loop
(one forward per request, no batching), torch's default settings apart from the thread count.

Run:  BENCH_MODEL_STORE=models_store uvicorn bench.baseline_app:create_app --factory --port 8100
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from fastapi import FastAPI, File, HTTPException, Query, UploadFile
from pydantic import BaseModel, Field

from artifacts import ImagePreprocessing, LoadedArtifact, ModelStore, TextPreprocessing
from artifacts.text import encode_names, fold_name
from service.runtime.imaging import image_to_mnist

MAX_IMAGE_PIXELS = 4096 * 4096
Pixel = Annotated[int, Field(ge=0, le=255)]
Row = Annotated[list[Pixel], Field(min_length=28, max_length=28)]


class DigitImage(BaseModel):
    pixels: Annotated[list[Row], Field(min_length=28, max_length=28)]


class DigitsRequest(BaseModel):
    images: Annotated[list[DigitImage], Field(min_length=1, max_length=64)]
    top_k: Annotated[int, Field(ge=1, le=10)] = 3
    model: str | None = None


class DigitScore(BaseModel):
    digit: int
    probability: float


class DigitPrediction(DigitScore):
    top_k: list[DigitScore]


class DigitsResponse(BaseModel):
    model: str
    version: int
    predictions: list[DigitPrediction]


class NamesRequest(BaseModel):
    names: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(min_length=1, max_length=256)]
    top_k: Annotated[int, Field(ge=1, le=18)] = 3
    model: str | None = None


class CountryScore(BaseModel):
    country: str
    probability: float


class NamePrediction(CountryScore):
    name: str
    normalized: str
    top_k: list[CountryScore]


class NamesResponse(BaseModel):
    model: str
    version: int
    predictions: list[NamePrediction]


MODELS: dict[str, LoadedArtifact] = {}


def _best(task: str) -> str:
    candidates = [a for a in MODELS.values() if a.manifest.task == task]
    if not candidates:
        raise HTTPException(503, f"no {task} model")
    return max(candidates, key=lambda a: a.manifest.metrics.test_accuracy).manifest.name


def _artifact(name: str | None, task: str) -> LoadedArtifact:
    artifact = MODELS.get(name or _best(task))
    if artifact is None or artifact.manifest.task != task:
        raise HTTPException(404, f"model {name!r} not served")
    return artifact


def _digits(artifact: LoadedArtifact, pixels: torch.Tensor, k: int) -> DigitsResponse:
    prep = artifact.manifest.preprocessing
    assert isinstance(prep, ImagePreprocessing)
    x = (pixels.float().unsqueeze(1) / 255.0 - prep.mean) / prep.std
    with torch.inference_mode():
        probabilities = artifact.model(x).softmax(dim=1)
    top_p, top_i = probabilities.topk(k, dim=1)
    predictions = []
    for ps, idx in zip(top_p.tolist(), top_i.tolist(), strict=True):
        ranked = [DigitScore(digit=d, probability=p) for d, p in zip(idx, ps, strict=True)]
        predictions.append(DigitPrediction(digit=idx[0], probability=ps[0], top_k=ranked))
    return DigitsResponse(model=artifact.manifest.name, version=artifact.manifest.version, predictions=predictions)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    torch.set_num_threads(int(os.environ.get("BENCH_TORCH_THREADS", "1")))
    store = ModelStore(Path(os.environ.get("BENCH_MODEL_STORE", "models_store")))
    for name in store.model_names():
        MODELS[name] = store.load(name)
    yield
    MODELS.clear()


def create_app() -> FastAPI:
    app = FastAPI(title="hand-written baseline", lifespan=lifespan)

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        if not MODELS:
            raise HTTPException(503, "loading")
        return {"status": "ready"}

    @app.post("/v1/digits/predict", response_model=DigitsResponse)
    async def predict_digits(request: DigitsRequest) -> DigitsResponse:
        artifact = _artifact(request.model, "image-classification")
        pixels = torch.tensor([image.pixels for image in request.images], dtype=torch.uint8)
        return _digits(artifact, pixels, request.top_k)

    @app.post("/v1/digits/predict/upload", response_model=DigitsResponse)
    async def predict_uploads(
        files: Annotated[list[UploadFile], File()],
        top_k: Annotated[int, Query(ge=1, le=10)] = 3,
        model: str | None = None,
    ) -> DigitsResponse:
        artifact = _artifact(model, "image-classification")
        grids = [image_to_mnist(await upload.read(), MAX_IMAGE_PIXELS) for upload in files]
        return _digits(artifact, torch.from_numpy(np.stack(grids)), top_k)

    @app.post("/v1/names/predict", response_model=NamesResponse)
    async def predict_names(request: NamesRequest) -> NamesResponse:
        artifact = _artifact(request.model, "text-classification")
        prep = artifact.manifest.preprocessing
        assert isinstance(prep, TextPreprocessing)
        folded = [fold_name(name)[: prep.max_length] for name in request.names]
        tokens, lengths = encode_names(folded, prep.vocabulary)
        with torch.inference_mode():
            probabilities = artifact.model(tokens, lengths).softmax(dim=1)
        labels = artifact.manifest.labels
        top_p, top_i = probabilities.topk(request.top_k, dim=1)
        predictions = []
        for name, norm, ps, idx in zip(request.names, folded, top_p.tolist(), top_i.tolist(), strict=True):
            ranked = [CountryScore(country=labels[c], probability=p) for c, p in zip(idx, ps, strict=True)]
            predictions.append(
                NamePrediction(name=name, normalized=norm, country=labels[idx[0]], probability=ps[0], top_k=ranked)
            )
        return NamesResponse(model=artifact.manifest.name, version=artifact.manifest.version, predictions=predictions)

    return app
