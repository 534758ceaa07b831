"""Where the project's committed files are, for tests that need them."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODELS_STORE = PROJECT_ROOT / "models_store"
