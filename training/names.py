"""Surnames: folded and encoded by the same functions the service uses."""

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from artifacts import GoldenSamples, TextPreprocessing
from artifacts.manifest import Task
from artifacts.text import FOLDING_RULE, MAX_NAME_LENGTH, VOCABULARY, encode_names, fold_name
from training.data import NameSplits
from training.loop import Batch

# Spread over scripts and countries, so the golden check exercises folding too.
GOLDEN_NAMES = ["Nakamura", "Dvořák", "Müller", "Иванов", "O'Neill", "Nguyễn", "Παπαδόπουλος", "Rossi"]


def encode_rows(rows: list[tuple[str, int]]) -> Batch:
    tokens, lengths = encode_names([fold_name(name)[:MAX_NAME_LENGTH] for name, _ in rows])
    return (tokens, lengths), torch.tensor([label for _, label in rows], dtype=torch.int64)


@dataclass
class NamesTask:
    splits: NameSplits
    batch_size: int
    seed: int
    preprocessing: TextPreprocessing = field(
        default_factory=lambda: TextPreprocessing(
            vocabulary=VOCABULARY, folding=FOLDING_RULE, max_length=MAX_NAME_LENGTH
        )
    )
    task: Task = "text-classification"

    @property
    def labels(self) -> list[str]:
        return self.splits.labels

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.splits.train) / self.batch_size)

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        generator = torch.Generator().manual_seed(self.seed * 1000 + epoch)
        order = torch.randperm(len(self.splits.train), generator=generator).tolist()
        for start in range(0, len(order), self.batch_size):
            yield encode_rows([self.splits.train[i] for i in order[start : start + self.batch_size]])

    def eval_batches(self, rows: list[tuple[str, int]]) -> Iterator[Batch]:
        for start in range(0, len(rows), 512):
            yield encode_rows(rows[start : start + 512])

    @torch.inference_mode()
    def golden(self, model: torch.nn.Module) -> GoldenSamples:
        model = model.cpu().eval()
        tokens, lengths = encode_names([fold_name(name) for name in GOLDEN_NAMES])
        probabilities = model(tokens, lengths).softmax(dim=1)
        return GoldenSamples(probabilities=probabilities, names=list(GOLDEN_NAMES))
