"""Mutation smoke: plant representative bugs, one at a time, and require the tests that cover each to fail.

Each mutant replaces one exact snippet (found exactly once) in a temporary copy of the repository, never
in the work tree, and runs only the tests named for it. A mutant that leaves those tests passing is a
hole in the suite; so is a snippet that no longer exists (the code moved: update the mutant).

    .venv/bin/python scripts/mutation_smoke.py            # every mutant (several minutes)
    .venv/bin/python scripts/mutation_smoke.py --list
    .venv/bin/python scripts/mutation_smoke.py pin-ignored v2-overload-500
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = (
    Mutant(
        "pin-ignored",
        "service/runtime/lifecycle.py",
        "version = wanted or (served.versions[-1] if served.versions else None)",
        "version = served.versions[-1] if served.versions else None",
        ("tests/service/test_configuration.py::test_a_pinned_version_is_served_though_a_newer_one_exists",),
    ),
    Mutant(
        "default-digits-ignored",
        "service/api/predict.py",
        "lambda settings: settings.default_digits_model,",
        "lambda settings: None,",
        ("tests/service/test_configuration.py::test_the_configured_default_models_answer_the_aliases",),
    ),
    Mutant(
        "default-names-ignored",
        "service/api/predict.py",
        "lambda settings: settings.default_names_model,",
        "lambda settings: None,",
        ("tests/service/test_configuration.py::test_the_configured_default_models_answer_the_aliases",),
    ),
    Mutant(
        "pixel-limit-constant",
        "service/tasks/image_classification.py",
        "imaging.image_to_mnist(data, self.settings.max_image_pixels)",
        "imaging.image_to_mnist(data, 4096 * 4096)",
        ("tests/service/test_configuration.py::test_the_image_pixel_limit_is_the_configured_one",),
    ),
    Mutant(
        "max-names-constant",
        "service/tasks/text_classification.py",
        "    def item_limit(cls, settings: Settings) -> int:\n        return settings.max_names",
        "    def item_limit(cls, settings: Settings) -> int:\n        return 256",
        ("tests/service/test_configuration.py::test_the_item_count_limits_are_the_configured_ones",),
    ),
    Mutant(
        "streamed-body-limit-doubled",
        "service/api/middleware.py",
        "if received > self.max_body_bytes:",
        "if received > self.max_body_bytes * 2:",
        ("tests/service/test_configuration.py::test_the_body_limit_is_the_configured_one",),
    ),
    Mutant(
        "declared-body-limit-doubled",
        "service/api/middleware.py",
        "if declared is not None and declared > self.max_body_bytes:",
        "if declared is not None and declared > self.max_body_bytes * 2:",
        ("tests/service/test_configuration.py::test_the_body_limit_is_the_configured_one",),
    ),
    Mutant(
        "ready-while-loading",
        "service/api/health.py",
        "is_ready = registry.loaded.is_set() and registry.ready",
        "is_ready = True",
        ("tests/service/test_configuration.py::test_ready_and_predictions_are_503_while_models_load",),
    ),
    Mutant(
        "flat-paper-only",
        "service/runtime/imaging.py",
        "plane = _border_plane(grey.shape, border)",
        "plane = np.full(grey.shape, _median(border), dtype=np.float32)",
        ("tests/service/runtime/test_imaging.py::test_unevenly_lit_paper_gives_the_same_input_as_even_light",),
    ),
    Mutant(
        "mnist-always-no-ink",
        "service/runtime/imaging.py",
        "if peak < MIN_INK_CONTRAST:",
        "if True:",
        ("tests/hardening/test_properties.py::test_the_mnist_procedure_takes_any_grey_image",),
    ),
    Mutant(
        "readme-answer-wrong",
        "README.md",
        '"predictions":[{"digit":7,',
        '"predictions":[{"digit":1,',
        ("tests/test_readme.py",),
    ),
    Mutant(
        "golden-check-skipped",
        "service/runtime/lifecycle.py",
        "if error > tolerance:",
        "if error > tolerance and False:",
        ("tests/hardening/test_trust_boundary.py",),
    ),
    Mutant(
        "top-k-off-by-one",
        "service/tasks/classification.py",
        "order = sorted(range(len(row)), key=row.__getitem__, reverse=True)[:k]",
        "order = sorted(range(len(row)), key=row.__getitem__, reverse=True)[: k - 1 or 1]",
        ("tests/service/api/test_predict_digits.py",),
    ),
    Mutant(
        "sha256-unchecked",
        "artifacts/store.py",
        "if actual != expected:",
        "if actual != expected and False:",
        ("tests/service/test_faults.py",),
    ),
    Mutant(
        "cli-model-store-flag-ignored",
        "service/cli.py",
        'for flag in ("host", "port", "workers", "model_store", "device"):',
        'for flag in ("host", "port", "workers", "device"):',
        ("tests/service/test_cli.py::test_model_store_flag_and_dot_env_reach_the_server",),
    ),
    Mutant(
        "cli-device-flag-ignored",
        "service/cli.py",
        'for flag in ("host", "port", "workers", "model_store", "device"):',
        'for flag in ("host", "port", "workers", "model_store"):',
        ("tests/service/test_cli.py::test_cuda_without_cuda_is_a_clear_error",),
    ),
    Mutant(
        "dot-env-ignored",
        "service/settings.py",
        'env_file=".env"',
        "env_file=None",
        ("tests/service/test_settings.py",),
    ),
    Mutant(
        "v2-overload-500",
        "service/api/v2/routes.py",
        "rt.OverloadedError: 503,",
        "rt.OverloadedError: 500,",
        ("tests/service/api/v2/test_faults.py::test_a_full_queue_is_503_with_retry_after",),
    ),
    Mutant(
        "v2-deadline-500",
        "service/api/v2/routes.py",
        "rt.DeadlineExceededError: 504,",
        "rt.DeadlineExceededError: 500,",
        ("tests/service/api/v2/test_faults.py::test_a_passed_deadline_is_504",),
    ),
    Mutant(
        "v2-failure-leaks-message",
        "service/runtime/batcher.py",
        "failed on this batch ({type(exc).__name__})",
        "failed on this batch ({exc})",
        ("tests/service/api/v2/test_faults.py::test_a_failing_forward_is_500_for_its_batch_only",),
    ),
)


def copy_repository(target: Path, committed: bool) -> None:
    """The work tree as the suite sees it (tracked files and untracked ones git does not ignore),
    or with ``committed`` the files of HEAD."""
    if committed:
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        return
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        source = ROOT / os.fsdecode(raw)
        if source.is_file():
            destination = target / os.fsdecode(raw)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


def run_tests(copy: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    # cwd first on sys.path: the copy's packages shadow the editable install of the work tree
    options = ["-x", "-q", "-rfE", "-p", "no:randomly", "-p", "no:cacheprovider"]
    command = [sys.executable, "-m", "pytest", *options, *tests]
    environment = {**os.environ, "TINYSERVE_AUTOTUNE": "false", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(command, cwd=copy, env=environment, capture_output=True, text=True, timeout=600)


def plant(copy: Path, mutant: Mutant) -> str:
    """Plant ``mutant``; returns the original text to restore."""
    path = copy / mutant.path
    text = path.read_text()
    count = text.count(mutant.old)
    if count != 1:
        raise SystemExit(f"{mutant.name}: {mutant.old!r} occurs {count} times in {mutant.path}; update the mutant")
    path.write_text(text.replace(mutant.old, mutant.new))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and the tests that must catch them")
    parser.add_argument("--committed", action="store_true", help="mutate HEAD's files, not the work tree's")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    if args.list or not chosen:
        for mutant in MUTANTS:
            print(f"{mutant.name}: {mutant.path}\n    {' '.join(mutant.tests)}")  # noqa: T201
        return 0 if chosen or args.list else 2
    survivors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tinyserve-mutants-") as folder:
        copy = Path(folder)
        copy_repository(copy, args.committed)
        stale = [m.name for m in chosen if (copy / m.path).read_text().count(m.old) != 1]
        if stale:  # before the baseline's minutes: the code moved, the mutant must follow it
            raise SystemExit(f"update these mutants, their snippet is not found exactly once: {', '.join(stale)}")
        all_tests = tuple(dict.fromkeys(test for mutant in chosen for test in mutant.tests))
        baseline = run_tests(copy, all_tests)
        if baseline.returncode != 0:
            print(baseline.stdout[-4000:], baseline.stderr[-2000:])  # noqa: T201
            raise SystemExit("the unmutated copy fails these tests: fix them first")
        for mutant in chosen:
            original = plant(copy, mutant)
            started = time.monotonic()
            try:
                result = run_tests(copy, mutant.tests)
            finally:
                (copy / mutant.path).write_text(original)
            caught = result.returncode != 0
            summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
            only_skipped = not caught and "skipped" in summary and "passed" not in summary
            verdict = "caught" if caught else "skipped" if only_skipped else "SURVIVED"
            failed = [line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
            by = f": {failed[0]}" if failed else ""
            print(f"{verdict:8} {mutant.name} ({time.monotonic() - started:.0f} s){by}", flush=True)  # noqa: T201
            if not caught and not only_skipped:  # skipped: e.g. a no-CUDA test on a CUDA machine
                survivors.append(mutant.name)
    if survivors:
        print(f"{len(survivors)} mutant(s) survived: {', '.join(survivors)}")  # noqa: T201
        return 1
    print(f"no mutant of {len(chosen)} survived")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
