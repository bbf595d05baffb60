"""API Gateway (IAM auth) → decisions: approve / reject an approval, snooze / exempt a pin.

The caller is who API Gateway authenticated (`requestContext.identity.userArn`), never a field
of the body. Every refusal answers with a status and a reason, is audited, and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from rollforward.approvals import Refused
from rollforward.audit.records import AuditEvent
from rollforward.handlers import wiring

logger = Logger()
tracer = Tracer()


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body),
    }


# API Gateway accepts up to 10 MB; a decision is a few hundred bytes.
MAX_BODY = 16_384


def _body(event: dict[str, Any]) -> dict[str, Any]:
    raw = event.get("body")
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str) or len(raw) > MAX_BODY:
        raise Refused(400, f"the body must be a JSON object of at most {MAX_BODY} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise Refused(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise Refused(400, "the body must be a JSON object")
    return body


def _caller(event: object) -> str:
    context = event.get("requestContext") if isinstance(event, dict) else None
    identity = context.get("identity") if isinstance(context, dict) else None
    arn = identity.get("userArn") if isinstance(identity, dict) else None
    return arn if isinstance(arn, str) else ""


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    caller = _caller(event)
    settings = wiring.FunctionSettings.from_env()
    approvals = wiring.approvals(settings)
    try:
        body = _body(event if isinstance(event, dict) else {})
        action = body.get("action")
        action = action if isinstance(action, str) else ""
        if action in {"approve", "reject"}:
            result = approvals.decide(
                body.get("approval_id", ""),
                action,
                body.get("reason"),
                caller,
                accept_untested=body.get("accept_untested", False),
            )
            return _response(200, result.to_dict())
        if action in {"snooze", "exempt"}:
            held = approvals.hold(
                action, body.get("pin_id"), body.get("until"), body.get("reason"), caller
            )
            return _response(200, held)
        raise Refused(400, "action must be one of approve, reject, snooze, exempt")
    except Refused as refusal:
        if not refusal.audited:
            wiring.audit(settings).record(
                AuditEvent.REFUSED,
                actor=caller or "unknown",
                request="decision",
                status=refusal.status,
                reason=refusal.reason,
            )
        logger.warning(
            "refused", extra={"status": refusal.status, "reason": refusal.reason, "caller": caller}
        )
        return _response(refusal.status, {"refused": refusal.reason})
