"""What starts rollforward: the EventBridge rule on the CloudTrail record of a runtime-management
put (Detect), and the EventBridge Scheduler schedules of the reconciling scan and the daily
posture report. New schedules go here."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_stepfunctions as sfn

from infra.constructs import acknowledge, qualified_arn_wildcard_finding
from infra.constructs.functions import EntryFunctions
from infra.settings import Settings

# The CloudTrail record of a runtime-management put; AWS may suffix the event name with a date.
RUNTIME_CONFIG_EVENT_PATTERN = events.EventPattern(
    source=["aws.lambda"],
    detail_type=["AWS API Call via CloudTrail"],
    detail={
        "eventSource": ["lambda.amazonaws.com"],
        "eventName": [{"prefix": "PutRuntimeManagementConfig"}],
    },
)


class Triggers:
    """The detection rule and the schedules, in the stack's own scope."""

    def __init__(
        self,
        stack: Stack,
        settings: Settings,
        entries: EntryFunctions,
        scan_machine: sfn.IStateMachine,
    ) -> None:
        self.detection_rule = events.Rule(
            stack,
            "RuntimeConfigChanged",
            description="CloudTrail: a Lambda runtime management config was put",
            event_pattern=RUNTIME_CONFIG_EVENT_PATTERN,
            targets=[targets.LambdaFunction(entries.detect, retry_attempts=8)],
        )
        self.scan_schedule = scheduler.Schedule(
            stack,
            "ReconcilingScan",
            schedule=scheduler.ScheduleExpression.expression(settings.scan_schedule),
            # A cycle over every (account, region): the scan's machine (workflows/scan.py).
            target=scheduler_targets.StepFunctionsStartExecution(
                scan_machine, input=scheduler.ScheduleTargetInput.from_object({})
            ),
            description="rollforward reconciling scan: pins no event announced, lifts, deletions",
        )
        self.posture_schedule = _schedule(
            stack,
            "PostureReport",
            "rate(1 day)",
            entries.posture,
            "rollforward posture report: the shared-responsibility table, per row",
            "posture",
        )


def _schedule(
    stack: Stack,
    construct_id: str,
    expression: str,
    function: lambda_.IFunction,
    description: str,
    what: str,
) -> scheduler.Schedule:
    """A Scheduler schedule invoking `function`. Its target role is a stack-level singleton the
    L2 makes, hence the acknowledgment on the stack."""
    schedule = scheduler.Schedule(
        stack,
        construct_id,
        schedule=scheduler.ScheduleExpression.expression(expression),
        target=scheduler_targets.LambdaInvoke(function),
        description=description,
    )
    acknowledge(
        stack,
        qualified_arn_wildcard_finding(function),
        f"EventBridge Scheduler may invoke versions and aliases of the {what} function only.",
    )
    return schedule
