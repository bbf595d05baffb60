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
                           ├─► Closed (lifted, resolved, deleted, exempt)
                           └─► WaitForHandover ─► ContinueAsNew ─► NextStep ─► Continued
                               (the plan would outlast the execution: a successor goes on)

Timers are `Wait` states on absolute timestamps computed from first-seen (`$.next.due_at`), so
a redeploy or a retry never shifts the ladder. Each loop turn costs three state transitions.

The paths and values every state reads come from `rollforward.contract` (models and enums);
`tests/workflow/test_contract.py` checks them against the handlers' reply models.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from rollforward.contract import (
    ApprovalAction,
    CanaryAction,
    CanaryNext,
    CanaryTaskState,
    CatchResults,
    DecisionValue,
    TrackingAction,
    TrackingStatus,
    VerifiedState,
    WorkflowState,
    path,
)

# Where a Catch puts the error it caught (`contract.TaskFailure`).
FAILURE_PATH = path(CatchResults, "failure")

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

# Between two Rollback attempts when even RollbackFailed (which plans the growing waits) fails.
ROLLBACK_BACKOFF_FALLBACK = Duration.hours(1)


@dataclass(frozen=True)
class RemediationFunctions:
    """The Lambda functions whose handlers make the decisions."""

    tracking: lambda_.IFunction
    approval_request: lambda_.IFunction
    canary: lambda_.IFunction


