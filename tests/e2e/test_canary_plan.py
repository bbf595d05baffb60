"""The canary's plan, stated before approval (issue 11 must-show): a function with ~40
invocations a day is told, in its approval request (the ledger's record, the on-call notice,
`rollforward approvals`), and in the console (the pending approval on the fleet page and the
pin page, whose fields `rollforward show` shares), how long an unattended canary would need,
and the options. Where the traffic cannot be read, the request goes out all the same and says so.

One rung (approval at day 0), so the request reads the week of traffic just served: 280
invocations through alias `live` over 7 emulated days, spread evenly (no wall-clock time).
"""

from __future__ import annotations

import argparse
import html
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import quote

import pytest
from rollforward.clock import utc_now
from rollforward.escalation.progress import Attempts
from rollforward_cli.aws import Target
from rollforward_cli.commands import pins
from rollforward_cli.commands.base import TargetContext
from rollforward_cli.console import make_app
from rollforward_cli.details import pin_fields
from rollforward_cli.render import Output
from werkzeug.test import Client

from emulator import faults
from emulator.inprocess import EmbeddedAws
from emulator.stack import deploy_rollforward
from emulator.traffic import generate_traffic
from tests.e2e.conftest import TEST_POLICY
from tests.e2e.harness import Lifecycle, Principal, wait_for

POLICY = {
    **TEST_POLICY,
    "escalation": {"stages": [{"name": "approval", "offset": "0d", "audience": "oncall"}]},
}
OPTIONS = "options: test events, a longer window, or accept untested"


@pytest.fixture
def lifecycle() -> Iterator[Lifecycle]:
    with EmbeddedAws() as aws:
        yield Lifecycle(aws, deploy_rollforward(context={"policy": POLICY}))


def _quiet_function_awaiting_approval(lifecycle: Lifecycle) -> None:
    """`quiet`: 280 invocations through alias `live` over the last week, then pinned."""
    lifecycle.create_function("quiet")
    version = lifecycle.lam.publish_version(FunctionName="quiet")["Version"]
    lifecycle.lam.create_alias(FunctionName="quiet", Name="live", FunctionVersion=version)
    generate_traffic("quiet", "live", 40 / 86_400, timedelta(days=7))
    lifecycle.aws.state.clock.advance(timedelta(hours=1))  # the last hour is a full one
    lifecycle.pin("quiet")
    wait_for(lambda: lifecycle.pending_approval("quiet"), what="the approval request")
    lifecycle.settle()


def _console_page(target: Target, path: str) -> str:
    """A console page as the browser gets it (the WSGI app in process), unescaped to text."""
    response = Client(make_app(target)).get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return html.unescape(response.get_data(as_text=True))


def _approvals(target: Target, output: str) -> str:
    stdout, stderr = io.StringIO(), io.StringIO()
    context = TargetContext(target, Output(output, stdout, stderr))
    assert pins.run_approvals(argparse.Namespace(), context) == 0, stderr.getvalue()
    return stdout.getvalue()


def test_a_forty_a_day_function_is_told_its_canary_duration_and_options_before_approval(
    lifecycle: Lifecycle,
) -> None:
    _quiet_function_awaiting_approval(lifecycle)

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

    # The console: the pending approval on the fleet page, and the pin page.
    target = Target(Principal("oncall-olga").session, None)
    fleet = _console_page(target, "/")
    assert f"Canary plan: {summary}" in fleet
    assert summary in _console_page(target, f"/pin?id={quote(pin.key.id)}")
    # `rollforward approvals`, table and JSON.
    assert f"canary plan: {summary}" in _approvals(target, "table")
    (listed,) = json.loads(_approvals(target, "json"))["approvals"]
    assert listed["canary_plan"]["summary"] == summary


def test_traffic_that_cannot_be_read_still_asks_and_says_why(lifecycle: Lifecycle) -> None:
    """A member account whose role does not allow GetMetricData yet: on-call is asked anyway."""
    refused = faults.inject("GetMetricData", "AccessDenied", None, 403, service="cloudwatch")
    try:
        _quiet_function_awaiting_approval(lifecycle)
    finally:
        faults.disarm(refused)
    assert refused.fired >= 1
    pin = lifecycle.pin_record("quiet")
    assert pin is not None
    summary = str(pin.evidence["canary_plan"]["summary"])
    assert summary.startswith(
        "the function's traffic could not be read (AccessDenied on GetMetricData)"
    )
    assert summary.endswith(OPTIONS)
    (request,) = [n for n in lifecycle.notices("oncall") if n["kind"] == "approval_request"]
    assert summary in str(request)
