"""The unit tier: pure code on in-memory fakes (`tests/unit/fakes.py`), no AWS library.

When this tier runs alone (`pytest tests/unit`), the session fails if boto3, botocore, moto or
the emulator were imported by any test or by the code under test, and prints how long it took.
Run with other tiers, the check is skipped: they import those on purpose.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent
AWS_LIBRARIES = ("boto3", "botocore", "moto", "emulator")
_started = time.monotonic()
_only_unit = True


def aws_libraries_in(modules: Iterable[str]) -> list[str]:
    """The AWS libraries among imported module names (top-level packages, sorted)."""
    return sorted({name.split(".")[0] for name in modules} & set(AWS_LIBRARIES))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    global _only_unit
    _only_unit = bool(items) and all(UNIT in Path(str(item.path)).parents for item in items)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _only_unit:
        return
    elapsed = time.monotonic() - _started
    imported = aws_libraries_in(sys.modules)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    line = (
        f"unit tier: {session.testscollected} tests in {elapsed:.1f}s, "
        f"AWS libraries imported: {', '.join(imported) or 'none'}"
    )
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(line)
    else:
        print(line)
    if imported:
        if reporter is not None:
            reporter.write_line(
                "FAILED: the unit tier must import no AWS library (move the test to a tier that "
                "needs AWS, or the code behind a port)",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
