"""Shared fixtures. Tests that need the real data sets read TINYSERVE_DATA_DIR.

Without it they skip with a reason; CI sets TINYSERVE_REQUIRE_DATA=1 as well, which
turns that skip into a failure so CI can never silently skip them.
"""

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.paths import MODELS_STORE


@pytest.fixture(scope="session")
def data_dir() -> Path:
    value = os.environ.get("TINYSERVE_DATA_DIR")
    required = os.environ.get("TINYSERVE_REQUIRE_DATA") == "1"
    if not value or not Path(value).is_dir():
        reason = f"TINYSERVE_DATA_DIR is unset or not a directory ({value!r}); it must hold MNIST/raw and names/"
        if required:
            pytest.fail(f"TINYSERVE_REQUIRE_DATA=1 but {reason}")
        pytest.skip(reason)
    return Path(value).resolve()


@pytest.fixture(scope="session")
def models_store() -> Path:
    return MODELS_STORE


# Tests that start a real `tinyserve serve` (tests/servers.py) take seconds each: `make test` leaves
# them out (-m "not server"), `make test-all` and CI run them. Marked here so no test file has to.
SERVER_STARTERS = frozenset({"running_server", "started_server", "wait_ready"})


def starts_a_server(function: Callable[..., Any]) -> bool:
    code = getattr(inspect.unwrap(function), "__code__", None)
    return code is not None and not SERVER_STARTERS.isdisjoint(code.co_names)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        fixtures = (getattr(item.module, name, None) for name in item.fixturenames)
        if any(callable(f) and starts_a_server(f) for f in (item.function, *fixtures)):
            item.add_marker(pytest.mark.server)
