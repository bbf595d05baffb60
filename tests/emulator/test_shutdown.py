"""An embedded AWS shuts down whole: no execution of it outlives it (emulator tooling: on AWS an
account is never reset; docs/parity/stepfunctions.md, the shutdown row)."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from emulator.inprocess import EmbeddedAws
from emulator.stepfunctions import EVALUATING

WAIT_AN_HOUR = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}


def test_an_execution_in_a_region_the_shutdown_does_not_list_is_stopped_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The shutdown's StopExecution calls list the embedded AWS's own region only. Left parked,
    an execution of another region kept every later shutdown waiting its full 20 s (a full
    suite ran twice as long); now the shutdown stops it too, at once."""
    with caplog.at_level("WARNING", logger="emulator.stepfunctions"), EmbeddedAws():
        iam = boto3.client("iam")
        role = iam.create_role(RoleName="states", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        sfn = boto3.client("stepfunctions", region_name="eu-west-1")
        machine = sfn.create_state_machine(
            name="elsewhere", definition=json.dumps(WAIT_AN_HOUR), roleArn=role
        )["stateMachineArn"]
        sfn.start_execution(stateMachineArn=machine)
        deadline = time.monotonic() + 10
        while EVALUATING.wait_until_none(0) == 0:  # until it is parked in its Wait
            assert time.monotonic() < deadline, "the execution never started"
            time.sleep(0.05)
    assert EVALUATING.wait_until_none(0) == 0  # nothing of it is evaluated any more
    said = [r.getMessage() for r in caplog.records if r.name == "emulator.stepfunctions"]
    assert said == ["1 execution(s) still running at shutdown were stopped"], said
    # (and not "... still evaluating after 20s": the shutdown never waited its timeout out)
