"""The embedded AWS in process, as fixtures for the tiers that need it (emulator, e2e, infra,
workflow): each tier's conftest imports them. The unit tier does not, so it runs without
boto3, botocore or moto."""

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
