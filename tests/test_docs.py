"""The documentation site cannot rot: generated pages match the code, the examples run, the site builds."""

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mkdocs.config import load_config
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bench import publish, report, results
from bench.results import RESULTS_DIR, latest, load
from scripts import settings_doc
from scripts.model_table import model_table
from service.settings import Settings
from tests.paths import MODELS_STORE, PROJECT_ROOT
from tests.servers import running_server

DOCS = PROJECT_ROOT / "docs"
DOCUMENTED_URL = "http://127.0.0.1:8000"
# The pages of this site whose ```bash and ```python blocks all run against a real server; a command
# that cannot run here (docker, kubectl, a clone) is fenced as ```shell. The other pages' examples are
# their authors' to test (docs/plugins.md's, for one, by tests/examples).
EXECUTED_PAGES = (
    "index.md",
    "getting-started.md",
    "api.md",
    "configuration.md",
    "models.md",
    "deployment.md",
    "operations.md",
    "architecture.md",
    "performance/index.md",
    "performance/latest.md",
)


def blocks(language: str) -> list[tuple[str, str]]:
    """(page, block) for every fenced ``language`` block of the executed pages."""
    found = []
    for page in EXECUTED_PAGES:
        text = (DOCS / page).read_text()
        found += [(page, block) for block in re.findall(rf"^```{language}\n(.*?)^```", text, re.DOTALL | re.MULTILINE)]
    return found


def block_id(item: tuple[str, str]) -> str:
    return f"{item[0]}:{item[1].strip().splitlines()[0][:50]}"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server() as (base, _):
        yield base


# --- examples -------------------------------------------------------------------------------------


def test_every_runnable_block_talks_to_the_documented_server() -> None:
    """A ```bash or ```python block that would not run here must say so by being ```shell instead."""
    runnable = blocks("bash") + blocks("python")
    assert len(runnable) >= 8, runnable
    for page, block in runnable:
        assert DOCUMENTED_URL in block, f"{page}: fence it as ```shell if it cannot run in the tests:\n{block}"


@pytest.mark.parametrize("item", blocks("bash"), ids=block_id)
def test_shell_examples_run(server: str, item: tuple[str, str], tmp_path: Path) -> None:
    page, block = item
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    script = "set -euo pipefail\n" + block.replace(DOCUMENTED_URL, server)
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{page}:\n{result.stderr}{result.stdout}"
    assert result.stdout.strip(), page
    if "/predict" in block and "curl -fsS" in block:  # a prediction answers with its model's name
        assert '{"model":' in result.stdout, result.stdout


