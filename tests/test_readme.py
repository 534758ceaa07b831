"""The README cannot rot: its examples run against a real server, its tables match the code."""

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.model_table import model_table
from tests.paths import MODELS_STORE, PROJECT_ROOT
from tests.servers import running_server

README = (PROJECT_ROOT / "README.md").read_text()
DOCUMENTED_URL = "http://127.0.0.1:8000"


def code_blocks(language: str) -> list[str]:
    """Fenced blocks of ``language`` that talk to the documented server (the set-up commands start it)."""
    blocks = re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)
    return [block for block in blocks if DOCUMENTED_URL in block and not block.startswith("make ")]


def json_answers(output: str) -> list[dict[str, Any]]:
    """The prediction answers in ``output`` (curl prints them without a newline in between)."""
    decoder, answers, start = json.JSONDecoder(), [], output.find('{"model"')
    while start != -1:
        answer, end = decoder.raw_decode(output, start)
        answers.append(answer)
        start = output.find('{"model"', end)
    return answers


ANSWER_FIELDS = re.compile(r'"(digit|name|country)":("[^"]*"|\d+)')


def documented_answer(block: str) -> dict[str, Any] | None:
    """The ```json answer printed right after ``block`` in the README: its model and the label fields
    of its first prediction (probabilities vary with the platform; the answers must not)."""
    after = README.split(block, 1)[1].removeprefix("```").lstrip("\n")
    if not after.startswith("```json\n"):
        return None
    answer = after.removeprefix("```json\n").split("```", 1)[0]
    model = re.search(r'"model":"([^"]+)"', answer)
    first = answer.split('"top_k"', 1)[0]
    assert model is not None, answer
    return {"model": model.group(1), "first": {k: json.loads(v) for k, v in ANSWER_FIELDS.findall(first)}}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server() as (base, _):
        yield base


@pytest.mark.parametrize("block", code_blocks("bash"), ids=lambda b: b.strip().splitlines()[0][:60])
def test_shell_examples_run(server: str, block: str, tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    script = "set -euo pipefail\n" + block.replace(DOCUMENTED_URL, server)
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.strip()
    answers = json_answers(result.stdout)
    documented = documented_answer(block)
    assert bool(answers) is bool(documented), "a prediction example needs its documented answer after it"
    if documented:
        assert answers[0]["model"] == documented["model"]
        for answer in answers:  # every call in the block gets the documented answer (7, Japanese)
            first = answer["predictions"][0]
            assert {key: first[key] for key in documented["first"]} == documented["first"]


@pytest.mark.parametrize("block", code_blocks("python"))
def test_python_examples_run(server: str, block: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(block.replace(DOCUMENTED_URL, server), "README.md", "exec"), {})
    assert "Nakamura -> Japanese" in capsys.readouterr().out


def test_there_are_examples_for_every_endpoint() -> None:
    shell = "\n".join(code_blocks("bash"))
    for path in (
        "/health/live",
        "/health/ready",
        "/v1/models",
        "/v1/digits/predict",
        "/v1/digits/predict/upload",
        "/v1/names/predict",
        "/metrics",
    ):
        assert path in shell, path


def test_model_table_matches_the_committed_manifests() -> None:
    # the tables only; docs/models.md has them with each artifact's training command (tests/test_docs.py)
    assert model_table(MODELS_STORE, commands=False, targets=False) in README


def test_settings_are_documented_on_the_generated_page() -> None:
    """Every setting lives on docs/configuration.md (generated; tests/test_docs.py checks each one there)."""
    assert "(docs/configuration.md)" in README
    assert not re.search(r"^\| `TINYSERVE_", README, flags=re.MULTILINE), "the README keeps no copy of the settings"


def test_a_front_page() -> None:
    lines = README.splitlines()
    assert len(lines) <= 200, len(lines)
    assert any("docs/images/playground-digits.png" in line for line in lines[:15]), "the screenshot on the first screen"
    assert "(docs/performance/throughput.png)" in README
    # no commit hashes, run histories or issue targets: those live in git and bench/results/
    assert not re.search(r"`[0-9a-f]{7,40}`", README)
    assert not re.search(r"\bissue\b|\btarget of\b", README, flags=re.IGNORECASE)


def test_exactly_two_setup_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", quick_start, flags=re.DOTALL)
    assert [c.split("#")[0].strip() for c in commands] == ["make serve", "make test"]


def test_the_documented_answers_are_the_ones_checked() -> None:
    answers = [documented_answer(block) for block in code_blocks("bash")]
    assert {"model": "digits-resnet", "first": {"digit": 7}} in answers
    assert {"model": "names-gru", "first": {"name": "Nakamura", "country": "Japanese"}} in answers


def test_every_relative_link_resolves() -> None:
    targets = re.findall(r"\]\(([^)\s]+)\)", README)
    local = [t.split("#")[0] for t in targets if "://" not in t and not t.startswith("#")]
    assert "docs/configuration.md" in local
    for target in local:
        assert (PROJECT_ROOT / target).exists(), target
