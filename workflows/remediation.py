"""The remediation state machine: one execution per pin, from detection to resolution.

It only describes states. Every decision is made in a Lambda task (domain code); the machine
holds timers, the approval callback, retries and catches:

    StartTracking ─► NextStep? ─► WaitForStage ─► SendNotice ─┐
                        ▲  │                                   │
                        │  ├─► WaitForApprovalStage ─► RequestApproval (waitForTaskToken)
                        │  │     ─► VerifyDecision (the approval record, not the callback)
                        │  │        ├─ forged ─► RequestApproval again (same approval)
                        │  │        ├─ approved ─► RecordApproval ─► roll forward
                        │  │        ├─ rejected ─► RecordRejection (snooze) ─┐
                        │  │        └─ States.Timeout ─► RecordApprovalTimeout┤
                        └──┴──────────────────────────────────────────────────┘
                           └─► Closed (lifted, resolved, deleted, exempt)

Timers are `Wait` states on absolute timestamps computed from first-seen (`$.next.due_at`), so
a redeploy or a retry never shifts the ladder. Each loop turn costs three state transitions.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

# Errors a Lambda task may meet that are worth retrying: the Lambda service throttling or
# failing, and rollforward's own signal that AWS throttled one of its calls.
TRANSIENT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
    "rollforward.Transient",
]

# Between two Rollback attempts that each exhausted their own retries (capped, not growing:
# the loop must stay well inside an execution's one-year limit).
ROLLBACK_BACKOFF = Duration.minutes(30)


@dataclass(frozen=True)
class RemediationFunctions:
    """The Lambda functions whose handlers make the decisions."""

    tracking: lambda_.IFunction
    approval_request: lambda_.IFunction
    canary: lambda_.IFunction


def _task(
    scope: Construct,
    state_id: str,
    function: lambda_.IFunction,
    action: str,
    *,
    timeout: Duration | None = None,
    retry_attempts: int = 6,
    max_retry_delay: Duration | None = None,
) -> tasks.LambdaInvoke:
    """A tracking-handler call: `{action, state: $}` in, the new `$` out."""
    task = tasks.LambdaInvoke(
        scope,
        state_id,
        lambda_function=function,
        payload=sfn.TaskInput.from_object(
            {"action": action, "state.$": "$", "execution.$": "$$.Execution.Id"}
        ),
        output_path="$.Payload",
        retry_on_service_exceptions=False,
        task_timeout=sfn.Timeout.duration(timeout or Duration.minutes(2)),
    )
    task.add_retry(
        errors=TRANSIENT_ERRORS,
        interval=Duration.seconds(2),
        backoff_rate=2.0,
        max_attempts=retry_attempts,
        max_delay=max_retry_delay or Duration.minutes(1),
        jitter_strategy=sfn.JitterType.FULL,
    )
    return task


def build_remediation_definition(
    scope: Construct, functions: RemediationFunctions
) -> sfn.IChainable:
    """The whole definition: the ladder, the approval, and the canary after it."""
    record_failure = _task(scope, "RecordFailure", functions.tracking, "record_failure")
    failed = sfn.Fail(
        scope,
        "Failed",
        error="rollforward.Failed",
        cause="A step failed; the ledger and the owner have the details.",
    )
    record_failure.add_catch(failed, errors=["States.ALL"], result_path="$.failure")
    record_failure.next(failed)

    def guarded(task: tasks.LambdaInvoke) -> tasks.LambdaInvoke:
        task.add_catch(record_failure, errors=["States.ALL"], result_path="$.failure")
        return task

    start = guarded(_task(scope, "StartTracking", functions.tracking, "start"))
    send_notice = guarded(_task(scope, "SendNotice", functions.tracking, "notice"))
    record_approval = guarded(_task(scope, "RecordApproval", functions.tracking, "approved"))
    record_rejection = guarded(_task(scope, "RecordRejection", functions.tracking, "rejected"))
    record_timeout = guarded(
        _task(scope, "RecordApprovalTimeout", functions.tracking, "approval_timed_out")
    )

    request_approval = tasks.LambdaInvoke(
        scope,
        "RequestApproval",
        lambda_function=functions.approval_request,
        integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
        payload=sfn.TaskInput.from_object(
            {
                "state.$": "$",
                "task_token": sfn.JsonPath.task_token,
                "execution.$": "$$.Execution.Id",
            }
        ),
        # The approval's own expiry, computed by the handler that planned this stage.
        task_timeout=sfn.Timeout.at("$.next.approval_timeout_seconds"),
        result_path="$.decision",
        retry_on_service_exceptions=False,
    )
    request_approval.add_retry(
        errors=TRANSIENT_ERRORS,
        interval=Duration.seconds(2),
        backoff_rate=2.0,
        max_attempts=6,
        jitter_strategy=sfn.JitterType.FULL,
    )
    request_approval.add_catch(record_timeout, errors=["States.Timeout"], result_path="$.timeout")
    guarded(request_approval)

    closed = sfn.Succeed(scope, "Closed", comment="Lifted, resolved, deleted or exempt.")
    wait_for_stage = sfn.Wait(
        scope, "WaitForStage", time=sfn.WaitTime.timestamp_path("$.next.due_at")
    )
    wait_for_approval_stage = sfn.Wait(
        scope, "WaitForApprovalStage", time=sfn.WaitTime.timestamp_path("$.next.due_at")
    )

    next_step = (
        sfn.Choice(scope, "NextStep")
        .when(sfn.Condition.string_equals("$.status", "closed"), closed)
        .when(
            sfn.Condition.boolean_equals("$.next.requests_approval", True), wait_for_approval_stage
        )
        .otherwise(wait_for_stage)
    )

    # Whoever answers the task token only wakes the execution: the decision it acts on is the
    # approval record the decision API wrote and this step consumes (a forged answer, e.g. a
    # SendTaskSuccess by a principal that read the token, is audited and asked again).
    verify_decision = guarded(
        _task(scope, "VerifyDecision", functions.approval_request, "verify_decision")
    )

    roll_forward = _canary(scope, functions, next_step, record_failure)
    # Step Functions fails the execution (States.Runtime) when a Choice reads a path that is
    # absent, so an answer without `decision` is guarded: it counts as not approved.
    decision = (
        sfn.Choice(scope, "Decision")
        .when(sfn.Condition.is_not_present("$.decision.decision"), record_rejection)
        .when(sfn.Condition.string_equals("$.decision.decision", "approved"), record_approval)
        .when(sfn.Condition.string_equals("$.decision.decision", "rejected"), record_rejection)
        .when(sfn.Condition.string_equals("$.decision.decision", "forged"), request_approval)
        .otherwise(closed)
    )

    start.next(next_step)
    wait_for_stage.next(send_notice)
    send_notice.next(next_step)
    wait_for_approval_stage.next(request_approval)
    request_approval.next(verify_decision)
    verify_decision.next(decision)
    record_approval.next(roll_forward)
    record_rejection.next(next_step)
    record_timeout.next(next_step)
    return start


def _canary(
    scope: Construct,
    functions: RemediationFunctions,
    back_to_ladder: sfn.IChainable,
    record_failure: sfn.IChainable,
) -> sfn.IChainable:
    """Preflight + candidate + first step, then bake/judge per step, promote, verify.

        StartCanary ─► CanaryNext ─┬─ bake ──► Bake (Wait) ─► JudgeStep ─► CanaryNext
                                   ├─ promote ─► Promote ─► CanaryNext
                                   ├─ post_bake ─► PostPromotionBake (Wait) ─► Verify ─► CanaryNext
                                   ├─ resolved ─► Resolve ─► Resolved
                                   ├─ rollback / ask_human ─► Rollback ─► back to the ladder
                                   │        ▲   └─ failed ─► RollbackBackoff (Wait 30m) ─┐
                                   │        └────────────────────────────────────────────┘
                                   └─ stopped / rolled back / superseded ─► back to the ladder

    Every canary task's Catch leads to Rollback, which restores what rollforward changed.
    """
    # Restoring the function matters more than anything else: keep retrying throttling and
    # AWS faults for about two hours (20 attempts, up to 10 minutes apart) before giving up.
    rollback = _task(
        scope,
        "Rollback",
        functions.canary,
        "rollback",
        timeout=Duration.minutes(5),
        retry_attempts=20,
        max_retry_delay=Duration.minutes(10),
    )
    # ... and never give up: a storm that outlasts those retries waits and rolls back again,
    # until the function is restored or a human has taken it over (Rollback hands that back).
    # Its own error goes to `$.rollback_failure`, so `$.failure` keeps why the canary stopped.
    # One loop turn is three transitions at most every ~40 minutes: far from the one-year cap.
    rollback_backoff = sfn.Wait(
        scope, "RollbackBackoff", time=sfn.WaitTime.duration(ROLLBACK_BACKOFF)
    )
    rollback.add_catch(rollback_backoff, errors=["States.ALL"], result_path="$.rollback_failure")
    rollback_backoff.next(rollback)
    rollback.next(back_to_ladder)

    def canary_task(state_id: str, action: str) -> tasks.LambdaInvoke:
        task = _task(scope, state_id, functions.canary, action, timeout=Duration.minutes(5))
        task.add_catch(rollback, errors=["States.ALL"], result_path="$.failure")
        return task

    start = canary_task("StartCanary", "start")
    judge = canary_task("JudgeStep", "judge")
    promote = canary_task("Promote", "promote")
    verify = canary_task("Verify", "verify")
    resolve = _task(scope, "Resolve", functions.canary, "resolve")
    resolve.add_catch(record_failure, errors=["States.ALL"], result_path="$.failure")
    resolved = sfn.Succeed(scope, "Resolved", comment="Promoted to Auto and verified.")
    bake = sfn.Wait(scope, "Bake", time=sfn.WaitTime.timestamp_path("$.canary.bake_until"))
    post_bake = sfn.Wait(
        scope, "PostPromotionBake", time=sfn.WaitTime.timestamp_path("$.canary.bake_until")
    )

    def next_is(value: str) -> sfn.Condition:
        return sfn.Condition.string_equals("$.canary.next", value)

    # Outputs without `canary.next` (the pin was superseded meanwhile) go back to the ladder,
    # which closes them; reading the absent path would fail the execution (States.Runtime).
    canary_next = (
        sfn.Choice(scope, "CanaryNext")
        .when(sfn.Condition.is_not_present("$.canary.next"), back_to_ladder)
        .when(next_is("bake"), bake)
        .when(next_is("promote"), promote)
        .when(next_is("post_bake"), post_bake)
        .when(next_is("resolved"), resolve)
        .when(sfn.Condition.or_(next_is("rollback"), next_is("ask_human")), rollback)
        .otherwise(back_to_ladder)
    )
    start.next(canary_next)
    bake.next(judge)
    judge.next(canary_next)
    promote.next(canary_next)
    post_bake.next(verify)
    verify.next(canary_next)
    resolve.next(resolved)
    return start
