"""Image classification on MNIST-style inputs: 28x28 pixel grids, or image files of any size.

Files go through the MNIST procedure (``service.runtime.imaging``) first. A payload is uint8
(N, 28, 28) pixels, or float32 (N, 1, 28, 28) already normalised (V2 FP32 only).
"""

import asyncio
import base64
import binascii
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import BaseModel, Field, model_validator
from torch import nn

from artifacts import GoldenSamples, ImagePreprocessing
from service.runtime import imaging
from service.runtime.errors import DeadlineExceededError, InputTooLargeError, InvalidInputError, RuntimeServiceError
from service.runtime.graphs import Alternative, Lane, channels_last_onednn
from service.runtime.tensors import BYTES, InputTensor, TensorSpec
from service.settings import Settings
from service.tasks.base import Batch, Prepared, batch_size, bytes_input, check_count, numeric_input
from service.tasks.classification import ClassificationTask, SoftmaxOutputs, scores
from service.tasks.examples import example_seven_pixels, example_seven_png_base64
from service.tasks.pixel_parser import MAX_TOP_K, PixelRequest, parse_pixel_request
from service.tasks.schemas import StrictRequest, has_field, validate_json

# Images that decode to this many pixels in all (a few small PNGs) decode faster than a hop to a
# thread and back; larger ones would hold the event loop, however small their files.
INLINE_DECODE_PIXELS = 256 * 256
BASE64_HINT = "image_base64 is not valid base64 (check the padding and alphabet)"
V2_BASE64_HINT = "image_bytes[{}]: in JSON, send each file base64-encoded (or send the input as binary data)"
# Large images decode one at a time per process: the event loop keeps a CPU to itself, so health
# probes and small requests are answered while someone uploads huge files.
DECODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-decoder")
ONEDNN_PROBES = (4, 6, 8, 12, 16, 32, 64)  # batch sizes at which oneDNN's kernels are timed against PyTorch's
ONEDNN_FIXED_FROM = 16  # where oneDNN takes over when autotuning is off

# fail_fast: a list stops at its first bad item, so an 8 MB body of bad pixels is one error, not millions.
Pixel = Annotated[int, Field(ge=0, le=255, strict=True)]
PixelRow = Annotated[list[Pixel], Field(min_length=28, max_length=28, fail_fast=True)]
PixelGrid = Annotated[list[PixelRow], Field(min_length=28, max_length=28, fail_fast=True)]


