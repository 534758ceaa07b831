"""Print the README's model table from the committed manifests: python scripts/model_table.py."""

from pathlib import Path

from artifacts import ModelStore

TARGETS = {"digits-cnn": 99.0, "digits-inception": 99.2, "digits-resnet": 99.5, "names-gru": 85.0}


def model_table(root: Path = Path("models_store")) -> str:
    store = ModelStore(root)
    lines = [
        "| model | version | test accuracy | target | test rows | parameters | size on disk | training time (CPU) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in store.model_names():
        manifest = store.load(name).manifest
        folder = store.resolve(name)
        size_kb = sum(p.stat().st_size for p in folder.iterdir() if p.suffix in {".json", ".safetensors"}) / 1024
        target = f"{TARGETS[name]:.1f}%" if name in TARGETS else "-"
        lines.append(
            f"| `{name}` | {manifest.version} | {manifest.metrics.test_accuracy:.2f}% | {target} "
            f"| {manifest.metrics.test_size:,} | {manifest.parameters:,} | {size_kb:,.0f} KB "
            f"| {manifest.training.seconds / 60:.1f} min |"
        )
    lines += ["", "The exact command that produced each artifact (from its manifest):", ""]
    for name in store.model_names():
        lines.append(f"- `{name}`: `{store.load(name).manifest.training.command}`")
    return "\n".join(lines)


if __name__ == "__main__":
    print(model_table())
