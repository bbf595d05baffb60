"""No execution reaches the one-year cap: a pin held for 400 days continues in a successor.

On the virtual clock, with the embedded Step Functions ending any execution TIMED_OUT one year
after it started (tests/emulator/test_stepfunctions_execution_limit.py): an on-call engineer
keeps a pin exempt by renewing an 85-day exemption every 80 days. The first execution's plan
would outlast its horizon (300 days), so it hands the pin to a successor at day 300 and ends
SUCCEEDED; at every step at most one execution of the pin runs, the ledger names it, and none
ever ends TIMED_OUT, FAILED or ABORTED.
"""

from __future__ import annotations

from typing import Any

from rollforward.contract import EXECUTION_HORIZON

from tests.e2e.harness import Lifecycle, Principal, wait_for

DAYS = 400
STEP_DAYS = 5
RENEW_EVERY_DAYS = 80


def _episode_executions(lifecycle: Lifecycle, name: str) -> list[dict[str, Any]]:
    pin = lifecycle.pin_record(name)
    assert pin is not None
    return [e for e in lifecycle.executions() if e["name"].startswith(pin.execution_name)]


def _exempt(lifecycle: Lifecycle, approver: Principal, name: str) -> None:
    status, body = lifecycle.decide(
        approver,
        action="exempt",
        pin_id=lifecycle.key(name).id,
        until="85d",
        reason="quarterly freeze, renewed",
    )
    assert status == 200, body


def test_a_400_day_exemption_chain_continues_as_new_and_never_times_out(lifecycle: Lifecycle):
    pinner, approver = Principal("oncall-pinner"), Principal("oncall-keeper")
    lifecycle.create_function("archive")
    lifecycle.pin("archive", by=pinner)
    wait_for(lambda: lifecycle.pin_record("archive"), what="the ledger item")
    lifecycle.settle()
    running_counts = []
    for day in range(0, DAYS, STEP_DAYS):
        if day % RENEW_EVERY_DAYS == 0:
            _exempt(lifecycle, approver, "archive")
        lifecycle.advance(STEP_DAYS, step_days=STEP_DAYS)
        executions = _episode_executions(lifecycle, "archive")
        statuses = [e["status"] for e in executions]
        assert not {"TIMED_OUT", "FAILED", "ABORTED"} & set(statuses), (day, executions)
        running = [e for e in executions if e["status"] == "RUNNING"]
        running_counts.append(len(running))
        assert len(running) == 1, (day, executions)
        pin = lifecycle.pin_record("archive")
        assert pin is not None and pin.is_open
        assert pin.execution_arn == running[0]["executionArn"], (day, pin.execution_arn)

    executions = sorted(_episode_executions(lifecycle, "archive"), key=lambda e: e["startDate"])
    assert [e["status"] for e in executions] == ["SUCCEEDED", "RUNNING"], executions
    first, successor = executions
    assert successor["name"] == f"{first['name']}-c1"
    lasted = first["stopDate"] - first["startDate"]
    assert lasted.days == EXECUTION_HORIZON.days, lasted  # handed over at the horizon
    history = lifecycle.sfn.get_execution_history(executionArn=first["executionArn"])["events"]
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e
    ]
    assert entered[-3:] == ["ContinueAsNew", "NextStep", "Continued"], entered[-6:]
    continued = [r for r in lifecycle.audit.read() if r.event == "continued"]
    assert len(continued) == 1 and continued[0].details["successor"] == successor["executionArn"]
