import pytest
from pydantic import ValidationError

from service.settings import Settings


def test_defaults_are_sane() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.port == 8000 and settings.device == "auto" and settings.max_images == 64
    assert settings.keep_alive_s > 60  # outlives clients' and load balancers' idle timeouts
    assert settings.model_selection() == {}


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYSERVE_MODELS", "digits-cnn, names-gru:1")
    monkeypatch.setenv("TINYSERVE_API_KEYS", "a,b")
    monkeypatch.setenv("TINYSERVE_MAX_BATCH_DELAY_MS", "0.5")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.model_selection() == {"digits-cnn": None, "names-gru": 1}
    assert [k.get_secret_value() for k in settings.api_keys] == ["a", "b"]
    assert settings.max_batch_delay_ms == 0.5


@pytest.mark.parametrize(
    ("field", "value"),
    [("device", "gpu"), ("models", "../etc/passwd"), ("port", "0"), ("max_batch_size", "0"), ("workers", "-1")],
)
def test_nonsense_is_rejected_early(monkeypatch: pytest.MonkeyPatch, field: str, value: str) -> None:
    monkeypatch.setenv(f"TINYSERVE_{field.upper()}", value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]
