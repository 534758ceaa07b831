from pathlib import Path

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
    [
        ("device", "gpu"),
        ("models", "../etc/passwd"),
        ("port", "-1"),
        ("port", "65536"),
        ("max_batch_size", "0"),
        ("workers", "-1"),
    ],
)
def test_nonsense_is_rejected_early(monkeypatch: pytest.MonkeyPatch, field: str, value: str) -> None:
    monkeypatch.setenv(f"TINYSERVE_{field.upper()}", value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_a_dot_env_file_in_the_working_directory_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TINYSERVE_MAX_IMAGES=7\nTINYSERVE_MODELS=names-gru:1\nTINYSERVE_MAX_NAMES=9\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINYSERVE_MAX_NAMES", "11")  # the environment wins over the file
    settings = Settings()
    assert settings.max_images == 7 and settings.model_selection() == {"names-gru": 1}
    assert settings.max_names == 11


def test_port_0_asks_for_any_free_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYSERVE_PORT", "0")
    assert Settings(_env_file=None).port == 0  # type: ignore[call-arg]
