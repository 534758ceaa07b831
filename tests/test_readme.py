"""The README cannot rot: its examples run against a real server, its tables match the code."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.model_table import model_table
from service.settings import Settings
from tests.paths import MODELS_STORE, PROJECT_ROOT
from tests.servers import running_server

README = (PROJECT_ROOT / "README.md").read_text()
DOCUMENTED_URL = "http://127.0.0.1:8000"


def code_blocks(language: str) -> list[str]:
    """Fenced blocks of ``language`` that talk to the documented server (the set-up commands start it)."""
    blocks = re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)
    return [block for block in blocks if DOCUMENTED_URL in block and not block.startswith("make ")]


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
    assert model_table(MODELS_STORE) in README


def test_every_setting_is_documented() -> None:
    for field in Settings.model_fields:
        assert f"`TINYSERVE_{field.upper()}`" in README, field


def test_exactly_two_setup_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", quick_start, flags=re.DOTALL)
    assert [c.split("#")[0].strip() for c in commands] == ["make serve", "make test"]
