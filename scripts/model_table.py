"""Print the model tables from the committed manifests: python scripts/model_table.py [--no-commands].

The README shows the tables (``--no-commands``); docs/models.md shows them with each artifact's training
command. tests/test_readme.py and tests/test_docs.py keep both copies equal to this output.
"""

import sys
from pathlib import Path

import torch

from artifacts import LoadedArtifact, ModelStore, SequencePreprocessing
from artifacts.sequence import decode_sequence, encode_sequences

TARGETS = {"digits-cnn": 99.0, "digits-inception": 99.2, "digits-resnet": 99.5, "names-gru": 85.0}
# What the course reports for each of its models, shown beside ours.
COURSE_REFERENCES = {
    "linear-regression": "y(4) = 8 (w = 2, b = 0)",
    "logistic-regression": "P(pass) above 0.5 after 4 h, below after 1 h",
    "diabetes-mlp": "about 77% accuracy",
    "hello-rnncell": "hello -> ohlol",
    "hello-rnn": "hello -> ohlol",
    "hello-embedding": "hello -> ohlol",
}


def size_kb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in {".json", ".safetensors"}) / 1024


def course_figure(artifact: LoadedArtifact) -> str:
    """The figure the course's reference is about, from the manifest (and the model for the hello ones)."""
    metrics, name = artifact.manifest.metrics, artifact.manifest.architecture
    extra = metrics.extra
    if name == "linear-regression":
        return f"y(4) = {extra['prediction_at_4']:.4f} (w = {extra['w']:.4f}, b = {extra['b']:.4f})"
    if name == "logistic-regression":
        # no "|" in a cell: it would end the Markdown table cell
        return f"P(pass) {extra['p_pass_1h']:.2f} after 1 h, {extra['p_pass_4h']:.2f} after 4 h"
    if name == "diabetes-mlp":
        return (
            f"{metrics.test_accuracy:.2f}% held out ({metrics.test_size} rows); "
            f"5-fold CV {extra['cv_accuracy_mean']:.2f} ± {extra['cv_accuracy_std']:.2f}%"
        )
    return f"hello -> {answer(artifact, 'hello')} ({extra['train_char_accuracy']:.0f}% per character)"


@torch.inference_mode()
def answer(artifact: LoadedArtifact, text: str) -> str:
    """A sequence model's output string for ``text``."""
    prep = artifact.manifest.preprocessing
    assert isinstance(prep, SequencePreprocessing)
    tokens, _ = encode_sequences([text], prep.vocabulary, prep.max_length)
    return decode_sequence(artifact.model(tokens)[0].argmax(dim=-1), artifact.manifest.labels)


def model_table(root: Path = Path("models_store"), commands: bool = True, targets: bool = True) -> str:
    """The tables of every committed model; ``commands``: each artifact's training command after them,
    ``targets``: the accuracy each digits and names model was trained to reach."""
    store = ModelStore(root)
    names = [name for name in store.model_names() if name not in COURSE_REFERENCES]
    course = [name for name in store.model_names() if name in COURSE_REFERENCES]
    target_head, target_rule = (" target |", " ---: |") if targets else ("", "")
    lines = [
        f"| model | version | test accuracy |{target_head} test rows | parameters | size on disk "
        "| training time (CPU) |",
        f"| --- | ---: | ---: |{target_rule} ---: | ---: | ---: | ---: |",
    ]
    for name in names:
        manifest = store.load(name).manifest
        target = (f" {TARGETS[name]:.1f}% |" if name in TARGETS else " - |") if targets else ""
        lines.append(
            f"| `{name}` | {manifest.version} | {manifest.metrics.test_accuracy or 0.0:.2f}% |{target}"
            f" {manifest.metrics.test_size:,} | {manifest.parameters:,} | {size_kb(store.resolve(name)):,.0f} KB "
            f"| {manifest.training.seconds / 60:.1f} min |"
        )
    if course:
        lines += [
            "",
            "| course model | version | task | ours | the course | parameters | size on disk | training time (CPU) |",
            "| --- | ---: | --- | --- | --- | ---: | ---: | ---: |",
        ]
        for name in course:
            artifact = store.load(name)
            manifest = artifact.manifest
            lines.append(
                f"| `{name}` | {manifest.version} | {manifest.task} | {course_figure(artifact)} "
                f"| {COURSE_REFERENCES[name]} | {manifest.parameters:,} | {size_kb(store.resolve(name)):,.0f} KB "
                f"| {manifest.training.seconds:.1f} s |"
            )
    if not commands:
        return "\n".join(lines)
    lines += ["", "The exact command that produced each artifact (from its manifest):", ""]
    for name in [*names, *course]:
        lines.append(f"- `{name}`: `{store.load(name).manifest.training.command}`")
    return "\n".join(lines)


if __name__ == "__main__":
    brief = "--no-commands" in sys.argv[1:]  # the README's copy: no commands, no targets
    print(model_table(commands=not brief, targets=not brief))
