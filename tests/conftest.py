"""Shared by every tier: the toolchain's PATH. Nothing here imports an AWS library: the tiers
that need the embedded AWS import its fixtures from `tests.aws_fixtures` in their conftest."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests import ast_guard

# Threads of the embedded AWS parse too (tracebacks): CPython 3.11.7 must not see two at once.
ast_guard.install()

# No per-example deadline: on a loaded 2-core machine (or under xdist) a slow example is not a
# bug, and DeadlineExceeded would fail a property that holds. HYPOTHESIS_PROFILE picks another.
settings.register_profile("rollforward", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "rollforward"))

# CDK synthesis (jsii) runs `node` from PATH: use the supported Node pinned in package.json.
_NODE_BIN = Path(__file__).resolve().parent.parent / "node_modules" / ".bin"
if _NODE_BIN.is_dir():
    os.environ["PATH"] = f"{_NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

# emulator.stack.SYNTH_CACHE_ENV (not imported: this conftest imports no AWS library). The
# controller makes one directory per session; xdist workers inherit it, so the CDK app is
# synthesized once per session and context, not once per worker.
_SYNTH_CACHE_ENV = "ROLLFORWARD_SYNTH_CACHE"
_synth_cache: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _synth_cache
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        if workerinput.get(_SYNTH_CACHE_ENV):
            os.environ.setdefault(_SYNTH_CACHE_ENV, workerinput[_SYNTH_CACHE_ENV])
        return
    if os.environ.get(_SYNTH_CACHE_ENV):
        return
    _synth_cache = tempfile.mkdtemp(prefix="rollforward-synth-")
    os.environ[_SYNTH_CACHE_ENV] = _synth_cache


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    if _synth_cache:
        node.workerinput[_SYNTH_CACHE_ENV] = _synth_cache


def pytest_unconfigure(config: pytest.Config) -> None:
    global _synth_cache
    if hasattr(config, "workerinput") or _synth_cache is None:
        return
    os.environ.pop(_SYNTH_CACHE_ENV, None)
    shutil.rmtree(_synth_cache, ignore_errors=True)
    _synth_cache = None
