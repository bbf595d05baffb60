"""The unit tier: pure code on in-memory fakes (`tests/unit/fakes.py`), no AWS library.

When this tier runs alone (`pytest tests/unit`), the session fails if boto3, botocore, moto or
the emulator were imported by any test or by the code under test, and prints how long it took.
Run with other tiers, the check is skipped: they import those on purpose.

Under pytest-xdist the test modules are imported by the workers, not the controller (which loads
only conftests, some of them the other tiers'): each worker checks its own imports when it
collected only unit items and hands them to the controller, which decides from what the workers
collected whether the whole session is the unit tier.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

UNIT = Path(__file__).resolve().parent
AWS_LIBRARIES = ("boto3", "botocore", "moto", "emulator")
_IMPORTED_KEY = "unit_tier_aws_libraries_imported"
_started = time.monotonic()
_only_unit = True
# Controller under xdist: the AWS libraries each worker that ran only unit items imported.
_worker_imports: list[str] = []


def aws_libraries_in(modules: Iterable[str]) -> list[str]:
    """The AWS libraries among imported module names (top-level packages, sorted)."""
    return sorted({name.split(".")[0] for name in modules} & set(AWS_LIBRARIES))


def only_unit(paths: Iterable[Path]) -> bool:
    """Whether the session's items, by path, are all in the unit tier (and there are some)."""
    listed = list(paths)
    return bool(listed) and all(UNIT in path.parents for path in listed)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_xdist_controller(config: pytest.Config) -> bool:
    return not _is_worker(config) and bool(getattr(config.option, "numprocesses", None))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    global _only_unit
    _only_unit = only_unit(Path(str(item.path)) for item in items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    # Every worker collects the whole session: one worker's ids say what the session is.
    global _only_unit
    rootdir = Path(str(node.config.rootpath))
    _only_unit = only_unit((rootdir / nodeid.split("::")[0]).resolve() for nodeid in ids)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    _worker_imports.extend(getattr(node, "workeroutput", {}).get(_IMPORTED_KEY, []))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _is_worker(config):
        if _only_unit:
            config.workeroutput[_IMPORTED_KEY] = aws_libraries_in(sys.modules)  # type: ignore[attr-defined]
        return
    if not _only_unit:
        return
    elapsed = time.monotonic() - _started
    if _is_xdist_controller(config):
        imported = sorted(set(_worker_imports))
    else:
        imported = aws_libraries_in(sys.modules)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
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
