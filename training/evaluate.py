"""Re-measure published artifacts on the test set and compare with their manifests.

``python -m training.evaluate models_store/cnn/1 models_store/names-gru/1 --data-dir ../shared/data``

Each artifact is loaded the way the service loads it (safetensors checked against the
manifest's sha256), the test set is rebuilt with training's own loaders and
pre-processing, and the accuracy is measured on the CPU in float32. The course's models
(regressions, the diabetes MLP, the hello RNNs) also have their extra figures recomputed
(see ``training.course_figures``). The exit status is non-zero when any artifact differs
from its manifest by more than ``TOLERANCE_POINTS`` percentage points (or a figure by more
than its tolerance) or was measured on a different number of rows.
"""

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from artifacts.errors import ArtifactError
from artifacts.manifest import ImagePreprocessing, ModelManifest, TextPreprocessing
from artifacts.store import load_artifact
from artifacts.text import FOLDING_RULE, MAX_NAME_LENGTH, VOCABULARY
from training.course_figures import COURSE_ARCHITECTURES, remeasure
from training.data import load_mnist, read_names_csv
from training.digits import normalise
from training.loop import Batch, predict_logits
from training.names import encode_rows

TOLERANCE_POINTS = 0.1
# 32.6 - 32.5 is 0.10000000000000142 in floating point; that still agrees.
FLOAT_SLACK = 1e-9
EVAL_BATCH_SIZE = 1000
CPU = torch.device("cpu")
# Cross-validation retrains five models: another CPU's kernels may sum in another order and
# flip a borderline row or two, each worth about 0.13 points of the mean over 759 rows.
CV_TOLERANCE_POINTS = 1.0
# Figures of the stored weights (w, b, losses, probabilities) are recomputed in float32.
VALUE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class FigureCheck:
    """One extra figure of the manifest (``Metrics.extra``) next to its re-measurement; NaN when missing."""

    name: str
    measured: float
    recorded: float

    @property
    def tolerance(self) -> float:
        if self.name.startswith("cv_"):
            return CV_TOLERANCE_POINTS
        if "accuracy" in self.name:
            return TOLERANCE_POINTS
        return VALUE_TOLERANCE * max(1.0, abs(self.recorded))

    @property
    def agrees(self) -> bool:
        return abs(self.measured - self.recorded) <= self.tolerance + FLOAT_SLACK  # False for NaN

    def summary(self) -> str:
        return f"{self.name} {self.measured:.6g} (manifest {self.recorded:.6g})"


@dataclass(frozen=True)
class EvaluationResult:
    """Test accuracy measured now next to the one the manifest recorded (both in percent).

    Both accuracies are None for models without a test set (regressions, the hello models);
    ``figures`` holds the course models' extra figures.
    """

    directory: Path
    name: str
    version: int
    measured_accuracy: float | None
    manifest_accuracy: float | None
    measured_size: int
    manifest_size: int
    figures: tuple[FigureCheck, ...] = ()

    @property
    def difference(self) -> float:
        """Measured minus manifest, in percentage points (0 when neither has an accuracy, NaN when one lacks it)."""
        if self.measured_accuracy is None and self.manifest_accuracy is None:
            return 0.0
        if self.measured_accuracy is None or self.manifest_accuracy is None:
            return math.nan
        return self.measured_accuracy - self.manifest_accuracy

    @property
    def agrees(self) -> bool:
        # FLOAT_SLACK: the difference of two 2-decimal percentages is not exact in floating point.
        within = abs(self.difference) <= TOLERANCE_POINTS + FLOAT_SLACK
        figures = all(figure.agrees for figure in self.figures)
        return within and figures and self.measured_size == self.manifest_size

    def summary(self) -> str:
        verdict = "ok" if self.agrees else "MISMATCH"
        parts = []
        if self.measured_accuracy is not None or self.manifest_accuracy is not None:
            parts.append(
                f"measured {_percent(self.measured_accuracy)} manifest {_percent(self.manifest_accuracy)} "
                f"diff {self.difference:+.2f} pp"
            )
        parts += [figure.summary() for figure in self.figures]
        return (
            f"{self.name} v{self.version}: {', '.join(parts)} "
            f"(test rows {self.measured_size}, manifest {self.manifest_size}) {verdict}"
        )


def _percent(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}%"


def compare_figures(measured: dict[str, float], recorded: dict[str, float]) -> tuple[FigureCheck, ...]:
    """One check per figure named on either side, in the manifest's order; a figure on one side only fails."""
    names = list(recorded) + [name for name in measured if name not in recorded]
    return tuple(FigureCheck(name, measured.get(name, math.nan), recorded.get(name, math.nan)) for name in names)


def _recorded_limit(manifest: ModelManifest) -> int | None:
    """Smoke runs train and test on the first ``--limit`` rows; evaluate on the same rows."""
    limit = manifest.training.config.get("limit")
    return int(limit) if limit else None


