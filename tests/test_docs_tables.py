"""The tests that docs/SERVER.md's conformance table names exist (issue 12: each row is
backed by a test), so a renamed or removed test cannot leave a row pointing nowhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_test_the_conformance_table_names_exists() -> None:
    table = (ROOT / "docs" / "SERVER.md").read_text()
    named = set(re.findall(r"`(test_\w+\.py)::(test_\w+)(?:\[[^\]`]*\])?`", table))
    assert len(named) > 40, "the table names its tests as `file.py::test_name`"
    missing = [
        f"{module}::{name}"
        for module, name in sorted(named)
        if not (ROOT / "tests" / module).is_file()
        or not re.search(rf"^(async )?def {name}\(", (ROOT / "tests" / module).read_text(), re.M)
    ]
    assert missing == []
