"""Re-measure a course model's figures from its artifact, as ``training.evaluate`` reports them.

Figures of the stored weights (held-out and training accuracy, w, b, losses) are recomputed
from the artifact with the manifest's own pre-processing; the cross-validation figures
describe the recipe, not the weights, so the folds are retrained from the recorded config.
"""

from dataclasses import dataclass
from pathlib import Path

from artifacts.manifest import SequencePreprocessing, TabularPreprocessing
from artifacts.store import LoadedArtifact
from training import diabetes, hello, regression

COURSE_ARCHITECTURES = frozenset(
    {"linear-regression", "logistic-regression", "diabetes-mlp", "hello-rnncell", "hello-rnn", "hello-embedding"}
)


@dataclass(frozen=True)
class Remeasured:
    """The test accuracy (None for models without a test set), its row count, and the extra figures."""

    accuracy: float | None
    size: int
    figures: dict[str, float]


def remeasure(artifact: LoadedArtifact, data_dir: Path) -> Remeasured:
    """Recompute what ``artifact``'s manifest records; ``data_dir`` holds the diabetes table."""
    manifest, model, prep = artifact.manifest, artifact.model, artifact.manifest.preprocessing
    if manifest.architecture == "linear-regression":
        return Remeasured(None, len(regression.LINEAR_DATA[1]), regression.linear_figures(model, prep))
    if manifest.architecture == "logistic-regression":
        return Remeasured(None, len(regression.LOGISTIC_DATA[1]), regression.logistic_figures(model, prep))
    if manifest.architecture == "diabetes-mlp":
        if not isinstance(prep, TabularPreprocessing):
            raise ValueError(f"{manifest.name} v{manifest.version}: a diabetes model needs tabular pre-processing")
        return _remeasure_diabetes(artifact, prep, data_dir)
    if manifest.architecture.startswith("hello-"):
        if not isinstance(prep, SequencePreprocessing):
            raise ValueError(f"{manifest.name} v{manifest.version}: a hello model needs sequence pre-processing")
        return Remeasured(None, len(hello.SOURCE), hello.hello_figures(model, prep.vocabulary))
    raise ValueError(f"{manifest.name} v{manifest.version}: no course figures for {manifest.architecture!r}")


def _remeasure_diabetes(artifact: LoadedArtifact, prep: TabularPreprocessing, data_dir: Path) -> Remeasured:
    recipe = diabetes.DiabetesRecipe.from_config(artifact.manifest.training.config)
    table = diabetes.load_diabetes(data_dir / diabetes.DATA_FILE)
    train_rows, held_rows = diabetes.held_out_split(table.labels, recipe.held_out_fraction, recipe.seed)

    def accuracy(rows: list[int]) -> float:
        p = diabetes.positive_probability(artifact.model, prep.mean, prep.std, table.features[rows])
        return diabetes.positive_accuracy(p, table.labels[rows])

    figures = {
        **diabetes.cv_figures(diabetes.cross_validate(table, recipe)),
        "train_accuracy": round(accuracy(train_rows), 2),
    }
    return Remeasured(accuracy(held_rows), len(held_rows), figures)
