"""Shared fixtures: the embedded AWS in process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.inprocess import EmbeddedAws


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