def _recorded_seed(manifest: ModelManifest) -> int:
    return int(manifest.training.config.get("seed", 1))


def digit_test_batches(manifest: ModelManifest, prep: ImagePreprocessing, data_dir: Path) -> list[Batch]:
    splits = load_mnist(data_dir, download=False, seed=_recorded_seed(manifest), limit=_recorded_limit(manifest))
    images, labels = splits.test
    return [
        ((normalise(images[start : start + EVAL_BATCH_SIZE], prep),), labels[start : start + EVAL_BATCH_SIZE])
        for start in range(0, len(labels), EVAL_BATCH_SIZE)
    ]


def name_test_batches(manifest: ModelManifest, prep: TextPreprocessing, test_csv: Path) -> list[Batch]:
    # encode_rows folds and encodes with the library's current rule; refuse an artifact made with another.
    current = (VOCABULARY, FOLDING_RULE, MAX_NAME_LENGTH)
    if (prep.vocabulary, prep.folding, prep.max_length) != current:
        raise ValueError(
            f"{manifest.name} v{manifest.version}: text pre-processing "
            f"{(prep.vocabulary, prep.folding, prep.max_length)!r} differs from this code's {current!r}; "
            "evaluate it with the tinyserve version that trained it"
        )
    index = {label: i for i, label in enumerate(manifest.labels)}
    rows = read_names_csv(test_csv)
    unknown = sorted({label for _, label in rows} - index.keys())
    if unknown:
        raise ValueError(f"{test_csv}: labels the model does not know: {unknown}")
    limit = _recorded_limit(manifest)
    encoded = [(name, index[label]) for name, label in rows][:limit]
    return [encode_rows(encoded[start : start + EVAL_BATCH_SIZE]) for start in range(0, len(encoded), EVAL_BATCH_SIZE)]


def exact_accuracy_percent(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Counted in integers: a float32 mean (as in training.loop) is off by ~1e-6 points."""
    correct = int((logits.argmax(dim=1) == labels).sum())
    return 100.0 * correct / max(len(labels), 1)


def evaluate_artifact(directory: Path, data_dir: Path, test_csv: Path | None = None) -> EvaluationResult:
    """Measure one artifact version folder on its task's test set.

    ``data_dir`` holds ``MNIST/raw``, ``names/names_test.csv`` and ``diabetes.csv``; ``test_csv``
    replaces the latter for text models. Raises ``ArtifactError`` when the artifact
    cannot be loaded and ``ValueError`` when the data does not fit the model.
    """
    artifact = load_artifact(directory)
    manifest = artifact.manifest
    prep = manifest.preprocessing
    if manifest.architecture in COURSE_ARCHITECTURES:
        remeasured = remeasure(artifact, data_dir)
        return EvaluationResult(
            directory=directory,
            name=manifest.name,
            version=manifest.version,
            measured_accuracy=remeasured.accuracy,
            manifest_accuracy=manifest.metrics.test_accuracy,
            measured_size=remeasured.size,
            manifest_size=manifest.metrics.test_size,
            figures=compare_figures(remeasured.figures, manifest.metrics.extra),
        )
    batches: list[Batch]
    if isinstance(prep, ImagePreprocessing):
        batches = digit_test_batches(manifest, prep, data_dir)
    elif isinstance(prep, TextPreprocessing):
        batches = name_test_batches(manifest, prep, test_csv or data_dir / "names" / "names_test.csv")
    else:
        raise ValueError(f"{directory}: no test set for {prep.kind} pre-processing and {manifest.architecture!r}")
    logits, labels = predict_logits(artifact.model, batches, CPU)
    return EvaluationResult(
        directory=directory,
        name=manifest.name,
        version=manifest.version,
        measured_accuracy=exact_accuracy_percent(logits, labels),
        manifest_accuracy=manifest.metrics.test_accuracy,
        measured_size=len(labels),
        manifest_size=manifest.metrics.test_size,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    parser.add_argument("directories", type=Path, nargs="+", help="artifact version folders")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="holds MNIST/raw, names/, diabetes.csv")
    parser.add_argument("--test-csv", type=Path, help="test CSV for text models (default: DATA_DIR/names/)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print one line per artifact; return 0 only if every artifact agrees with its manifest."""
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    failures = 0
    for directory in args.directories:
        try:
            result = evaluate_artifact(directory, args.data_dir, args.test_csv)
        # RuntimeError: torchvision's "Dataset not found" when MNIST/raw is missing.
        except (ArtifactError, ValueError, OSError, RuntimeError) as exc:
            print(f"{directory}: cannot evaluate: {exc}", file=sys.stderr)
            failures += 1
            continue
        print(result.summary())
        failures += not result.agrees
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
