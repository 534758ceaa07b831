"""SECURITY.md names a test for each claim: every test it names must exist, so the claims cannot rot."""

import re

from tests.paths import PROJECT_ROOT

SECURITY = (PROJECT_ROOT / "SECURITY.md").read_text()
# `tests/x/test_y.py::test_z[case]`, `::test_z` (same file as the reference before it), `tests/x/test_y.py`
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?(?:\[[^\]`]*\])?`")


def test_every_test_named_in_security_md_exists() -> None:
    current = None
    checked = 0
    for match in REFERENCE.finditer(SECURITY):
        path, name = match.groups()
        if path is None and name is None:
            continue
        if path:
            current = PROJECT_ROOT / path
            assert current.is_file(), f"SECURITY.md names {path}, which does not exist"
        if name:
            assert current is not None, f"SECURITY.md names ::{name} before any test file"
            assert re.search(rf"^(async )?def {name}\(", current.read_text(), re.MULTILINE), (
                f"SECURITY.md names {current.relative_to(PROJECT_ROOT)}::{name}, which does not exist"
            )
            checked += 1
    assert checked >= 30
