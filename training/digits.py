"""MNIST digits: batches with on-the-fly augmentation, normalised as the manifest records."""

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from artifacts import GoldenSamples, ImagePreprocessing
from artifacts.manifest import Task
from training.data import DigitSplits
from training.loop import Batch

DIGIT_LABELS = [str(d) for d in range(10)]


def normalise(pixels: torch.Tensor, prep: ImagePreprocessing) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28), as the service does from the manifest."""
    return ((pixels.float() / 255.0 - prep.mean) / prep.std).unsqueeze(1)


def random_affine(
    images: torch.Tensor, generator: torch.Generator, degrees: float, shift: float, scale: float
) -> torch.Tensor:
    """Rotate, scale and shift a whole batch of [0, 1] images at once (one grid_sample call)."""
    n = images.shape[0]

    def uniform(limit: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * limit

    angle = uniform(math.radians(degrees))
    zoom = 1 + uniform(scale)
    # affine_grid works in [-1, 1] coordinates: one pixel of 28 is 2/28.
    tx, ty = uniform(shift * 2 / 28), uniform(shift * 2 / 28)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(images.device), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


@dataclass
class DigitsTask:
    splits: DigitSplits
    batch_size: int
    seed: int
    augment: bool
    device: torch.device
    preprocessing: ImagePreprocessing = field(default_factory=ImagePreprocessing)
    task: Task = "image-classification"
    labels: list[str] = field(default_factory=lambda: list(DIGIT_LABELS))

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.splits.train[1]) / self.batch_size)

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        generator = torch.Generator().manual_seed(self.seed * 1000 + epoch)
        images, labels = self.splits.train
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            x = images[idx].to(self.device).float().unsqueeze(1) / 255.0
            if self.augment:
                x = random_affine(x, generator, degrees=10, shift=2, scale=0.1)
            x = (x - self.preprocessing.mean) / self.preprocessing.std
            yield (x,), labels[idx]

    def eval_batches(self, split: tuple[torch.Tensor, torch.Tensor]) -> Iterator[Batch]:
        images, labels = split
        for start in range(0, len(labels), 1000):
            yield (normalise(images[start : start + 1000], self.preprocessing),), labels[start : start + 1000]

    @torch.inference_mode()
    def golden(self, model: torch.nn.Module) -> GoldenSamples:
        """Eight validation images (never test images) and the CPU float32 probabilities."""
        pixels = self.splits.val[0][:8].clone()
        model = model.cpu().eval()
        probabilities = model(normalise(pixels, self.preprocessing)).softmax(dim=1)
        return GoldenSamples(probabilities=probabilities, pixels=pixels)
