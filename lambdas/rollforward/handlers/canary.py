"""Step Functions → canary tasks: a `TaskEnvelope` in, the new `$` (`CanaryTaskState`) out.

Every path that changed something and cannot go on ends in `rollback`, which restores what
rollforward set and leaves alone what a human set. `$.canary` carries the canary's state.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from rollforward import failures
from rollforward.audit.records import AuditEvent
from rollforward.canary.service import Canary
from rollforward.canary.state import IN_FLIGHT, CanaryNext, CanaryState, Stop
from rollforward.clock import utc_now
from rollforward.contract import (
    EXECUTION_HORIZON,
    CanaryAction,
    CanaryTaskState,
    CatchResults,
    TaskEnvelope,
    TrackingStatus,
    WorkflowState,
    beyond_horizon,
    reply,
)
from rollforward.handlers import wiring
from rollforward.ledger import Pin, Stage
from rollforward.transient import Transient

logger = Logger()
tracer = Tracer()


def _with(received: CanaryTaskState, canary: CanaryState) -> dict[str, Any]:
    """`$` as received (the tracking part, the decision, a caught failure) with the canary's
    new state."""
    return reply(received.model_copy(update={"canary": canary}))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    envelope = TaskEnvelope.parse(event)
    action = CanaryAction(envelope.action)
    received = CanaryTaskState.from_dict(envelope.state)
    settings = wiring.FunctionSettings.from_env()
    tracker = wiring.tracker(settings)
    workflow = WorkflowState.from_dict(envelope.state)
    state = received.canary or CanaryState()
    pin = tracker.load(workflow)
    if pin is not None and not pin.is_run_by(envelope.execution):
        _refuse_stale_execution(tracker, pin, envelope)
        pin = None  # as if closed: every action below then changes nothing
    # The canary acts in the pin's own account and region (a member's, through its role).
    canary = wiring.canary(settings, where=(pin.key.account, pin.key.region) if pin else None)
    if action is CanaryAction.ROLLBACK_FAILED:
        # Before the closed-pin check: RollbackBackoff reads `$.rollback_retry`, whatever.
        caught = CatchResults.model_validate(envelope.state).rollback_failure
        error = (
            failures.describe(caught.Error, caught.Cause).sentence if caught else "unknown error"
        )
        open_pin = pin if pin is not None and pin.is_open else None
        retry = canary.rollback_failed(open_pin, received.rollback_retry, error)
        if retry.stuck:
            _count_stuck()
        return reply(received.model_copy(update={"rollback_retry": retry}))
    if pin is None or not pin.is_open:
        return reply(
            workflow.model_copy(update={"status": TrackingStatus.CLOSED, "outcome": "superseded"})
        )
    if not state.strategy and pin.stage is Stage.CANARY:
        # A StartCanary attempt changed things and died before the workflow saw its output (a
        # retried or finally failed start): it recorded what it was changing in the ledger.
        state = CanaryState.from_dict(pin.evidence.get(IN_FLIGHT))
    try:
        if action is CanaryAction.START:
            decision = received.decision.model_dump(mode="json") if received.decision else {}
            try:
                state = canary.start(pin, decision)
            except Stop as stop:
                if state.candidate_version or stop.hand_back:
                    return _rolled_back(tracker, canary, pin, envelope, state, stop.reason)
                canary.stopped(pin, stop.reason)
                _count_outcome("stopped")
                fresh = tracker.load(workflow) or pin
                planned = beyond_horizon(
                    tracker.opt_out(fresh) or tracker.plan(fresh, utc_now()),
                    envelope.started(),
                    utc_now(),
                    EXECUTION_HORIZON,
                )
                stopped = CanaryState(next=CanaryNext.STOPPED, reason=stop.reason)
                return reply(CanaryTaskState(**planned.model_dump(), canary=stopped))
            return _with(received, state)
        if action is CanaryAction.JUDGE:
            return _with(received, canary.judge_step(pin, state))
        if action is CanaryAction.PROMOTE:
            return _with(received, canary.promote(pin, state))
        if action is CanaryAction.VERIFY:
            return _with(received, canary.verify(pin, state))
        if action is CanaryAction.RESOLVE:
            canary.resolve(pin, state)
            _count_outcome("promoted")
            resolved = workflow.model_copy(
                update={"status": TrackingStatus.CLOSED, "outcome": "resolved"}
            )
            return reply(CanaryTaskState(**resolved.model_dump(), canary=state))
        if action is CanaryAction.ROLLBACK:
            failure = received.failure
            # A sentence, never Lambda's error document with its stack trace (that stays in
            # the execution history).
            reason = (
                state.reason
                or failures.describe(
                    failure.Error if failure else "", failure.Cause if failure else ""
                ).sentence
            )
            return _rolled_back(tracker, canary, pin, envelope, state, reason)
        raise ValueError(f"unknown canary action {action!r}")
    except Stop as stop:
        state.next, state.reason = CanaryNext.ROLLBACK, stop.reason
        return _with(received, state)
    except Transient as error:
        raise wiring.transient_error(str(error)) from error


def _refuse_stale_execution(tracker: Any, pin: Pin, envelope: TaskEnvelope) -> None:
    """Audited, once per task: an execution the ledger no longer names for this episode (a
    redrive of one the scan replaced) asked the canary to act, with its stale state."""
    tracker.audit.record(
        AuditEvent.REFUSED,
        pin_id=pin.key.id,
        actor="rollforward (canary)",
        action=envelope.action,
        reason="this execution no longer runs the pin's episode: the ledger names another",
        execution_arn=envelope.execution,
        ledger_execution_arn=pin.execution_arn,
    )


def _rolled_back(
    tracker: Any,
    canary: Canary,
    pin: Any,
    envelope: TaskEnvelope,
    state: CanaryState,
    reason: str,
) -> dict[str, Any]:
    workflow = WorkflowState.from_dict(envelope.state)
    pin = canary.rollback(pin, state, reason)
    # A human may have lifted or re-pinned meanwhile: the live setting decides what is next.
    tracker.observe(pin.key, actor="rollforward (after rollback)", source="canary")
    fresh = tracker.load(workflow)
    planned = (
        beyond_horizon(
            tracker.opt_out(fresh) or tracker.plan(fresh, utc_now()),
            envelope.started(),
            utc_now(),
            EXECUTION_HORIZON,
        )
        if fresh
        else WorkflowState(workflow.pin_id, workflow.generation, TrackingStatus.CLOSED)
    )
    _count_outcome("rolled_back")
    state.next, state.reason = CanaryNext.ROLLED_BACK, reason
    return reply(CanaryTaskState(**planned.model_dump(), canary=state))


def _count_outcome(outcome: str) -> None:
    """EMF: CanaryOutcomes by outcome (promoted, rolled_back, stopped), for the dashboard.
    Its own record, so the `outcome` dimension never sticks to other metrics."""
    with single_metric(
        name="CanaryOutcomes", unit=MetricUnit.Count, value=1, namespace="rollforward"
    ) as metric:
        metric.add_dimension(name="outcome", value=outcome)


def _count_stuck() -> None:
    """EMF: RollbackStuck, one per failed Rollback past the policy's threshold; the
    RollbackStuck alarm (infra/constructs/observability.py) pages on it."""
    with single_metric(
        name="RollbackStuck", unit=MetricUnit.Count, value=1, namespace="rollforward"
    ):
        pass