def _envelope(action: str, **extra: str) -> sfn.TaskInput:
    """`contract.TaskEnvelope`: the action, the whole `$`, which execution, since when."""
    return sfn.TaskInput.from_object(
        {
            "action": action,
            "state.$": "$",
            "execution.$": "$$.Execution.Id",
            "started_at.$": "$$.Execution.StartTime",
            **extra,
        }
    )


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
    """A Lambda task: the `TaskEnvelope` in, the handler's reply (a contract model) is `$`."""
    task = tasks.LambdaInvoke(
        scope,
        state_id,
        lambda_function=function,
        payload=_envelope(action),
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
    record_failure = _task(
        scope, "RecordFailure", functions.tracking, TrackingAction.RECORD_FAILURE
    )
    failed = sfn.Fail(
        scope,
        "Failed",
        error="rollforward.Failed",
        cause="A step failed; the ledger and the owner have the details.",
    )
    record_failure.add_catch(failed, errors=["States.ALL"], result_path=FAILURE_PATH)
    record_failure.next(failed)

    def guarded(task: tasks.LambdaInvoke) -> tasks.LambdaInvoke:
        task.add_catch(record_failure, errors=["States.ALL"], result_path=FAILURE_PATH)
        return task

    def tracking(state_id: str, action: TrackingAction) -> tasks.LambdaInvoke:
        return guarded(_task(scope, state_id, functions.tracking, action))

    start = tracking("StartTracking", TrackingAction.START)
    send_notice = tracking("SendNotice", TrackingAction.NOTICE)
    record_approval = tracking("RecordApproval", TrackingAction.APPROVED)
    record_rejection = tracking("RecordRejection", TrackingAction.REJECTED)
    record_timeout = tracking("RecordApprovalTimeout", TrackingAction.APPROVAL_TIMED_OUT)

    request_approval = tasks.LambdaInvoke(
        scope,
        "RequestApproval",
        lambda_function=functions.approval_request,
        integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
        payload=_envelope(ApprovalAction.REQUEST, task_token=sfn.JsonPath.task_token),
        # The approval's own expiry, computed by the handler that planned this stage.
        task_timeout=sfn.Timeout.at(path(WorkflowState, "next", "approval_timeout_seconds")),
        # The callback's answer (`contract.CallbackAnswer`), only evidence for VerifyDecision.
        result_path=path(VerifiedState, "decision"),
        retry_on_service_exceptions=False,
    )
    request_approval.add_retry(
        errors=TRANSIENT_ERRORS,
        interval=Duration.seconds(2),
        backoff_rate=2.0,
        max_attempts=6,
        jitter_strategy=sfn.JitterType.FULL,
    )
    request_approval.add_catch(
        record_timeout, errors=["States.Timeout"], result_path=path(CatchResults, "timeout")
    )
    guarded(request_approval)

    closed = sfn.Succeed(scope, "Closed", comment="Lifted, resolved, deleted or exempt.")
    due_at = sfn.WaitTime.timestamp_path(path(WorkflowState, "next", "due_at"))
    wait_for_stage = sfn.Wait(scope, "WaitForStage", time=due_at)
    wait_for_approval_stage = sfn.Wait(scope, "WaitForApprovalStage", time=due_at)

    # Continue-as-new (rollforward.escalation.continuation): a plan that would outlast this execution's
    # horizon waits until the handover time, starts the successor and ends SUCCEEDED.
    wait_for_handover = sfn.Wait(
        scope,
        "WaitForHandover",
        time=sfn.WaitTime.timestamp_path(path(WorkflowState, "continue_at")),
    )
    continue_as_new = tracking("ContinueAsNew", TrackingAction.CONTINUE_AS_NEW)
    continued = sfn.Succeed(
        scope, "Continued", comment="A successor execution tracks the pin from here."
    )

    status = path(WorkflowState, "status")

    def status_is(value: TrackingStatus) -> sfn.Condition:
        return sfn.Condition.string_equals(status, value)

    next_step = (
        sfn.Choice(scope, "NextStep")
        .when(status_is(TrackingStatus.CLOSED), closed)
        .when(status_is(TrackingStatus.CONTINUE), wait_for_handover)
        .when(status_is(TrackingStatus.CONTINUED), continued)
        .when(
            sfn.Condition.boolean_equals(path(WorkflowState, "next", "requests_approval"), True),
            wait_for_approval_stage,
        )
        .otherwise(wait_for_stage)
    )

    # Whoever answers the task token only wakes the execution: the decision it acts on is the
    # approval record the decision API wrote and this step consumes (a forged answer, e.g. a
    # SendTaskSuccess by a principal that read the token, is audited and asked again).
    verify_decision = guarded(
        _task(scope, "VerifyDecision", functions.approval_request, ApprovalAction.VERIFY_DECISION)
    )

    roll_forward = _canary(scope, functions, next_step, record_failure)
    # Step Functions fails the execution (States.Runtime) when a Choice reads a path that is
    # absent, so an answer without `decision` is guarded: it counts as not approved.
    verified = path(VerifiedState, "decision", "decision")

    def decided(value: DecisionValue) -> sfn.Condition:
        return sfn.Condition.string_equals(verified, value)

    decision = (
        sfn.Choice(scope, "Decision")
        .when(sfn.Condition.is_not_present(verified), record_rejection)
        .when(decided(DecisionValue.APPROVED), record_approval)
        .when(decided(DecisionValue.REJECTED), record_rejection)
        .when(decided(DecisionValue.FORGED), request_approval)
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
    wait_for_handover.next(continue_as_new)
    continue_as_new.next(next_step)
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
                                   │        ▲   └─ failed ─► RollbackFailed ─► RollbackBackoff ─┐
                                   │        │      (counts, plans 1m, 2m, 4m .. 1h; on-call     │
                                   │        │       and RollbackStuck from the 5th failure)     │
                                   │        └───────────────────────────────────────────────────┘
                                   └─ stopped / rolled back / superseded ─► back to the ladder

    Every canary task's Catch leads to Rollback, which restores what rollforward changed.
    """
    # Restoring the function matters more than anything else. Each Rollback retries AWS's
    # throttling and faults for about a minute itself ...
    rollback = _task(
        scope,
        "Rollback",
        functions.canary,
        CanaryAction.ROLLBACK,
        timeout=Duration.minutes(5),
        retry_attempts=6,
        max_retry_delay=Duration.seconds(30),
    )
    # ... and never gives up: a storm that outlasts those retries is counted (RollbackFailed
    # plans a wait that doubles from the policy's `rollback_backoff` up to its cap, tells
    # on-call and publishes RollbackStuck past `rollback_alarm_after` failures), waited out,
    # and rolled back again, until the function is restored or a human has taken it over
    # (Rollback hands that back). If even RollbackFailed fails, the wait is the fixed fallback.
    # Rollback's own error goes to `$.rollback_failure`, so `$.failure` keeps why the canary
    # stopped. One turn at the cap is three states an hour (with retries, ~25 history events):
    # an execution holds ~40 days of it before its 25,000 events; then it fails (on-call is
    # paged) and the scan's repair goes on rolling back.
    rollback_failed = _task(
        scope,
        "RollbackFailed",
        functions.canary,
        CanaryAction.ROLLBACK_FAILED,
        retry_attempts=3,
    )
    rollback_backoff = sfn.Wait(
        scope,
        "RollbackBackoff",
        time=sfn.WaitTime.seconds_path(path(CanaryTaskState, "rollback_retry", "wait_seconds")),
    )
    rollback_backoff_fallback = sfn.Wait(
        scope, "RollbackBackoffFallback", time=sfn.WaitTime.duration(ROLLBACK_BACKOFF_FALLBACK)
    )
    rollback.add_catch(
        rollback_failed,
        errors=["States.ALL"],
        result_path=path(CatchResults, "rollback_failure"),
    )
    rollback_failed.add_catch(
        rollback_backoff_fallback,
        errors=["States.ALL"],
        result_path=path(CatchResults, "rollback_failure"),
    )
    rollback_failed.next(rollback_backoff)
    rollback_backoff.next(rollback)
    rollback_backoff_fallback.next(rollback)
    rollback.next(back_to_ladder)

    def canary_task(state_id: str, action: CanaryAction) -> tasks.LambdaInvoke:
        task = _task(scope, state_id, functions.canary, action, timeout=Duration.minutes(5))
        task.add_catch(rollback, errors=["States.ALL"], result_path=FAILURE_PATH)
        return task

    start = canary_task("StartCanary", CanaryAction.START)
    judge = canary_task("JudgeStep", CanaryAction.JUDGE)
    promote = canary_task("Promote", CanaryAction.PROMOTE)
    verify = canary_task("Verify", CanaryAction.VERIFY)
    resolve = _task(scope, "Resolve", functions.canary, CanaryAction.RESOLVE)
    resolve.add_catch(record_failure, errors=["States.ALL"], result_path=FAILURE_PATH)
    resolved = sfn.Succeed(scope, "Resolved", comment="Promoted to Auto and verified.")
    bake_until = sfn.WaitTime.timestamp_path(path(CanaryTaskState, "canary", "bake_until"))
    bake = sfn.Wait(scope, "Bake", time=bake_until)
    post_bake = sfn.Wait(scope, "PostPromotionBake", time=bake_until)

    canary_next_path = path(CanaryTaskState, "canary", "next")

    def next_is(value: CanaryNext) -> sfn.Condition:
        return sfn.Condition.string_equals(canary_next_path, value)

    # Outputs without `canary.next` (the pin was superseded meanwhile) go back to the ladder,
    # which closes them; reading the absent path would fail the execution (States.Runtime).
    canary_next = (
        sfn.Choice(scope, "CanaryNext")
        .when(sfn.Condition.is_not_present(canary_next_path), back_to_ladder)
        .when(next_is(CanaryNext.BAKE), bake)
        .when(next_is(CanaryNext.PROMOTE), promote)
        .when(next_is(CanaryNext.POST_BAKE), post_bake)
        .when(next_is(CanaryNext.RESOLVED), resolve)
        .when(
            sfn.Condition.or_(next_is(CanaryNext.ROLLBACK), next_is(CanaryNext.ASK_HUMAN)),
            rollback,
        )
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
