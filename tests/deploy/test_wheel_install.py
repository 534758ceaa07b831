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
from tests.servers import free_port, wait_ready


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
    port = free_port()
    process = subprocess.Popen(
        [str(env_root / "bin" / "tinyserve"), "serve", "--port", str(port)],
        cwd=elsewhere,
        env={"TINYSERVE_MODEL_STORE": str(store), "TINYSERVE_ACCESS_LOG": "false", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        where = httpx.post(f"{base}/v1/names/predict", json={"names": ["Nakamura"]}).json()
        assert where["predictions"][0]["country"] == "Japanese"
        probe = subprocess.run(
            [str(python), "-c", "import service; print(service.__file__)"],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            check=True,
        )
        assert probe.stdout.startswith(str(purelib)), "the server must run the installed wheel, not the source tree"
    finally:
        process.terminate()
        process.wait(30)
        assert process.stderr is not None
        process.stderr.close()
