"""The course's two toy models: linear regression (y = 2x) and logistic regression (hours -> pass).

The data is the course's, written here; the features are fed unscaled (mean 0, std 1 in the
manifest) so the trained weight and bias are the course's ``w`` and ``b``.
"""

import torch
import torch.nn.functional as F
from torch import nn

from artifacts import GoldenSamples
from artifacts.manifest import REGRESSION, TABULAR_CLASSIFICATION, Feature, Preprocessing, TabularPreprocessing
from artifacts.tabular import standardise
from nets import build_model
from nets.course import binary_probabilities
from training.course_loop import CourseFit, Pair, fit_course_model, make_optimiser, whole_batch
from training.course_publish import CourseArtifact

LINEAR_DATA: Pair = (torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([[2.0], [4.0], [6.0]]))
LOGISTIC_DATA: Pair = (torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([[0.0], [0.0], [1.0]]))
GOLDEN_INPUTS = torch.tensor([[1.0], [2.0], [3.0], [4.0]])  # the training points and the course's question, x = 4

LINEAR = CourseArtifact(
    name="linear-regression",
    task=REGRESSION,
    architecture="linear-regression",
    architecture_args={"in_features": 1},
    labels=["y"],
    preprocessing=TabularPreprocessing(
        features=[Feature(name="x", description="the course's input; the training points follow y = 2x")],
        mean=[0.0],
        std=[1.0],
    ),
    loss_name="MSE (sum over the points)",
)
LOGISTIC = CourseArtifact(
    name="logistic-regression",
    task=TABULAR_CLASSIFICATION,
    architecture="logistic-regression",
    architecture_args={"in_features": 1},
    labels=["fail", "pass"],
    preprocessing=TabularPreprocessing(
        features=[Feature(name="hours", unit="h", minimum=0.0, description="hours studied for the exam")],
        mean=[0.0],
        std=[1.0],
    ),
    loss_name="binary cross-entropy",
)


def served_output(model: nn.Module, prep: Preprocessing, x: torch.Tensor) -> torch.Tensor:
    """The model's output on raw features, scaled by the manifest as the service does it."""
    if not isinstance(prep, TabularPreprocessing):
        raise ValueError(f"a regression model needs tabular pre-processing, not {prep.kind!r}")
    output: torch.Tensor = model(standardise(x, prep.mean, prep.std))
    return output


def weight_and_bias(model: nn.Module) -> tuple[float, float]:
    linear = model.get_submodule("linear")
    assert isinstance(linear, nn.Linear)
    return float(linear.weight.detach().reshape(-1)[0]), float(linear.bias.detach()[0])


def train_linear(epochs: int, lr: float) -> tuple[nn.Module, CourseFit]:
    """The course's recipe: SGD on the summed squared error of the three points."""
    model = build_model(LINEAR.architecture, **LINEAR.architecture_args)
    fit = fit_course_model(
        model,
        whole_batch(LINEAR_DATA),
        train=LINEAR_DATA,
        epochs=epochs,
        optimiser=make_optimiser("sgd", model, lr),
        loss_fn=lambda output, target: F.mse_loss(output, target, reduction="sum"),
    )
    return model, fit


@torch.no_grad()
def linear_figures(model: nn.Module, prep: Preprocessing = LINEAR.preprocessing) -> dict[str, float]:
    """MSE on the training points, the learnt ``w`` and ``b``, and the prediction at x = 4."""
    model.eval()
    inputs, targets = LINEAR_DATA
    w, b = weight_and_bias(model)
    return {
        "mse": float(F.mse_loss(served_output(model, prep, inputs), targets)),
        "w": w,
        "b": b,
        "prediction_at_4": float(served_output(model, prep, torch.tensor([[4.0]]))[0, 0]),
    }


def pass_accuracy(p: torch.Tensor, passed: torch.Tensor) -> float:
    return 100.0 * float(((p > 0.5).float() == passed).float().mean())


def train_logistic(epochs: int, lr: float) -> tuple[nn.Module, CourseFit]:
    """SGD on the mean binary cross-entropy of the three students, as in the course."""
    model = build_model(LOGISTIC.architecture, **LOGISTIC.architecture_args)
    fit = fit_course_model(
        model,
        whole_batch(LOGISTIC_DATA),
        train=LOGISTIC_DATA,
        epochs=epochs,
        optimiser=make_optimiser("sgd", model, lr),
        loss_fn=F.binary_cross_entropy,
        scorer=pass_accuracy,
    )
    return model, fit


@torch.no_grad()
def logistic_figures(model: nn.Module, prep: Preprocessing = LOGISTIC.preprocessing) -> dict[str, float]:
    """Loss and accuracy on the training points, ``w``, ``b``, and P(pass) after 1 and 4 hours."""
    model.eval()
    inputs, passed = LOGISTIC_DATA
    p = served_output(model, prep, inputs)
    w, b = weight_and_bias(model)
    p_1, p_4 = served_output(model, prep, torch.tensor([[1.0], [4.0]]))[:, 0].tolist()
    return {
        "bce": float(F.binary_cross_entropy(p, passed)),
        "train_accuracy": pass_accuracy(p, passed),
        "w": w,
        "b": b,
        "p_pass_1h": p_1,
        "p_pass_4h": p_4,
    }


@torch.no_grad()
def linear_golden(model: nn.Module) -> GoldenSamples:
    output = served_output(model.eval(), LINEAR.preprocessing, GOLDEN_INPUTS)
    return GoldenSamples(probabilities=output, features=GOLDEN_INPUTS)


@torch.no_grad()
def logistic_golden(model: nn.Module) -> GoldenSamples:
    p = served_output(model.eval(), LOGISTIC.preprocessing, GOLDEN_INPUTS)
    return GoldenSamples(probabilities=binary_probabilities(p), features=GOLDEN_INPUTS)


def loss_surface(weights: torch.Tensor, biases: torch.Tensor, data: Pair = LINEAR_DATA) -> torch.Tensor:
    """Mean squared error of ``w * x + b`` on ``data`` for every (w, b): (len(biases), len(weights))."""
    x, y = data[0].reshape(-1), data[1].reshape(-1)
    predictions = weights[None, :, None] * x + biases[:, None, None]  # (B, W, points)
    return ((predictions - y) ** 2).mean(dim=-1)
