"""Feature scaling of tabular models, shared by training and serving.

The manifest stores per-feature ``mean`` and ``std`` computed on the training split;
both sides call :func:`standardise` with them, so a model never sees features
scaled one way in training and another way in serving.
"""

from collections.abc import Sequence

import torch


def standardise(
    features: torch.Tensor, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor
) -> torch.Tensor:
    """``(features - mean) / std`` per column: float (N, F) raw values -> float32 (N, F).

    Traceable: given tensor statistics (a served graph's buffers) it records only the
    arithmetic, and the shape check, which the server makes before batching, is skipped
    while tracing.
    """
    x = features.float()
    mean_t = _as_float_tensor(mean, x.device)
    std_t = _as_float_tensor(std, x.device)
    if not _tracing() and (x.dim() != 2 or x.shape[1] != mean_t.numel() or mean_t.shape != std_t.shape):
        raise ValueError(f"features of shape {tuple(x.shape)} do not fit {mean_t.numel()} scaling statistics")
    return (x - mean_t) / std_t


def _tracing() -> bool:
    result: bool = torch.jit.is_tracing()  # type: ignore[attr-defined,no-untyped-call]  # public, untyped
    return result


def _as_float_tensor(values: Sequence[float] | torch.Tensor, device: torch.device) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.to(device=device, dtype=torch.float32)
    return torch.tensor(values, dtype=torch.float32, device=device)


def scaling_statistics(train_features: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-column mean and (population) std of the training split, as the manifest stores them.

    A constant column gets std 1: dividing by zero would make every input infinite, and the
    column carries no information the model could scale anyway.
    """
    x = train_features.double()
    mean = x.mean(dim=0)
    std = x.std(dim=0, correction=0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return [float(m) for m in mean], [float(s) for s in std]
