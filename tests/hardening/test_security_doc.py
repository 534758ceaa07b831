"""SECURITY.md names a test for each claim: every test it names must exist, so the claims cannot rot."""

import re
import subprocess
import sys

from tests.paths import PROJECT_ROOT

SECURITY = (PROJECT_ROOT / "SECURITY.md").read_text()
# `tests/x/test_y.py::test_z[case]`, `::test_z` (same file as the reference before it), `tests/x/test_y.py`
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?(?:\[([^\]`]*)\])?`")


def test_every_test_named_in_security_md_exists() -> None:
    current = None
    checked = 0
    for match in REFERENCE.finditer(SECURITY):
        path, name, _ = match.groups()
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


def cited_cases() -> list[str]:
    """The parametrised cases SECURITY.md cites, as pytest node ids (``file::test[case]``)."""
    cases, current = [], None
    for match in REFERENCE.finditer(SECURITY):
        path, name, case = match.groups()
        current = path or current
        if name and case is not None:
            cases.append(f"{current}::{name}[{case}]")
    return cases


def test_every_case_named_in_security_md_is_collected() -> None:
    """A case id is the test's parametrize id: renaming or dropping a case must break this, not pass quietly."""
    cases = cited_cases()
    assert len(cases) >= 5, cases
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    result = subprocess.run([*command, *cases], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    collected = {line.strip() for line in result.stdout.splitlines()}
    assert [case for case in cases if case not in collected] == []
