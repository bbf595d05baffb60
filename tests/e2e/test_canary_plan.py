"""The canary's plan, stated before approval (issue 11 must-show): a function with ~40
invocations a day is told, in its approval request, its on-call notice and its pin page (the
fields `rollforward show` and the console share), how long an unattended canary would need,
and the options.

One rung (approval at day 0), so the request reads the week of traffic just served: 280
invocations through alias `live` over 7 emulated days, spread evenly (no wall-clock time).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from rollforward.clock import utc_now
from rollforward.escalation.progress import Attempts
from rollforward_cli.details import pin_fields

from emulator.inprocess import EmbeddedAws
from emulator.stack import deploy_rollforward
from emulator.traffic import generate_traffic
from tests.e2e.conftest import TEST_POLICY
from tests.e2e.harness import Lifecycle, wait_for

POLICY = {
    **TEST_POLICY,
    "escalation": {"stages": [{"name": "approval", "offset": "0d", "audience": "oncall"}]},
}
OPTIONS = "options: test events, a longer window, or accept untested"


@pytest.fixture
def lifecycle() -> Iterator[Lifecycle]:
    with EmbeddedAws() as aws:
        yield Lifecycle(aws, deploy_rollforward(context={"policy": POLICY}))


def test_a_forty_a_day_function_is_told_its_canary_duration_and_options_before_approval(
    lifecycle: Lifecycle,
) -> None:
    lifecycle.create_function("quiet")
    version = lifecycle.lam.publish_version(FunctionName="quiet")["Version"]
    lifecycle.lam.create_alias(FunctionName="quiet", Name="live", FunctionVersion=version)
    generate_traffic("quiet", "live", 40 / 86_400, timedelta(days=7))
    lifecycle.aws.state.clock.advance(timedelta(hours=1))  # the last hour is a full one
    lifecycle.pin("quiet")
    wait_for(lambda: lifecycle.pending_approval("quiet"), what="the approval request")
    lifecycle.settle()

    pin = lifecycle.pin_record("quiet")
    assert pin is not None
    planned = pin.evidence["canary_plan"]
    summary = str(planned["summary"])
    assert summary.startswith("~40 invocations/day: an unattended canary would need ~")
    assert "days" in summary and summary.endswith(OPTIONS)
    assert planned["alias"] == "live" and planned["feasible"] is False
    assert planned["invocations_per_day"] == pytest.approx(40, abs=1)

    (request,) = [n for n in lifecycle.notices("oncall") if n["kind"] == "approval_request"]
    assert summary in str(request)

    fields = dict(pin_fields(pin, utc_now(), None, lifecycle.pending_approval("quiet"), Attempts()))
    assert fields["Canary plan"].startswith(summary)
