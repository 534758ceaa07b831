"""Data loading: MNIST IDX splits and the surname CSVs."""

import csv
from collections import Counter
from pathlib import Path

import pytest
import torch
from torchvision.datasets import MNIST

from training.data import MNIST_VALIDATION_SIZE, DigitSplits, load_mnist, load_names, read_names_csv

# The only names in the shared CSVs that hold a comma (see data/README.md: "three names contain a comma").
NAMES_WITH_COMMAS = {
    "names_train.csv": [("Jevolojnov,", "Russian"), ("Lytkin,", "Russian")],
    "names_test.csv": [("Lysansky,", "Russian")],
}
ROW_COUNTS = {"names_train.csv": 13_374, "names_test.csv": 6_700}


def image_rows(images: torch.Tensor, labels: torch.Tensor) -> Counter[bytes]:
    return Counter(
        image.tobytes() + bytes([label]) for image, label in zip(images.numpy(), labels.tolist(), strict=True)
    )


@pytest.fixture(scope="module")
def mnist(data_dir: Path) -> DigitSplits:
    return load_mnist(data_dir, download=False, seed=1, limit=None)


# --- MNIST ---------------------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.parametrize(("split", "size"), [("train", 55_000), ("val", MNIST_VALIDATION_SIZE), ("test", 10_000)])
def test_mnist_split_shapes(mnist: DigitSplits, split: str, size: int) -> None:
    images, labels = getattr(mnist, split)
    assert images.shape == (size, 28, 28)
    assert images.dtype == torch.uint8
    assert labels.shape == (size,)
    assert labels.dtype == torch.int64
    assert set(labels.tolist()) == set(range(10))


@pytest.mark.data
def test_validation_is_carved_from_train_without_overlap(mnist: DigitSplits, data_dir: Path) -> None:
    """train + val is exactly the official training file, each row once; test is untouched."""
    official = MNIST(str(data_dir), train=True, download=False)
    assert image_rows(*mnist.train) + image_rows(*mnist.val) == image_rows(official.data, official.targets)
    official_test = MNIST(str(data_dir), train=False, download=False)
    assert torch.equal(mnist.test[0], official_test.data)


@pytest.mark.data
def test_validation_split_depends_only_on_the_seed(mnist: DigitSplits, data_dir: Path) -> None:
    again = load_mnist(data_dir, download=False, seed=1, limit=None)
    other = load_mnist(data_dir, download=False, seed=2, limit=None)
    assert torch.equal(again.val[0], mnist.val[0])
    assert torch.equal(again.val[1], mnist.val[1])
    assert not torch.equal(other.val[0], mnist.val[0])


@pytest.mark.data
def test_limit_takes_the_first_rows_of_each_split(mnist: DigitSplits, data_dir: Path) -> None:
    limited = load_mnist(data_dir, download=False, seed=1, limit=100)
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(limited, split)[0], getattr(mnist, split)[0][:100])


@pytest.mark.data
def test_mnist_checksums_match_the_shipped_sums(mnist: DigitSplits, data_dir: Path) -> None:
    shipped = {}
    for line in (data_dir / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split(maxsplit=1)
        shipped[Path(path).name] = digest
    assert len(mnist.checksums) == 4
    assert all(shipped[name] == digest for name, digest in mnist.checksums.items())


# --- surname CSVs --------------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.parametrize("file_name", sorted(NAMES_WITH_COMMAS))
def test_shared_csv_keeps_quoted_commas(data_dir: Path, file_name: str) -> None:
    rows = read_names_csv(data_dir / "names" / file_name)
    assert len(rows) == ROW_COUNTS[file_name]
    assert [row for row in rows if "," in row[0]] == NAMES_WITH_COMMAS[file_name]
    assert len({label for _, label in rows}) == 18


def test_read_names_csv_handles_quoting(tmp_path: Path) -> None:
    path = tmp_path / "names.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["Lytkin,", "Russian"], ['Say "Hi"', "English"], ["O'Neill", "Irish "]])
        handle.write("\n")  # a trailing blank line is ignored
    assert read_names_csv(path) == [("Lytkin,", "Russian"), ('Say "Hi"', "English"), ("O'Neill", "Irish")]


@pytest.mark.parametrize("content", ['"",Russian\n', "Lytkin,\n", "   ,Irish\n"])
def test_read_names_csv_rejects_empty_fields(tmp_path: Path, content: str) -> None:
    path = tmp_path / "names.csv"
    path.write_text("Ivanov,Russian\n" + content)
    with pytest.raises(ValueError, match="empty name or label"):
        read_names_csv(path)


@pytest.mark.data
def test_load_names_stratified_validation(data_dir: Path) -> None:
    train_csv, test_csv = data_dir / "names" / "names_train.csv", data_dir / "names" / "names_test.csv"
    splits = load_names(train_csv, test_csv, seed=1, val_fraction=0.1, limit=None)
    assert splits.labels == sorted(splits.labels) and len(splits.labels) == 18
    all_rows = Counter((name, splits.labels.index(label)) for name, label in read_names_csv(train_csv))
    assert Counter(splits.train) + Counter(splits.val) == all_rows
    per_label = Counter(label for _, label in all_rows.elements())
    val_per_label = Counter(label for _, label in splits.val)
    for label, count in per_label.items():
        assert val_per_label[label] == max(1, round(count * 0.1)), splits.labels[label]
    assert abs(len(splits.val) / sum(per_label.values()) - 0.1) < 0.002
    assert len(splits.test) == ROW_COUNTS["names_test.csv"]


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_load_names_on_a_small_file(tmp_path: Path) -> None:
    train = [(f"name{i}", "Big") for i in range(30)] + [("Solo", "Tiny"), ("Pair", "Small"), ("Twin", "Small")]
    train_csv = write_csv(tmp_path / "train.csv", train)
    test_csv = write_csv(tmp_path / "test.csv", [("Solo", "Tiny"), ("Other", "Big")])
    splits = load_names(train_csv, test_csv, seed=3, val_fraction=0.1, limit=None)
    assert splits.labels == ["Big", "Small", "Tiny"]
    # every class reaches validation, even one with a single row
    assert Counter(label for _, label in splits.val) == {0: 3, 1: 1, 2: 1}
    assert splits.test == [("Solo", 2), ("Other", 0)]
    assert splits.checksums.keys() == {"train.csv", "test.csv"}
    assert load_names(train_csv, test_csv, seed=3, val_fraction=0.1, limit=None) == splits


def test_unknown_test_label_raises(tmp_path: Path) -> None:
    train_csv = write_csv(tmp_path / "train.csv", [("Ivanov", "Russian"), ("Rossi", "Italian")])
    test_csv = write_csv(tmp_path / "test.csv", [("Smith", "English"), ("Ivanov", "Russian")])
    with pytest.raises(ValueError, match=r"labels not in the training file: \['English'\]"):
        load_names(train_csv, test_csv, seed=1, val_fraction=0.1, limit=None)
