"""Step Functions → tracking tasks: `{action, state, execution}` in, the new `$` out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from rollforward.handlers import wiring
from rollforward.live import TransientAwsError
from rollforward.tracking import WorkflowState

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = wiring.FunctionSettings.from_env()
    tracker = wiring.tracker(settings)
    raw_state = event.get("state") or {}
    state = WorkflowState.from_dict(raw_state)
    action = event.get("action")
    try:
        if action == "start":
            result = tracker.start(state)
        elif action == "notice":
            result = tracker.notice(state)
        elif action == "approved":
            approved = tracker.approved(state, raw_state.get("decision") or {})
            # The canary reads the decision (e.g. accept_untested) from the state.
            return {**approved.to_dict(), "decision": raw_state.get("decision") or {}}
        elif action == "rejected":
            result = tracker.rejected(state, raw_state.get("decision") or {})
        elif action == "approval_timed_out":
            result = tracker.approval_timed_out(state)
        elif action == "record_failure":
            result = tracker.record_failure(state, raw_state.get("failure") or {})
        else:
            raise ValueError(f"unknown tracking action {action!r}")
    except TransientAwsError as error:
        raise wiring.transient_error(str(error)) from error
    return result.to_dict()
