"""The reconciling scan's state machine: a Distributed Map over (account, region).

It only describes states (the shape and the contract are in `rollforward.scan.cycle`):

    Plan ─► Targets (Map, DISTRIBUTED, one child execution per (account, region)) ─► Report
              child: ScanTarget ─► More? ─ more pages ─► ScanTarget (from its marker)
                          │           └─ complete ─► Recorded ─► Done
                          └─ failed for good ─► RecordTargetFailure ─► TargetFailed
                                                (the cycle goes on)

Every child owns its (account, region)'s budget, so all run at once (`MAX_CONCURRENCY`); a
child that fails for good (a member whose role is gone) is caught inside it, and the Map
tolerates every child's failure (even one nothing can catch), so one account never costs the
others their cycle, and `Report` lists it. Children record their outcomes
(`ScanTarget` after each invocation, `RecordTargetFailure`) and end with a constant-size output;
the Map discards its results, so its payload does not grow with the targets. Each `ScanTarget`
invocation works until its Lambda's time is nearly up and says where the listing stands; the
loop turns once per 15 minutes of work, a few history events a turn.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from rollforward.contract import path
from rollforward.scan.cycle import (
    ScanAction,
    ScanPlan,
    TargetOutcome,
    TargetProgress,
    TargetRecorded,
)

from workflows.remediation import _task

# Children at once: (account, region) targets, each with its own buckets. AWS allows 10,000.
MAX_CONCURRENCY = 1000
# A scan invocation works for up to 15 minutes (the function's timeout) and keeps a margin.
TARGET_TIMEOUT = Duration.minutes(16)
FAILURE_PATH = path(TargetOutcome, "failure")


def build_scan_definition(scope: Construct, scan: lambda_.IFunction) -> sfn.IChainable:
    plan = _task(scope, "Plan", scan, str(ScanAction.PLAN))
    target = _task(
        scope, "ScanTarget", scan, str(ScanAction.TARGET), timeout=TARGET_TIMEOUT, retry_attempts=4
    )
    done = sfn.Succeed(scope, "Done")
    recorded = sfn.Pass(
        scope,
        "Recorded",
        comment="the outcome is recorded: the child's output stays constant-size",
        result=sfn.Result.from_object(TargetRecorded().model_dump()),
    )
    failed = sfn.Succeed(scope, "TargetFailed", comment="reported by Report, the cycle goes on")
    record_failure = _task(scope, "RecordTargetFailure", scan, str(ScanAction.TARGET_FAILED))
    # Unrecorded, the failure is still reported: Report finds no record of this cycle.
    record_failure.add_catch(failed, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
    target.add_catch(record_failure, errors=["States.ALL"], result_path=FAILURE_PATH)
    record_failure.next(failed)
    more = (
        sfn.Choice(scope, "More?")
        .when(sfn.Condition.boolean_equals(path(TargetProgress, "complete"), False), target)
        .otherwise(recorded.next(done))
    )
    child = target.next(more)
    targets = sfn.DistributedMap(
        scope,
        "Targets",
        items_path=path(ScanPlan, "targets"),
        item_selector={
            "cycle.$": path(ScanPlan, "cycle"),
            "target.$": "$$.Map.Item.Value",
            "cycle_execution.$": "$$.Execution.Id",
        },
        max_concurrency=MAX_CONCURRENCY,
        # A child that fails outside its catch (States.Runtime, which nothing catches) costs
        # its own target only: Report still runs and names it (no record: NoOutcomeRecorded).
        tolerated_failure_percentage=100,
        map_execution_type=sfn.StateMachineType.STANDARD,
        result_path=sfn.JsonPath.DISCARD,  # the outcomes are in the records
        label="ScanTargets",
    )
    targets.item_processor(child)
    report = _task(scope, "Report", scan, str(ScanAction.REPORT))
    return plan.next(targets).next(report)


__all__ = ["MAX_CONCURRENCY", "build_scan_definition"]
