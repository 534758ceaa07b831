"""Data sets: MNIST from IDX files through torchvision, surnames from ``name,label`` CSV files."""

import csv
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.datasets import MNIST

from artifacts.store import sha256_file

MNIST_VALIDATION_SIZE = 5000


@dataclass(frozen=True)
class DigitSplits:
    """uint8 images (N, 28, 28) and int64 labels for each split."""

    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    checksums: dict[str, str]


@dataclass(frozen=True)
class NameSplits:
    """(raw name, label index) rows for each split, and the label names in index order."""

    train: list[tuple[str, int]]
    val: list[tuple[str, int]]
    test: list[tuple[str, int]]
    labels: list[str]
    checksums: dict[str, str]


def load_mnist(data_dir: Path, *, download: bool, seed: int, limit: int | None) -> DigitSplits:
    """The official 60k/10k split, with the last 5,000 of a seeded shuffle of train held out."""
    train_set = MNIST(str(data_dir), train=True, download=download)
    test_set = MNIST(str(data_dir), train=False, download=download)
    perm = torch.randperm(len(train_set.data), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = perm[:MNIST_VALIDATION_SIZE], perm[MNIST_VALIDATION_SIZE:]
    images, labels = train_set.data, train_set.targets
    raw = Path(train_set.raw_folder)
    checksums = {p.name: sha256_file(p) for p in sorted(raw.glob("*-ubyte"))}
    return DigitSplits(
        train=_take(images[train_idx], labels[train_idx], limit),
        val=_take(images[val_idx], labels[val_idx], limit),
        test=_take(test_set.data, test_set.targets, limit),
        checksums=checksums,
    )


def _take(x: torch.Tensor, y: torch.Tensor, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    return (x[:limit], y[:limit]) if limit else (x, y)


def read_names_csv(path: Path) -> list[tuple[str, str]]:
    """Rows of ``name,label`` without a header; standard CSV quoting (names may hold commas)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [(row[0], row[1].strip()) for row in csv.reader(handle) if row]
    bad = [row for row in rows if not row[0].strip() or not row[1]]
    if bad:
        raise ValueError(f"{path}: {len(bad)} rows with an empty name or label, first {bad[0]}")
    return rows


def load_names(train_csv: Path, test_csv: Path, *, seed: int, val_fraction: float, limit: int | None) -> NameSplits:
    """Labels come from the training file; a stratified ``val_fraction`` of it is held out."""
    train_rows, test_rows = read_names_csv(train_csv), read_names_csv(test_csv)
    labels = sorted({label for _, label in train_rows})
    index = {label: i for i, label in enumerate(labels)}
    unknown = {label for _, label in test_rows} - index.keys()
    if unknown:
        raise ValueError(f"{test_csv}: labels not in the training file: {sorted(unknown)}")
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for label in labels:
        rows = [(name, index[label]) for name, lab in train_rows if lab == label]
        order = torch.randperm(len(rows), generator=generator).tolist()
        n_val = max(1, round(len(rows) * val_fraction))
        val += [rows[i] for i in order[:n_val]]
        train += [rows[i] for i in order[n_val:]]
    test = [(name, index[label]) for name, label in test_rows]
    checksums = {p.name: sha256_file(p) for p in (train_csv, test_csv)}
    shuffle = torch.randperm(len(train), generator=generator).tolist()
    train = [train[i] for i in shuffle]
    return NameSplits(
        train=train[:limit] if limit else train,
        val=val[:limit] if limit else val,
        test=test[:limit] if limit else test,
        labels=labels,
        checksums=checksums,
    )
