"""Task-independent training: epochs with progress bars, validation, best-on-validation state."""

import copy
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm  # type: ignore[import-untyped]

# A batch is (model inputs, labels); the model is called as model(*inputs).
Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]


@dataclass
class EpochStats:
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float


@dataclass
class FitResult:
    history: list[EpochStats] = field(default_factory=list)
    best_epoch: int = 0
    best_val_accuracy: float = -1.0
    seconds: float = 0.0


@dataclass(frozen=True)
class FitConfig:
    epochs: int
    lr: float
    weight_decay: float
    label_smoothing: float
    max_steps: int | None
    steps_per_epoch: int


def autocast_for(device: torch.device) -> "torch.autocast | nullcontext[None]":
    """bf16 autocast on CUDA (no loss scaling needed); plain float32 on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


@torch.inference_mode()
def predict_logits(
    model: nn.Module, batches: Iterable[Batch], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenated float32 logits and labels over ``batches``, on the CPU."""
    model.eval()
    all_logits, all_labels = [], []
    for inputs, labels in batches:
        with autocast_for(device):
            logits = model(*(t.to(device) for t in inputs))
        all_logits.append(logits.float().cpu())
        all_labels.append(labels.cpu())
    return torch.cat(all_logits), torch.cat(all_labels)


def accuracy_percent(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return 100.0 * float((logits.argmax(dim=1) == labels).float().mean())


def fit(
    model: nn.Module,
    train_batches: Callable[[int], Iterator[Batch]],
    val_batches: Callable[[], Iterable[Batch]],
    config: FitConfig,
    device: torch.device,
) -> tuple[FitResult, dict[str, torch.Tensor]]:
    """Train with AdamW + one-cycle; return the history and the best-on-validation weights."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total_steps = config.epochs * config.steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=max(total_steps, 1))
    result, best_state = FitResult(), copy.deepcopy(model.state_dict())
    started, step = time.perf_counter(), 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        seen = correct = 0
        loss_sum = 0.0
        bar = tqdm(
            train_batches(epoch),
            total=config.steps_per_epoch,
            desc=f"epoch {epoch}/{config.epochs}",
            leave=False,
            mininterval=1.0,
        )
        for inputs, labels in bar:
            if step >= total_steps:
                break
            inputs, labels = tuple(t.to(device) for t in inputs), labels.to(device)
            with autocast_for(device):
                logits = model(*inputs)
                loss = F.cross_entropy(logits.float(), labels, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            scheduler.step()
            step += 1
            seen += len(labels)
            correct += int((logits.argmax(1) == labels).sum())
            loss_sum += float(loss.detach()) * len(labels)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{100 * correct / seen:.2f}%")
        val_logits, val_labels = predict_logits(model, val_batches(), device)
        stats = EpochStats(
            train_loss=loss_sum / max(seen, 1),
            train_accuracy=100 * correct / max(seen, 1),
            val_loss=float(F.cross_entropy(val_logits, val_labels)),
            val_accuracy=accuracy_percent(val_logits, val_labels),
        )
        result.history.append(stats)
        tqdm.write(
            f"epoch {epoch}: train loss {stats.train_loss:.4f} acc {stats.train_accuracy:.2f}% | "
            f"val loss {stats.val_loss:.4f} acc {stats.val_accuracy:.2f}%"
        )
        if stats.val_accuracy > result.best_val_accuracy:
            result.best_val_accuracy, result.best_epoch = stats.val_accuracy, epoch
            best_state = copy.deepcopy(model.state_dict())
        if step >= total_steps:
            break
    result.seconds = time.perf_counter() - started
    return result, best_state
