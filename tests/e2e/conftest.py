"""The e2e tier: rollforward deployed from the synthesized CDK app into the embedded AWS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.inprocess import EmbeddedAws
from emulator.stack import deploy_rollforward
from tests.aws_fixtures import aws, throttled_aws  # noqa: F401 - fixtures of this tier
from tests.e2e.harness import Lifecycle

# Approvers are on-call IAM users; the pinner of a function may not approve its own pin.
TEST_POLICY = {
    "approval": {
        "allowed_approvers": ["arn:aws:iam::*:user/oncall-*"],
        "separation_of_duties": True,
        "approval_timeout": "1d",
        "reject_snooze": "3d",
    }
}


@pytest.fixture
def lifecycle() -> Iterator[Lifecycle]:
    with EmbeddedAws() as embedded:
        deployment = deploy_rollforward(context={"policy": TEST_POLICY})
        yield Lifecycle(embedded, deployment)
