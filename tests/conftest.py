"""Shared fixtures: the embedded AWS in process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# CDK synthesis (jsii) runs `node` from PATH: use the supported Node pinned in package.json.
_NODE_BIN = Path(__file__).resolve().parent.parent / "node_modules" / ".bin"
if _NODE_BIN.is_dir():
    os.environ["PATH"] = f"{_NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from emulator.inprocess import EmbeddedAws  # noqa: E402 - after PATH is set for jsii


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    """A fresh embedded AWS (moto + rollforward's additions), throttling off."""
    with EmbeddedAws() as embedded:
        yield embedded


@pytest.fixture
def throttled_aws() -> Iterator[EmbeddedAws]:
    """A fresh embedded AWS with the 15 req/s shared control-plane bucket on."""
    with EmbeddedAws(throttling=True) as embedded:
        yield embedded
