"""FastAPI's native OpenTelemetry follows TINYSERVE_OPENTELEMETRY (off by default: it costs per request)."""

import pytest
from opentelemetry import trace

from service.app import create_app
from service.settings import Settings

from .conftest import make_settings


def test_off_by_default() -> None:
    assert Settings(_env_file=None).opentelemetry is False  # type: ignore[call-arg]


@pytest.mark.parametrize("enabled", [False, True])
def test_fastapi_telemetry_follows_the_setting(monkeypatch: pytest.MonkeyPatch, enabled: bool) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", object)  # as if an SDK tracer provider were configured
    app = create_app(make_settings(opentelemetry=enabled))
    assert app._native_telemetry.enabled() is enabled  # the check FastAPI makes on every request