class DigitImage(StrictRequest):
    """Exactly one of ``pixels`` or ``image_base64``."""

    pixels: PixelGrid | None = Field(
        None,
        description="28 rows of 28 integers 0..255, white digit on black (MNIST convention), used as is.",
    )
    image_base64: str | None = Field(
        None,
        description="A PNG, JPEG, BMP, GIF or WebP file, base64-encoded; any size, colour or grey, "
        "dark-on-light or light-on-dark. It goes through the MNIST procedure first.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> "DigitImage":
        if (self.pixels is None) == (self.image_base64 is None):
            raise ValueError("give exactly one of 'pixels' or 'image_base64'")
        return self


class ImagesRequest(StrictRequest):
    images: list[DigitImage] = Field(min_length=1, fail_fast=True, description="At most TINYSERVE_MAX_IMAGES (64).")
    top_k: int = Field(3, ge=1, le=MAX_TOP_K, strict=True)
    return_preprocessed: bool = Field(
        False, description="Add each image's 28x28 pixels as the model saw them (after the MNIST procedure)."
    )


class DigitsPredictRequest(ImagesRequest):
    model: str | None = Field(None, description="A digits model; default: configured or most accurate.")


class DigitScore(BaseModel):
    digit: int
    probability: float


class DigitPrediction(DigitScore):
    top_k: list[DigitScore]
    preprocessed: list[list[int]] | None = Field(None, description="Only with return_preprocessed.")


class DigitsPredictResponse(BaseModel):
    model: str
    version: int
    predictions: list[DigitPrediction]


@dataclass(frozen=True)
class ImageItems:
    """A parsed request: pixel grids already checked (the fast path), schema items, or uploaded files."""

    images: np.ndarray | Sequence[DigitImage | bytes]
    top_k: int
    return_preprocessed: bool = False
    field: str = "images"  # what error messages call the items: "files" for uploads


class NormalisedSoftmax(nn.Module):
    """uint8 (N, 28, 28) -> probabilities, so one traced graph covers normalisation and the model."""

    def __init__(self, model: nn.Module, prep: ImagePreprocessing) -> None:
        super().__init__()
        self.model = model
        self.scale = 1.0 / (255.0 * prep.std)
        self.shift = prep.mean / prep.std

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.unsqueeze(1).float() * self.scale - self.shift
        logits: torch.Tensor = self.model(x)
        return logits.softmax(dim=1)


class ImageClassification(ClassificationTask[ImageItems, np.ndarray]):
    kind = "image-classification"
    preprocessing = ImagePreprocessing
    request_model = ImagesRequest
    response_model = DigitsPredictResponse
    examples = {
        "pixels": {
            "summary": "a 28x28 grid, MNIST convention",
            "value": {"images": [{"pixels": example_seven_pixels()}], "top_k": 3},
        },
        "image_base64": {
            "summary": "a PNG drawn dark on light",
            "value": {"images": [{"image_base64": example_seven_png_base64()}]},
        },
    }
    errors = {
        400: "undecodable image, image without ink, body not JSON",
        413: "body or image too large",
        422: "schema violation (shape, pixel range, counts, top_k, wrong model task)",
    }
    label_datatype = "INT64"
    accepts_files = True
    items_field = "images"

    def __init__(self, manifest: Any, settings: Settings) -> None:
        super().__init__(manifest, settings)
        prep = manifest.preprocessing
        self.scale = np.float32(1.0 / (255.0 * prep.std))
        self.shift = np.float32(prep.mean / prep.std)

    # ---- /v1 ----

    @classmethod
    def parse(cls, body: bytes, schema: type[BaseModel], settings: Settings) -> tuple[ImageItems, str | None]:
        fast: PixelRequest | None = parse_pixel_request(body)
        if fast is not None and (fast.model is None or has_field(schema, "model")):
            check_count("images", len(fast.pixels), settings.max_images)
            return ImageItems(fast.pixels, fast.top_k), fast.model
        parsed = validate_json(schema, body)
        assert isinstance(parsed, ImagesRequest)
        check_count("images", len(parsed.images), settings.max_images)
        return ImageItems(parsed.images, parsed.top_k, parsed.return_preprocessed), getattr(parsed, "model", None)

    @classmethod
    def parse_files(
        cls, files: Sequence[bytes], top_k: int, return_preprocessed: bool, settings: Settings
    ) -> ImageItems:
        check_count("images", len(files), settings.max_images)
        return ImageItems(files, top_k, return_preprocessed, "files")

    async def prepare(self, request: ImageItems) -> Prepared[np.ndarray]:
        images = request.images
        if isinstance(images, np.ndarray):  # pixel grids, already checked by the fast path
            return Prepared(images, len(images))
        if all(isinstance(image, DigitImage) and image.pixels is not None for image in images):
            grids = [image.pixels for image in images]  # type: ignore[union-attr]
            return Prepared(np.asarray(grids, dtype=np.uint8).reshape(len(grids), 28, 28), len(grids))
        sources = [_source(image, i) for i, image in enumerate(images)]
        return Prepared(await self.decode(sources, request.field), len(images))

    def encode(self, request: ImageItems, prepared: Prepared[np.ndarray], outputs: np.ndarray) -> list[dict[str, Any]]:
        predictions = []
        for i, ranked in enumerate(self.ranked(outputs, request.top_k)):
            prediction = {"digit": ranked[0][0], "probability": ranked[0][1], "top_k": scores(ranked, "digit")}
            if request.return_preprocessed:
                prediction["preprocessed"] = prepared.payload[i].tolist()
            predictions.append(prediction)
        return predictions

    def label_values(self, indices: np.ndarray) -> np.ndarray:
        return indices.astype(np.int64)  # a digit model's class index is the digit

    async def decode(self, sources: Sequence[bytes | np.ndarray], field: str) -> np.ndarray:
        """Image files (and pixel grids among them) as uint8 (N, 28, 28), within the request's pixel
        budget; on the event loop when they decode small, else in a thread within the deadline."""
        # A file over the per-image limit counts for nothing here: decoding refuses it, naming it, before any work.
        sizes = (imaging.declared_pixels(source) for source in sources if isinstance(source, bytes))
        declared = sum(size for size in sizes if size <= self.settings.max_image_pixels)
        limit = self.settings.max_request_pixels
        if declared > limit:
            raise InputTooLargeError(f"the images declare {declared} pixels in all; at most {limit} per request")
        if declared <= INLINE_DECODE_PIXELS:
            return self.decode_now(sources, field)
        timeout = self.settings.request_timeout_s
        decoding = asyncio.get_running_loop().run_in_executor(DECODER, self.decode_now, sources, field)
        try:
            return await asyncio.wait_for(decoding, timeout)
        except TimeoutError:
            raise DeadlineExceededError(f"no answer within the {timeout:g} s deadline (decoding the images)") from None

    def decode_now(self, sources: Sequence[bytes | np.ndarray], field: str) -> np.ndarray:
        arrays = []
        for i, source in enumerate(sources):
            try:
                arrays.append(self.to_mnist(source) if isinstance(source, bytes) else source[None])
            except RuntimeServiceError as exc:
                raise type(exc)(f"{field}[{i}]: {exc}") from None
        return np.concatenate(arrays)

    def to_mnist(self, data: bytes) -> np.ndarray:
        return imaging.image_to_mnist(data, self.settings.max_image_pixels)[None]

    # ---- V2 ----

    def v2_inputs(self) -> tuple[TensorSpec, ...]:
        # Metadata has one datatype per input: `images` also takes FP32 [-1, 1, 28, 28], already normalised.
        return TensorSpec("images", "UINT8", (-1, 28, 28)), TensorSpec("image_bytes", BYTES, (-1,))

    async def v2_prepare(self, inputs: list[InputTensor]) -> Prepared[np.ndarray]:
        tensor = self.single_input(inputs)
        limit = self.settings.max_images
        if tensor.name == "image_bytes":
            n = batch_size(tensor, 1, limit, "[n] for n encoded image files")
            if tensor.datatype != BYTES:
                raise InvalidInputError(f"input 'image_bytes' must be BYTES (PNG/JPEG files), not {tensor.datatype}")
            data = bytes_input(tensor, "PNG/JPEG files")
            files = (
                data if tensor.binary else [b64decode(text, V2_BASE64_HINT.format(i)) for i, text in enumerate(data)]
            )
            return Prepared(await self.decode(files, "image_bytes"), n)
        if tensor.datatype == "UINT8":
            n = batch_size(tensor, 3, limit, "[n, 28, 28]")
            if tensor.shape[1:] != (28, 28):
                raise InvalidInputError(f"input 'images': shape {list(tensor.shape)} should be [n, 28, 28]")
            return Prepared(numeric_input(tensor), n)
        if tensor.datatype == "FP32":
            n = batch_size(tensor, 4, limit, "[n, 1, 28, 28]")
            if tensor.shape[1:] != (1, 28, 28):
                raise InvalidInputError(f"input 'images': shape {list(tensor.shape)} should be [n, 1, 28, 28]")
            floats = numeric_input(tensor)
            if not np.isfinite(floats).all():
                raise InvalidInputError("input 'images': FP32 values must be finite (no NaN or infinity)")
            return Prepared(floats, n)
        prep = self.manifest.preprocessing
        assert isinstance(prep, ImagePreprocessing)
        raise InvalidInputError(
            f"input 'images' must be UINT8 [-1, 28, 28] (pixels 0..255, white digit on black) or "
            f"FP32 [-1, 1, 28, 28] (pixels / 255, then (x - {prep.mean}) / {prep.std}); got {tensor.datatype}"
        )

    # ---- the model ----

    def lanes(self, model: nn.Module, golden: GoldenSamples, device: torch.device) -> list[Lane]:
        prep = self.manifest.preprocessing
        assert isinstance(prep, ImagePreprocessing) and golden.pixels is not None
        pixels = golden.pixels
        served = NormalisedSoftmax(model, prep).to(device).eval()
        example = (torch.zeros(2, 28, 28, dtype=torch.uint8, device=device),)
        onednn = Alternative(
            build=lambda graph: channels_last_onednn(served, example),
            regime="from",
            probes=ONEDNN_PROBES,
            fixed_threshold=ONEDNN_FIXED_FROM,
            inputs_for=lambda rows: (torch.from_numpy(np.resize(pixels.numpy(), (rows, 28, 28))),),
        )
        floats = torch.from_numpy(self.normalise(pixels.numpy()))
        return [
            Lane("pixels", served, [((pixels,), golden.probabilities)], example, onednn),
            # Normalised float input (V2 FP32) is rare: it stays eager, so no second trace is paid for.
            Lane("floats", SoftmaxOutputs(model).to(device).eval(), [((floats,), golden.probabilities)]),
        ]

    def collate(self, payloads: Sequence[np.ndarray]) -> Batch:
        if all(payload.dtype == np.uint8 for payload in payloads):  # the common case: one graph does it all
            batch = payloads[0] if len(payloads) == 1 else np.concatenate(payloads)
            return Batch("pixels", (torch.from_numpy(batch),), len(batch))
        floats = [self.normalise(p) if p.dtype == np.uint8 else p for p in payloads]
        batch = floats[0] if len(floats) == 1 else np.concatenate(floats)
        return Batch("floats", (torch.from_numpy(batch),), len(batch))

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) as the model's first layer sees them."""
        normalised: np.ndarray = pixels[:, None].astype(np.float32) * self.scale - self.shift
        return normalised

    def golden_payload(self, golden: GoldenSamples) -> np.ndarray:
        assert golden.pixels is not None, "image artifacts store golden pixels"
        return golden.pixels.numpy()


def _source(image: DigitImage | bytes, index: int) -> bytes | np.ndarray:
    """A JSON image as the file it carries or its pixel grid, naming a bad one."""
    if isinstance(image, bytes):
        return image
    if image.pixels is not None:
        return np.asarray(image.pixels, dtype=np.uint8)
    assert image.image_base64 is not None
    try:
        return b64decode(image.image_base64, BASE64_HINT)
    except InvalidInputError as exc:
        raise InvalidInputError(f"images[{index}]: {exc}") from None


def b64decode(text: str | bytes, error: str) -> bytes:
    """Base64 as clients send it: data URLs as browsers produce them, and line breaks as the base64
    command writes them every 76 characters."""
    if isinstance(text, str):
        text = text.encode("ascii", errors="replace")
    if text.startswith(b"data:"):
        text = text.partition(b",")[2]
    try:
        return base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(error) from None
