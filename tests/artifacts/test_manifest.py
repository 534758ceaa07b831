"""The manifest schema: open task kinds, tabular and sequence pre-processing, optional accuracies."""

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from artifacts import Feature, Metrics, ModelManifest, SequencePreprocessing, TabularPreprocessing
from artifacts.store import MANIFEST_FILE, load_artifact
from tests.artifacts.factories import make_manifest


def tabular(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "tabular",
        "features": [{"name": "glucose", "unit": "mg/dl", "minimum": 0, "maximum": 300}, {"name": "bmi"}],
        "mean": [120.0, 30.0],
        "std": [30.0, 5.0],
    }
    return {**data, **changes}


def manifest_data() -> dict[str, Any]:
    manifest = make_manifest(name="m", version=1, architecture="digits-cnn", architecture_args={}, labels=["a", "b"])
    data: dict[str, Any] = json.loads(manifest.model_dump_json())
    return data


def test_every_committed_manifest_still_validates(models_store: Path) -> None:
    """Old manifests (no ``extra``, required accuracies, two task kinds) load unchanged, and so do the new."""
    paths = sorted(models_store.glob(f"*/*/{MANIFEST_FILE}"))
    assert paths, f"no manifests under {models_store}"
    for path in paths:
        manifest = ModelManifest.model_validate_json(path.read_bytes())
        if manifest.task in ("image-classification", "text-classification"):
            assert manifest.metrics.test_accuracy is not None
        assert load_artifact(path.parent).manifest == manifest


@pytest.mark.parametrize("task", ["regression", "tabular-classification", "sequence-labelling", "x", "a1-b2"])
def test_task_is_an_open_string(task: str) -> None:
    data = manifest_data()
    assert ModelManifest.model_validate({**data, "task": task}).task == task


@pytest.mark.parametrize("task", ["", "Regression", "1d", "-x", "a b", "a_b", "x" * 65])
def test_task_outside_the_pattern_is_refused(task: str) -> None:
    data = manifest_data()
    with pytest.raises(ValidationError, match="task"):
        ModelManifest.model_validate({**data, "task": task})


def test_a_regression_may_name_one_output_but_a_classifier_needs_two() -> None:
    data = manifest_data()
    assert ModelManifest.model_validate({**data, "task": "regression", "labels": ["y"]}).labels == ["y"]
    with pytest.raises(ValidationError, match=r"needs at least 2 labels; got \['pass'\]"):
        ModelManifest.model_validate({**data, "task": "tabular-classification", "labels": ["pass"]})
    with pytest.raises(ValidationError, match="labels"):
        ModelManifest.model_validate({**data, "task": "regression", "labels": []})


def test_tabular_preprocessing_round_trips() -> None:
    prep = TabularPreprocessing.model_validate(tabular())
    assert prep.feature_names == ["glucose", "bmi"]
    assert prep.features[0] == Feature(name="glucose", unit="mg/dl", minimum=0.0, maximum=300.0)
    assert prep.features[1].minimum is None and prep.features[1].description == ""
    assert TabularPreprocessing.model_validate_json(prep.model_dump_json()) == prep


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mean": [1.0]}, "2 features need 2 means and stds; got 1 and 2"),
        ({"std": [1.0, 2.0, 3.0]}, "2 features need 2 means and stds; got 2 and 3"),
        ({"std": [1.0, 0.0]}, r"std must be a finite number above 0; it is not for \['bmi'\]"),
        ({"std": [-1.0, 1.0]}, r"it is not for \['glucose'\]"),
        ({"std": [float("inf"), 1.0]}, r"it is not for \['glucose'\]"),
        ({"mean": [float("nan"), 1.0]}, "every mean must be a finite number"),
        ({"features": []}, "at least 1 item"),
        ({"features": [{"name": "bmi"}, {"name": "bmi"}]}, r"feature names must be unique; repeated: \['bmi'\]"),
        ({"features": [{"name": "Glucose"}, {"name": "bmi"}]}, "feature name 'Glucose' must match"),
        ({"features": [{"name": "blood-pressure"}, {"name": "bmi"}]}, "feature name 'blood-pressure' must match"),
        ({"features": [{"name": "1x"}, {"name": "bmi"}]}, "feature name '1x' must match"),
        ({"features": [{"name": "a", "minimum": 2, "maximum": 1}, {"name": "b"}]}, "minimum 2.0 is above maximum 1.0"),
        ({"features": [{"name": "a", "maximum": float("inf")}, {"name": "b"}]}, "bounds must be finite"),
        ({"features": [{"name": "a", "colour": "red"}, {"name": "b"}]}, "Extra inputs are not permitted"),
    ],
)
def test_tabular_preprocessing_rejects(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TabularPreprocessing.model_validate(tabular(**changes))


def test_sequence_preprocessing() -> None:
    prep = SequencePreprocessing(vocabulary="ehlo", max_length=64)
    assert prep.kind == "sequence"
    with pytest.raises(ValidationError, match=r"vocabulary characters must be unique; repeated: \['l'\]"):
        SequencePreprocessing(vocabulary="hello", max_length=8)
    with pytest.raises(ValidationError, match="vocabulary"):
        SequencePreprocessing(vocabulary="", max_length=8)
    with pytest.raises(ValidationError, match="max_length"):
        SequencePreprocessing(vocabulary="ab", max_length=0)


def test_the_preprocessing_union_picks_by_kind() -> None:
    data = manifest_data()
    table = ModelManifest.model_validate({**data, "preprocessing": tabular()})
    sequence = ModelManifest.model_validate(
        {**data, "preprocessing": {"kind": "sequence", "vocabulary": "ab", "max_length": 3}}
    )
    assert isinstance(table.preprocessing, TabularPreprocessing)
    assert isinstance(sequence.preprocessing, SequencePreprocessing)
    with pytest.raises(ValidationError, match="kind"):
        ModelManifest.model_validate({**data, "preprocessing": {"kind": "audio"}})


def test_metrics_accuracies_are_optional_and_extra_defaults_to_empty() -> None:
    metrics = Metrics(test_size=3)
    assert (metrics.val_accuracy, metrics.test_accuracy, metrics.per_class_accuracy, metrics.extra) == (
        None,
        None,
        {},
        {},
    )
    old = Metrics.model_validate(
        {"val_accuracy": 99.0, "test_accuracy": 98.5, "test_size": 10, "per_class_accuracy": {"0": 98.0}}
    )
    assert old.extra == {}
    assert Metrics(test_size=3, extra={"w": 2.0}).extra == {"w": 2.0}
    with pytest.raises(ValidationError, match="test_accuracy"):
        Metrics(test_size=3, test_accuracy=101.0)
