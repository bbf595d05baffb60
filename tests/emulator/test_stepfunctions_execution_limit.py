"""Standard executions last at most one year, measured on the emulated clock.

AWS: "Maximum execution time: 1 year" (Step Functions service quotas); an execution still
running then ends TIMED_OUT. The embedded AWS stamps `startDate` (and `$$.Execution.StartTime`)
with the emulated now and ends the execution TIMED_OUT one year later wherever it waits: in a
Wait state or parked on a task token. Rows in docs/parity/stepfunctions.md.
"""

from __future__ import annotations

import time
from datetime import timedelta

import boto3

from tests.emulator.test_stepfunctions_strict import (
    Parked,
    _finish,
    _machine,
    _states_role,  # noqa: F401 - the machines' role (autouse fixture)
)

DAY = 86_400


def _wait(days: int) -> dict[str, object]:
    return {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": days * DAY, "End": True}}}


def _running_for(aws, arn: str, days: int) -> str:
    time.sleep(0.2)
    aws.state.clock.advance(timedelta(days=days))
    return str(_finish(arn, timeout=3)["status"])


def test_a_wait_that_outlasts_a_year_times_out_the_execution(aws):
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=_machine(_wait(400)))["executionArn"]
    assert _running_for(aws, arn, 364) == "RUNNING"
    assert _running_for(aws, arn, 2) == "TIMED_OUT"
    history = sfn.get_execution_history(executionArn=arn)["events"]
    assert history[-1]["type"] == "ExecutionTimedOut"


def test_a_wait_within_the_year_succeeds(aws):
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=_machine(_wait(300)))["executionArn"]
    assert _running_for(aws, arn, 301) == "SUCCEEDED"


def test_a_wait_that_ends_with_the_year_never_leads_into_the_next_state(aws):
    """One advance past both a Wait's end and the execution's deadline: the execution ends
    TIMED_OUT in the Wait, as the one-year rule says, and the next state is never entered (the
    Wait's thread and the deadline's woke together, and the next state began before the
    timeout now and then). Several executions, so a race lost by even one of them shows."""
    sfn = boto3.client("stepfunctions")
    waited = {
        "StartAt": "W",
        "States": {
            "W": {"Type": "Wait", "Seconds": DAY, "Next": "After"},
            "After": {"Type": "Pass", "End": True},
        },
    }
    machine = _machine(waited)
    arns = [sfn.start_execution(stateMachineArn=machine)["executionArn"] for _ in range(8)]
    time.sleep(0.2)
    aws.state.clock.advance(timedelta(days=366))
    for arn in arns:
        assert _finish(arn, timeout=3)["status"] == "TIMED_OUT"
        history = sfn.get_execution_history(executionArn=arn)["events"]
        entered = [
            e["stateEnteredEventDetails"]["name"]
            for e in history
            if "stateEnteredEventDetails" in e
        ]
        assert entered == ["W"], history
        assert history[-1]["type"] == "ExecutionTimedOut"


def test_a_task_parked_on_its_token_for_a_year_times_out_the_execution(aws):
    parked = Parked()  # no TimeoutSeconds: the task alone would wait forever
    assert _running_for(aws, parked.arn, 366) == "TIMED_OUT"


def test_the_start_date_is_the_emulated_now(aws):
    aws.state.clock.advance(timedelta(days=30))
    sfn = boto3.client("stepfunctions")
    before = aws.state.clock.now()
    arn = sfn.start_execution(stateMachineArn=_machine(_wait(1)))["executionArn"]
    started = sfn.describe_execution(executionArn=arn)["startDate"]
    assert abs(started - before) < timedelta(seconds=5)
    assert _running_for(aws, arn, 2) == "SUCCEEDED"
    stopped = sfn.describe_execution(executionArn=arn)["stopDate"]
    assert stopped - started >= timedelta(days=2)
