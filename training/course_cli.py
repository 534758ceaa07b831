"""``python -m training regression|logistic|diabetes|hello``: the course's models, trained and published."""

import argparse
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from artifacts import GoldenSamples, Metrics, ModelStore
from training import diabetes, hello, regression
from training.course_loop import CourseFit
from training.course_publish import CourseArtifact, publish_course_model
from training.plots import save_loss_surface
from training.publish import per_class_accuracy

COURSE_COMMANDS = ("regression", "logistic", "diabetes", "hello")
HELLO_LEARNING_RATES = {"rnncell": 0.1, "rnn": 0.1, "embedding": 0.05}  # the course's


def _common_arguments(parser: argparse.ArgumentParser, *, epochs: int, lr: float | None) -> None:
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--lr", type=float, default=lr, help="constant learning rate, as in the course")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", type=Path, default=Path("models_store"), help="model store root")
    parser.add_argument("--name", help="model name in the store (default: the architecture name)")
    parser.add_argument("--version", type=int, help="version to write (default: next free)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def add_course_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    _common_arguments(sub.add_parser("regression", help="linear regression on y = 2x (SGD)"), epochs=1000, lr=0.01)
    _common_arguments(sub.add_parser("logistic", help="logistic regression: hours -> pass (SGD)"), epochs=1000, lr=0.01)
    table = sub.add_parser("diabetes", help="the 8 -> 6 -> 4 -> 1 MLP on the diabetes table")
    table.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("TINYSERVE_DATA_DIR", "data")),
        help=f"holds {diabetes.DATA_FILE} (default: $TINYSERVE_DATA_DIR, else data)",
    )
    table.add_argument("--activation", choices=["sigmoid", "relu"], default="sigmoid")
    table.add_argument("--hidden-sizes", type=int, nargs="+", default=[6, 4])
    table.add_argument("--optimiser", choices=["sgd", "adam"], default="adam")
    table.add_argument("--batch-size", type=int, default=32, help="0: one step on all rows per epoch")
    table.add_argument("--weight-decay", type=float, default=0.0)
    table.add_argument("--held-out-fraction", type=float, default=0.2)
    table.add_argument("--folds", type=int, default=5, help="cross-validation folds over all rows")
    _common_arguments(table, epochs=100, lr=0.01)
    chars = sub.add_parser("hello", help='character RNNs: "hello" -> "ohlol"')
    chars.add_argument("--arch", choices=sorted(hello.ARCHITECTURES), default="rnn")
    _common_arguments(chars, epochs=15, lr=None)


@dataclass(frozen=True)
class CourseRun:
    """What every course command shares: where to publish, and the record of how it was called."""

    store: ModelStore
    name: str | None
    version: int | None
    config: dict[str, Any]
    command: str

    def publish(
        self,
        spec: CourseArtifact,
        model: torch.nn.Module,
        fit: CourseFit,
        metrics: Metrics,
        golden: GoldenSamples,
        checksums: dict[str, str] | None = None,
    ) -> Path:
        spec = replace(spec, name=self.name) if self.name else spec
        directory = publish_course_model(
            spec,
            model,
            fit=fit,
            metrics=metrics,
            golden=golden,
            store=self.store,
            version=self.version,
            config=self.config,
            command=self.command,
            checksums=checksums or {},
        )
        accuracy = (
            f"test accuracy {metrics.test_accuracy:.2f}% ({metrics.test_size} rows), " if metrics.test_accuracy else ""
        )
        figures = ", ".join(f"{key} {value:.6g}" for key, value in metrics.extra.items())
        print(f"wrote {directory}: {accuracy}{figures}")
        return directory


def run_course(args: argparse.Namespace, config: dict[str, Any], command: str) -> Path:
    """Train the model that ``args.task`` names and publish it; return the version folder."""
    run = CourseRun(ModelStore(args.store), args.name, args.version, config, command)
    if args.task == "regression":
        return run_linear(run, args.epochs, args.lr)
    if args.task == "logistic":
        model, fit = regression.train_logistic(args.epochs, args.lr)
        metrics = Metrics(test_size=len(regression.LOGISTIC_DATA[1]), extra=regression.logistic_figures(model))
        return run.publish(regression.LOGISTIC, model, fit, metrics, regression.logistic_golden(model))
    if args.task == "diabetes":
        return run_diabetes(run, args.data_dir, diabetes.DiabetesRecipe.from_config(config))
    lr = args.lr or HELLO_LEARNING_RATES[args.arch]
    run.config["lr"] = lr
    model, fit = hello.train_hello(args.arch, args.epochs, lr)
    metrics = Metrics(test_size=len(hello.SOURCE), extra=hello.hello_figures(model))
    return run.publish(hello.spec_for(args.arch), model, fit, metrics, hello.hello_golden(model))


def run_linear(run: CourseRun, epochs: int, lr: float) -> Path:
    """Train, publish, and draw the course's loss surface over (w, b) beside the artifact."""
    model, fit = regression.train_linear(epochs, lr)
    figures = regression.linear_figures(model)
    metrics = Metrics(test_size=len(regression.LINEAR_DATA[1]), extra=figures)
    directory = run.publish(regression.LINEAR, model, fit, metrics, regression.linear_golden(model))
    weights, biases = torch.linspace(0.0, 4.0, 81), torch.linspace(-2.0, 2.0, 81)
    surface = regression.loss_surface(weights, biases)
    title = f"{directory.parent.name} v{directory.name}: MSE over (w, b)"
    save_loss_surface(weights, biases, surface, (figures["w"], figures["b"]), title, directory)
    return directory


def run_diabetes(run: CourseRun, data_dir: Path, recipe: diabetes.DiabetesRecipe) -> Path:
    """Train on the fixed split, measure the held-out rows, cross-validate the recipe over all rows."""
    table = diabetes.load_diabetes(data_dir / diabetes.DATA_FILE)
    train_rows, held_rows = diabetes.held_out_split(table.labels, recipe.held_out_fraction, recipe.seed)
    x_train, y_train = table.features[train_rows], table.labels[train_rows]
    x_held, y_held = table.features[held_rows], table.labels[held_rows]
    trained = diabetes.train_diabetes(recipe, x_train, y_train, held_out=(x_held, y_held))
    p_held = trained.positive_probability(x_held)
    metrics = Metrics(
        test_accuracy=round(diabetes.positive_accuracy(p_held, y_held), 2),
        test_size=len(held_rows),
        per_class_accuracy=per_class_accuracy((p_held > 0.5).long(), y_held.long(), diabetes.LABELS),
        extra={
            **diabetes.cv_figures(diabetes.cross_validate(table, recipe)),
            "train_accuracy": round(diabetes.positive_accuracy(trained.positive_probability(x_train), y_train), 2),
        },
    )
    spec = diabetes.spec_for(recipe, trained.mean, trained.std, "diabetes-mlp")
    golden = diabetes.diabetes_golden(trained, x_train)
    return run.publish(spec, trained.model, trained.fit, metrics, golden, table.checksums)
