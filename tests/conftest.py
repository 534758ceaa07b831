"""Shared fixtures. Tests that need the real data sets read TINYSERVE_DATA_DIR.

Without it they skip with a reason; CI sets TINYSERVE_REQUIRE_DATA=1 as well, which
turns that skip into a failure so CI can never silently skip them.
"""

import os
from pathlib import Path

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
