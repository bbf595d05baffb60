"""Step Functions → approvals: ask (.waitForTaskToken), then verify the answer.

`RequestApproval` (no `action`): store an approval and page on-call; the execution waits until
the decision API sends the token back, or the task times out. If the pin ended meanwhile, the
token is answered at once with `closed`.

`VerifyDecision` (`action: verify_decision`), right after the callback: whoever answered the
token only woke the workflow. The decision is re-read from the approval record the decision
API wrote (`Approvals.verify`); a forged answer is audited and the approval is awaited again.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from rollforward.adapters.posture import template_pin_of
from rollforward.clock import utc_now
from rollforward.handlers import wiring
from rollforward.live import TransientAwsError
from rollforward.policy import StagePlan
from rollforward.tracking import WorkflowState

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=False)  # the event carries the task token: never log it
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("action") == "verify_decision":
        return _verify(event)
    settings = wiring.FunctionSettings.from_env()
    tracker = wiring.tracker(settings)
    token = str(event["task_token"])
    state = WorkflowState.from_dict(event.get("state") or {})
    sfn = wiring.client("stepfunctions")
    try:
        pin = tracker.load(state)
        if pin is not None and pin.is_open:
            observation = tracker.observe(
                pin.key, actor="rollforward (live check)", source="approval"
            )
            pin = tracker.load(state) if observation.action != "closed" else None
        if pin is None or not pin.is_open:
            sfn.send_task_success(taskToken=token, output=json.dumps({"decision": "closed"}))
            return {"status": "closed"}
        plan = StagePlan.from_dict(settings.policy, state.next)
        pin = _note_template_pin(tracker.ledger, pin)
        summary = wiring.approvals(settings).request(
            pin, plan, token, str(event.get("execution", ""))
        )
        pin = tracker.load(state) or pin
        tracker.send_stage_notice(pin, plan, approval_id=summary["approval_id"])
    except TransientAwsError as error:
        raise wiring.transient_error(str(error)) from error
    logger.info(
        "approval requested", extra={"approval_id": summary["approval_id"], "pin_id": state.pin_id}
    )
    return {"status": "requested", "approval_id": summary["approval_id"]}


def _note_template_pin(ledger: Any, pin: Any) -> Any:
    """A CloudFormation template that pins the function is said in the approval request,
    before anything changes: its stack's next deploy would undo the roll-forward."""
    found = template_pin_of(
        wiring.client("lambda"), wiring.client("cloudformation"), pin.key.function_arn
    )
    if found is None:
        return pin
    noted = {"stack": found.stack_name, "property": found.property_path, "sentence": found.sentence}
    if pin.evidence.get("template_pin") == noted:
        return pin
    return ledger.update(pin, utc_now(), evidence={**pin.evidence, "template_pin": noted})


def _verify(event: dict[str, Any]) -> dict[str, Any]:
    """`{action, state: $, execution}` in; `$` with `decision` taken from the record out."""
    settings = wiring.FunctionSettings.from_env()
    raw_state = event.get("state") or {}
    state = WorkflowState.from_dict(raw_state)
    verified = wiring.approvals(settings).verify(
        state.pin_id,
        state.generation,
        int(state.next.get("round", 0)),
        raw_state.get("decision"),
        str(event.get("execution", "")),
    )
    result = state.to_dict()
    timeout = verified.pop("approval_timeout_seconds", None)
    if timeout is not None:  # asked again: wait no longer than the approval's own expiry
        result["next"] = {**state.next, "approval_timeout_seconds": timeout}
    logger.info("decision verified", extra={"decision": verified["decision"]})
    return {**result, "decision": verified}
