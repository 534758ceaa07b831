"""PNG figures saved beside each artifact: learning curves, the test confusion matrix, a loss surface."""

from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from training.course_loop import CourseEpoch
from training.loop import EpochStats

LEARNING_CURVE_FILE = "learning_curve.png"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
LOSS_SURFACE_FILE = "loss_surface.png"


def save_learning_curve(history: list[EpochStats], title: str, directory: Path) -> Path:
    epochs = range(1, len(history) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h.train_loss for h in history], label="train")
    ax_loss.plot(epochs, [h.val_loss for h in history], label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.plot(epochs, [h.train_accuracy for h in history], label="train")
    ax_acc.plot(epochs, [h.val_accuracy for h in history], label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    return _save_curves(fig, (ax_loss, ax_acc), title, directory)


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


def save_course_curve(history: list[CourseEpoch], title: str, loss_name: str, directory: Path) -> Path:
    """Loss per epoch (log scale: the toy models fall by orders of magnitude), and accuracy where there is one."""
    epochs = range(1, len(history) + 1)
    with_accuracy = any(h.accuracy is not None for h in history)
    fig, axes = plt.subplots(1, 2 if with_accuracy else 1, figsize=(10 if with_accuracy else 5.5, 4), squeeze=False)
    ax_loss = axes[0][0]
    ax_loss.plot(epochs, [h.loss for h in history], label="train")
    if any(h.held_out_loss is not None for h in history):
        ax_loss.plot(epochs, [h.held_out_loss for h in history], label="held out")
    ax_loss.set(xlabel="epoch", ylabel=loss_name, title="loss", yscale="log")
    if with_accuracy:
        ax_acc = axes[0][1]
        ax_acc.plot(epochs, [h.accuracy for h in history], label="train")
        if any(h.held_out_accuracy is not None for h in history):
            ax_acc.plot(epochs, [h.held_out_accuracy for h in history], label="held out")
        ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    return _save_curves(fig, axes[0], title, directory)


def save_loss_surface(
    weights: torch.Tensor,
    biases: torch.Tensor,
    loss: torch.Tensor,
    found: tuple[float, float],
    title: str,
    directory: Path,
) -> Path:
    """The course's picture of the MSE over a (w, b) grid, with the trained (w, b) marked.

    ``loss`` is (len(biases), len(weights)): row i is bias i, as ``contourf`` expects.
    """
    fig = plt.figure(figsize=(11, 4.5))
    ax3d = fig.add_subplot(1, 2, 1, projection="3d")
    w_grid, b_grid = torch.meshgrid(weights, biases, indexing="xy")
    ax3d.plot_surface(w_grid.numpy(), b_grid.numpy(), loss.numpy(), cmap="viridis", alpha=0.9)
    ax3d.set(xlabel="w", ylabel="b", zlabel="MSE")
    ax = fig.add_subplot(1, 2, 2)
    contours = ax.contourf(
        weights.numpy(), biases.numpy(), loss.clamp(min=1e-4).log10().numpy(), levels=30, cmap="viridis"
    )
    fig.colorbar(contours, ax=ax, label="log10 MSE")
    ax.plot(*found, marker="x", color="red", markersize=10, label=f"trained: w={found[0]:.3f}, b={found[1]:.3f}")
    ax.set(xlabel="w", ylabel="b", title="contours")
    ax.legend(loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    path = directory / LOSS_SURFACE_FILE
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _save_curves(fig: Figure, axes: Iterable[Axes], title: str, directory: Path) -> Path:
    """Grid and legend on each panel, the title, and the figure saved as the learning curve."""
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path = directory / LEARNING_CURVE_FILE
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
