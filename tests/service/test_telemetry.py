"""TINYSERVE_OPENTELEMETRY is off by default; what it turns on is tested in test_tracing.py."""

from service.settings import Settings


def test_off_by_default() -> None:
    assert Settings(_env_file=None).opentelemetry is False  # type: ignore[call-arg]
