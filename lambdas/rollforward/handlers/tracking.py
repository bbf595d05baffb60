"""Step Functions → tracking tasks: a `TaskEnvelope` in, the new `$` (`WorkflowState`) out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from rollforward.adapters.executions import StepFunctionsExecutions
from rollforward.clock import utc_now
from rollforward.contract import (
    EXECUTION_HORIZON,
    ApprovedState,
    TaskEnvelope,
    TaskFailure,
    TrackingAction,
    TrackingStatus,
    VerifiedDecision,
    WorkflowState,
    beyond_horizon,
    reply,
)
from rollforward.escalation import continuation
from rollforward.handlers import wiring
from rollforward.live import TransientAwsError

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    envelope = TaskEnvelope.parse(event)
    action = TrackingAction(envelope.action)
    state = WorkflowState.from_dict(envelope.state)
    settings = wiring.FunctionSettings.from_env()
    tracker = wiring.tracker(settings)
    try:
        if action is TrackingAction.START:
            result = tracker.start(state)
        elif action is TrackingAction.NOTICE:
            result = tracker.notice(state)
        elif action is TrackingAction.APPROVED:
            decision = VerifiedDecision.model_validate(envelope.state.get("decision"))
            approved = tracker.approved(state, decision.model_dump(mode="json"))
            # The canary reads the decision (e.g. accept_untested) from the state.
            return reply(ApprovedState(**approved.model_dump(), decision=decision))
        elif action is TrackingAction.REJECTED:
            result = tracker.rejected(state, _decision(envelope.state))
        elif action is TrackingAction.APPROVAL_TIMED_OUT:
            result = tracker.approval_timed_out(state)
        elif action is TrackingAction.CONTINUE_AS_NEW:
            pin = tracker.load(state)
            if pin is None or not pin.is_open:
                return reply(
                    WorkflowState(
                        state.pin_id, state.generation, TrackingStatus.CLOSED, outcome="superseded"
                    )
                )
            return reply(
                continuation.hand_over(
                    ledger=tracker.ledger,
                    executions=StepFunctionsExecutions(
                        tracker.sfn, continuation.state_machine_of(envelope.execution)
                    ),
                    audit=tracker.audit,
                    pin=pin,
                    execution_arn=envelope.execution,
                )
            )
        elif action is TrackingAction.RECORD_FAILURE:
            failure = TaskFailure.model_validate(envelope.state.get("failure") or {})
            result = tracker.record_failure(state, failure.model_dump())
        else:
            raise ValueError(f"unknown tracking action {action!r}")
    except TransientAwsError as error:
        raise wiring.transient_error(str(error)) from error
    # A plan that would outlast this execution continues in a successor (contract).
    return reply(beyond_horizon(result, envelope.started(), utc_now(), EXECUTION_HORIZON))


def _decision(state: dict[str, Any]) -> dict[str, Any]:
    """The verified decision in `$` (the `Decision` Choice sends an answer without one to
    `RecordRejection` too: it counts as not approved)."""
    raw = state.get("decision")
    if not isinstance(raw, dict) or "decision" not in raw:
        return {}
    return VerifiedDecision.model_validate(raw).model_dump(mode="json")