@pytest.mark.parametrize("item", blocks("python"), ids=block_id)
def test_python_examples_run(server: str, item: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    page, block = item
    exec(compile(block.replace(DOCUMENTED_URL, server), page, "exec"), {})
    assert capsys.readouterr().out.strip(), page


def test_the_documented_error_is_the_one_answered(server: str) -> None:
    """docs/api.md shows the envelope; a real 422 has exactly its keys."""
    (page, block) = next(item for item in blocks("bash") if '"names": [""]' in item[1])
    result = subprocess.run(
        ["bash", "-c", block.replace(DOCUMENTED_URL, server)], capture_output=True, text=True, timeout=60
    )
    error = json.loads(result.stdout)["error"]
    assert set(error) == {"type", "message", "request_id"}
    assert error["type"] == "validation_error"
    assert "names[0]" in error["message"]


# --- generated pages ------------------------------------------------------------------------------


def test_configuration_page_is_generated_from_settings() -> None:
    assert (DOCS / "configuration.md").read_text() == settings_doc.render(), "run: python scripts/settings_doc.py"


def test_every_setting_is_on_the_configuration_page_with_its_default() -> None:
    page = (DOCS / "configuration.md").read_text()
    for name, field in Settings.model_fields.items():
        row = re.search(rf"^\| `TINYSERVE_{name.upper()}` \| (.+?) \| (.+) \|$", page, flags=re.MULTILINE)
        assert row is not None, name
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        if default is None or default == [] or default == "":
            assert row.group(1) == ("unset" if default is None else "empty"), name
        else:
            text = str(int(default) if isinstance(default, float) and default.is_integer() else default)
            assert f"`{text.lower()}`" == row.group(1).lower(), name
        assert len(row.group(2)) > 10, name


def test_a_setting_without_a_description_stops_the_generator() -> None:
    class Undocumented(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="TINYSERVE_")
        documented: int = Field(1, description="Has one.")
        silent: int = 2

    with pytest.raises(ValueError, match="'silent' has no description"):
        settings_doc.render(Undocumented)


def test_the_configuration_check_notices_a_stale_page(tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text(settings_doc.render().replace("`TINYSERVE_PORT`", "`TINYSERVE_PORTS`"))
    page = ["--page", str(stale)]
    assert settings_doc.main(["--check", *page]) == 1
    assert settings_doc.main(page) == 0
    assert settings_doc.main(["--check", *page]) == 0


def test_models_page_shows_every_artifact_with_its_command() -> None:
    assert model_table(MODELS_STORE) in (DOCS / "models.md").read_text()


# --- performance ----------------------------------------------------------------------------------


def test_results_files_are_valid_and_say_where_they_come_from() -> None:
    files = sorted(RESULTS_DIR.glob("*.json"))
    assert files
    for path in files:
        results = load(path)
        assert results.machine.description and re.fullmatch(r"\d{4}-\d{2}-\d{2}", results.date), path
        assert path.name.startswith(results.date), "file names start with the run's date, so they sort by it"
        if results.transcribed:
            assert "transcribed" in results.source.lower(), path
        assert {c.target for c in results.peers} <= {s.target for s in results.peer_servers}


def test_performance_page_charts_and_readme_table_regenerate_byte_identical(tmp_path: Path) -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    files = publish.outputs(latest(), tmp_path, readme)
    assert set(files) >= {"docs/performance/latest.md", "docs/performance/throughput.png", "README.md"}
    for name, data in files.items():
        assert (PROJECT_ROOT / name).read_bytes() == data, f"{name} is stale: run python -m bench.publish"


def test_a_changed_result_changes_every_output(tmp_path: Path) -> None:
    """The comparison above can fail: one cell changed in the results changes the page, a chart, the README."""
    original = load(latest())
    peers = [
        c.model_copy(update={"rps": 1.0}) if c.target == "tinyserve" and c.conc == 1 else c for c in original.peers
    ]
    changed = tmp_path / (latest().name)
    changed.write_text(original.model_copy(update={"peers": peers}).dump())
    (tmp_path / "charts").mkdir()
    readme = (PROJECT_ROOT / "README.md").read_text()
    files = publish.outputs(changed, tmp_path / "charts", readme)
    for name in ("docs/performance/latest.md", "docs/performance/throughput.png", "README.md"):
        assert (PROJECT_ROOT / name).read_bytes() != files[name], name


def test_the_readme_table_names_machine_and_date() -> None:
    results = load(latest())
    block = publish.readme_block(results)
    assert results.machine.description in block and results.date in block
    assert block.count("\n| ") == 2 + publish.README_ROWS  # header, rule, five servers


# --- the site -------------------------------------------------------------------------------------


def test_every_page_is_in_the_nav() -> None:
    config = load_config(str(PROJECT_ROOT / "mkdocs.yml"))

    def pages(nav: object) -> Iterator[str]:
        if isinstance(nav, str):
            yield nav
        elif isinstance(nav, list):
            for item in nav:
                yield from pages(item)
        elif isinstance(nav, dict):
            for value in nav.values():
                yield from pages(value)

    listed = set(pages(config["nav"]))
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert on_disk == listed, (
        f"add to mkdocs.yml's nav: {sorted(on_disk - listed)}; missing: {sorted(listed - on_disk)}"
    )


def build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_the_site_builds_strict(tmp_path: Path) -> None:
    result = build(PROJECT_ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    configuration = (tmp_path / "site" / "configuration" / "index.html").read_text()
    assert "TINYSERVE_MAX_BATCH_SIZE" in configuration
    assert "Trust model" in (tmp_path / "site" / "security" / "index.html").read_text()  # SECURITY.md included


@pytest.mark.slow
def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(DOCS, root / "docs")
    for name in ("mkdocs.yml", "SECURITY.md", "CHANGELOG.md", "scripts/mkdocs_hooks.py", "deploy/README.md"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / name, root / name)
    page = root / "docs" / "api.md"
    page.write_text(page.read_text() + "\nSee [the missing page](missing.md).\n")
    result = build(root, tmp_path / "site")
    assert result.returncode != 0
    assert "missing.md" in result.stderr


def test_a_run_of_bench_becomes_a_results_file_that_renders(tmp_path: Path) -> None:
    """bench.run's document (and peerbench's) -> the published file -> the page, charts and README table."""

    def cell(target: str, scenario: str, kind: str, conc: int, rps: float, items: int = 1) -> dict[str, object]:
        return {
            "scenario": scenario, "kind": kind, "model": "digits-cnn", "target": target, "conc": conc, "round": 1,
            "items_per_request": items, "rps": rps, "p50_ms": 1.0, "p99_ms": 2.0, "http_errors": 0,
            "socket_errors": 0, "requests": 100, "server_cpu_ms_per_req": 0.5, "server_cores": 1.0,
        }  # fmt: skip

    cells = [cell(t, "digits-cnn json", "json", c, r) for t, c, r in (
        ("tinyserve", 1, 2000), ("tinyserve", 64, 4000), ("baseline", 1, 1000), ("baseline", 64, 1000),
        ("tinyserve-w2", 64, 6000),
    )] + [cell("tinyserve", "digits-cnn bulk", "bulk", 1, 300, items=64)]  # fmt: skip
    doc = {
        "machine": {"date": "2026-12-24T10:00:00+00:00", "finished": "2026-12-24T10:30:00+00:00", "commit": "abc",
                    "cpu_model": "Test CPU", "cpu_count": 4, "loadgen": "wrk 4.1"},
        "settings": {"command": "python -m bench.run", "rounds": 1, "duration_s": 8.0, "warmup_s": 3.0,
                     "torch_threads": 1},
        "primary": "digits-cnn json",
        "summary": report.summarise(cells),
        "servers": [{"name": "tinyserve", "cold_start_s": 2.5}],
        "inprocess": {"forward": [{"model": "digits-cnn", "batch": 256, "images_per_s": 38400.0}]},
    }  # fmt: skip
    peer_rows = [
        {"target": t, "conc": c, "rps": r, "p50_ms": 1.0, "p99_ms": 2.0}
        for t, r in (("tinyserve", 2000), ("kserve", 1000), ("ceiling", 3000), ("new-server", 500))
        for c in (1, 16)
    ]
    published = results.from_run(doc, {"summary": peer_rows})
    assert published.two_workers is not None and published.two_workers.ratio == 1.5
    assert published.bulk[0].images_per_s == 19200 and published.bulk[0].share_of_bare == 0.5
    assert [c.x_baseline for c in published.routes] == [2.0, 4.0]
    path = tmp_path / "2026-12-24T1000-test.json"
    path.write_text(published.dump())
    assert load(path) == published
    (tmp_path / "charts").mkdir()
    files = publish.outputs(path, tmp_path / "charts", f"x\n{publish.START}\nold\n{publish.END}\ny\n")
    assert (
        "Test CPU, 4 CPUs" in files["README.md"].decode() and "| KServe Python server |" in files["README.md"].decode()
    )
    assert "| new-server |" in files["docs/performance/latest.md"].decode()  # an unknown peer keeps its name
    assert files["docs/performance/bulk.png"].startswith(b"\x89PNG")
