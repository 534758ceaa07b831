"""PNG figures saved beside each artifact: learning curves and the test confusion matrix."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import torch

from training.loop import EpochStats

LEARNING_CURVE_FILE = "learning_curve.png"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"


def save_learning_curve(history: list[EpochStats], title: str, directory: Path) -> Path:
    epochs = range(1, len(history) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h.train_loss for h in history], label="train")
    ax_loss.plot(epochs, [h.val_loss for h in history], label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.plot(epochs, [h.train_accuracy for h in history], label="train")
    ax_acc.plot(epochs, [h.val_accuracy for h in history], label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path = directory / LEARNING_CURVE_FILE
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    flat = labels * num_classes + predicted
    return torch.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


def save_confusion_matrix(matrix: torch.Tensor, labels: list[str], title: str, directory: Path) -> Path:
    """Row-normalised so that small classes stay visible; raw counts are written in each cell."""
    size = max(5.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    rates = matrix.float() / matrix.sum(dim=1, keepdim=True).clamp(min=1)
    ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for (row, col), count in zip(
        torch.cartesian_prod(torch.arange(len(labels)), torch.arange(len(labels))).tolist(),
        matrix.flatten().tolist(),
        strict=True,
    ):
        if count:
            ax.text(
                col,
                row,
                str(count),
                ha="center",
                va="center",
                fontsize=6,
                color="white" if rates[row, col] > 0.5 else "black",
            )
    fig.tight_layout()
    path = directory / CONFUSION_MATRIX_FILE
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
