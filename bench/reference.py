"""The oracle: an in-process forward pass of the same artifact, loaded through ``artifacts.ModelStore``.

Deliberately the plain eager model with the manifest's normalisation written out, not the
server's code path (tinyserve traces and freezes its graph and batches requests): agreement
with this is what "correct" means in every benchmark run.
"""

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from artifacts import ImagePreprocessing, LoadedArtifact, ModelStore, TextPreprocessing
from artifacts.text import encode_names, fold_name
from service.runtime.imaging import image_to_mnist

# Uploads are decoded with the server's own MNIST procedure (same pixels in), default size limit.
MAX_IMAGE_PIXELS = 4096 * 4096


class Reference:
    def __init__(self, store: Path) -> None:
        self.store = ModelStore(store)
        self._loaded: dict[str, LoadedArtifact] = {}

    @cached_property
    def names(self) -> list[str]:
        return self.store.model_names()

    def artifact(self, name: str) -> LoadedArtifact:
        if name not in self._loaded:
            self._loaded[name] = self.store.load(name)
        return self._loaded[name]

    def task(self, name: str) -> str:
        return self.artifact(name).manifest.task

    def digits(self, name: str, pixels: np.ndarray) -> np.ndarray:
        """uint8 (N, 28, 28) -> probabilities (N, 10) float64."""
        artifact = self.artifact(name)
        prep = artifact.manifest.preprocessing
        assert isinstance(prep, ImagePreprocessing)
        x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.uint8)).float().unsqueeze(1)
        x = (x / 255.0 - prep.mean) / prep.std
        with torch.inference_mode():
            probabilities = artifact.model(x).softmax(dim=1)
        result: np.ndarray = probabilities.double().numpy()
        return result

    def uploads(self, name: str, files: Sequence[bytes]) -> np.ndarray:
        """Image files -> the server's MNIST procedure -> probabilities."""
        return self.digits(name, np.stack([image_to_mnist(data, MAX_IMAGE_PIXELS) for data in files]))

    def countries(self, name: str, raw_names: Sequence[str]) -> np.ndarray:
        """Surnames -> probabilities (N, countries) float64."""
        artifact = self.artifact(name)
        prep = artifact.manifest.preprocessing
        assert isinstance(prep, TextPreprocessing)
        folded = [fold_name(raw)[: prep.max_length] for raw in raw_names]
        tokens, lengths = encode_names(folded, prep.vocabulary)
        with torch.inference_mode():
            probabilities = artifact.model(tokens, lengths).softmax(dim=1)
        result: np.ndarray = probabilities.double().numpy()
        return result
