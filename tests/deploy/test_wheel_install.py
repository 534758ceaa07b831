"""The image's install steps, outside Docker: wheel -> fresh venv -> `tinyserve serve` elsewhere.

Catches a wheel that misses a module or data file, or code that finds files relative to
the repository instead of through settings.
"""

import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import httpx

from tests.paths import MODELS_STORE, PROJECT_ROOT
from tests.servers import started_server


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), "."],
        cwd=PROJECT_ROOT,
        check=True,
    )
    (wheel,) = out.glob("tinyserve-*.whl")
    return wheel


def fresh_venv(root: Path) -> Path:
    """A venv whose own site-packages gets the wheel; third-party packages come from this one.

    The line in the .pth file puts this interpreter's site-packages on sys.path without
    processing its .pth files, so the editable install of the source tree stays invisible.
    """
    venv.EnvBuilder(with_pip=False).create(root)
    (purelib,) = root.glob("lib/python*/site-packages")
    (purelib / "third_party.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return purelib


def test_wheel_serves_from_another_directory(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    env_root = tmp_path / "venv"
    purelib = fresh_venv(env_root)
    python = env_root / "bin" / "python"  # its own interpreter, so the console script points at it
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    assert {"service", "artifacts", "nets"} <= {p.name for p in purelib.iterdir()}
    assert not (purelib / "training").exists(), "training is not part of the served wheel"

    store = tmp_path / "store"
    shutil.copytree(MODELS_STORE, store)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command = [str(env_root / "bin" / "tinyserve"), "serve", "--port", "0"]
    environment = {"TINYSERVE_MODEL_STORE": str(store), "TINYSERVE_ACCESS_LOG": "false", "PATH": "/usr/bin:/bin"}
    with started_server(command, environment, cwd=elsewhere) as server:
        where = httpx.post(f"{server.base}/v1/names/predict", json={"names": ["Nakamura"]}).json()
        assert where["predictions"][0]["country"] == "Japanese"
        probe = subprocess.run(
            [str(python), "-c", "import service; print(service.__file__)"],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            check=True,
        )
        assert probe.stdout.startswith(str(purelib)), "the server must run the installed wheel, not the source tree"
