"""Step Functions → approvals: ask (.waitForTaskToken), then verify the answer.

`RequestApproval` (`action: request`): store an approval and page on-call; the execution waits until
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
from botocore.exceptions import ClientError

from rollforward.adapters.posture import template_pin_of
from rollforward.canary.looking import PLANNED, plan_before_approval, plan_unavailable
from rollforward.clock import utc_now
from rollforward.contract import (
    ApprovalAction,
    DecisionValue,
    TaskEnvelope,
    VerifiedDecision,
    VerifiedState,
    WorkflowState,
    reply,
)
from rollforward.handlers import wiring
from rollforward.live import TransientAwsError
from rollforward.policy import StagePlan

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=False)  # the event carries the task token: never log it
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Executions started before the contract named this action send none.
    envelope = TaskEnvelope.parse(
        {"action": ApprovalAction.REQUEST, **event} if isinstance(event, dict) else event
    )
    if ApprovalAction(envelope.action) is ApprovalAction.VERIFY_DECISION:
        return _verify(envelope)
    settings = wiring.FunctionSettings.from_env()
    tracker = wiring.tracker(settings)
    if not envelope.task_token:
        raise ValueError("RequestApproval needs the task token")
    token = envelope.task_token
    state = WorkflowState.from_dict(envelope.state)
    sfn = wiring.client("stepfunctions")
    try:
        pin = tracker.load(state)
        if pin is not None and pin.is_open:
            observation = tracker.observe(
                pin.key, actor="rollforward (live check)", source="approval"
            )
            pin = tracker.load(state) if observation.action != "closed" else None
        if pin is None or not pin.is_open:
            sfn.send_task_success(
                taskToken=token, output=json.dumps({"decision": str(DecisionValue.CLOSED)})
            )
            return {"status": "closed"}
        if state.next is None:
            raise ValueError("RequestApproval needs the planned stage ($.next)")
        plan = StagePlan.from_dict(settings.policy.for_kind(pin.kind), state.next.model_dump())
        pin = _note_template_pin(tracker.ledger, pin)
        pin = _note_canary_plan(tracker.ledger, pin, settings)
        summary = wiring.approvals(settings).request(pin, plan, token, envelope.execution)
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
    # Read where the function lives (a member account: through the hub's session there).
    acting = wiring.sessions(wiring.FunctionSettings.from_env())
    where = (pin.key.account, pin.key.region)
    found = template_pin_of(
        acting.client("lambda", *where),
        acting.client("cloudformation", *where),
        pin.key.function_arn,
    )
    if found is None:
        return pin
    noted = {"stack": found.stack_name, "property": found.property_path, "sentence": found.sentence}
    if pin.evidence.get("template_pin") == noted:
        return pin
    return ledger.update(pin, utc_now(), evidence={**pin.evidence, "template_pin": noted})


def _note_canary_plan(ledger: Any, pin: Any, settings: wiring.FunctionSettings) -> Any:
    """The canary's plan from the function's own traffic, said in the approval request before
    anyone approves: its expected duration, or that an unattended canary cannot decide in time
    and what the options are (`canary.looking.plan_before_approval`)."""
    # Read where the function lives (a member account's, through its role), as the canary will.
    acting = wiring.sessions(settings)
    where = (pin.key.account, pin.key.region)
    try:
        planned = plan_before_approval(
            acting.lambda_control(*where), acting.signals(*where), settings.policy, pin
        )
    except ClientError as error:  # refused, not throttled (the adapters raise that as Transient)
        # On-call is asked all the same; the request says the plan is unknown and why.
        code = error.response.get("Error", {}).get("Code", "error")
        logger.warning("canary plan not computed", extra={"error": str(error)})
        planned = plan_unavailable(settings.policy, f"{code} on {error.operation_name}")
    return ledger.update(pin, utc_now(), evidence={**pin.evidence, PLANNED: planned})


def _verify(envelope: TaskEnvelope) -> dict[str, Any]:
    """`$` with the callback's answer in; `$` with `decision` taken from the record out."""
    settings = wiring.FunctionSettings.from_env()
    state = WorkflowState.from_dict(envelope.state)
    verified = wiring.approvals(settings).verify(
        state.pin_id,
        state.generation,
        state.next.round if state.next else 0,
        envelope.state.get("decision"),  # only evidence: whoever answered the token wrote it
        envelope.execution,
    )
    timeout = verified.pop("approval_timeout_seconds", None)
    following = state.next
    if timeout is not None and following is not None:
        # Asked again: wait no longer than the approval's own expiry.
        following = following.model_copy(update={"approval_timeout_seconds": int(timeout)})
    result = VerifiedState(
        pin_id=state.pin_id,
        generation=state.generation,
        status=state.status,
        next=following,
        outcome=state.outcome,
        decision=VerifiedDecision.model_validate(verified),
    )
    logger.info("decision verified", extra={"decision": verified["decision"]})
    return reply(result)
