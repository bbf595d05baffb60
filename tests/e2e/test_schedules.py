"""The deployed schedules can do what they are for: EventBridge Scheduler invokes each target
as the schedule's execution role (emulator.scheduler), so a role the template forgot to grant
`states:StartExecution` / `lambda:InvokeFunction` on its target would never run the scan."""

from __future__ import annotations

import boto3

from emulator import scheduler
from tests.e2e.harness import Lifecycle


def test_every_deployed_schedule_may_invoke_its_target_as_its_role(lifecycle: Lifecycle) -> None:
    deployment = lifecycle.deployment
    assert deployment.schedules, "the hub deploys its schedules"
    for schedule in deployment.schedules:
        why = scheduler.refusal(schedule, deployment.account, deployment.region)
        assert why == "", (schedule.get("Name"), why)


def test_the_hourly_scan_schedule_starts_the_scan_machine(lifecycle: Lifecycle) -> None:
    deployment = lifecycle.deployment
    (scan,) = [s for s in deployment.schedules if ":stateMachine:" in str(s["Target"]["Arn"])][:1]
    machine = str(scan["Target"]["Arn"])
    sfn = boto3.client("stepfunctions", region_name=deployment.region)
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])

    assert scheduler.fire(scan, deployment.account, deployment.region)

    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == before + 1
