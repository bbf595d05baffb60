"""API Gateway (IAM auth) → decisions: approve / reject an approval, snooze / exempt a pin.

The caller is who API Gateway authenticated (`requestContext.identity.userArn`), never a field
of the body. Every refusal answers with a status and a reason, is audited, and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from rollforward.approvals import Refused
from rollforward.audit import AuditEvent
from rollforward.handlers import wiring

logger = Logger()
tracer = Tracer()


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body),
    }


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    caller = str(((event.get("requestContext") or {}).get("identity") or {}).get("userArn") or "")
    settings = wiring.Settings.from_env()
    approvals = wiring.approvals(settings)
    try:
        try:
            body = json.loads(event.get("body") or "{}")
        except ValueError:
            raise Refused(400, "the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise Refused(400, "the body must be a JSON object")
        action = str(body.get("action", ""))
        if action in {"approve", "reject"}:
            accept_untested = body.get("accept_untested", False)
            if not isinstance(accept_untested, bool):
                raise Refused(400, "accept_untested must be true or false")
            result = approvals.decide(
                str(body.get("approval_id", "")),
                action,
                str(body.get("reason", "")),
                caller,
                accept_untested=accept_untested,
            )
            return _response(200, result.to_dict())
        if action in {"snooze", "exempt"}:
            held = approvals.hold(
                action,
                str(body.get("pin_id", "")),
                str(body.get("until", "")),
                str(body.get("reason", "")),
                caller,
            )
            return _response(200, held)
        raise Refused(400, "action must be one of approve, reject, snooze, exempt")
    except Refused as refusal:
        if not refusal.audited:
            wiring.audit(settings).record(
                AuditEvent.REFUSED,
                actor=caller or "unknown",
                request="decision",
                reason=refusal.reason,
            )
        logger.warning(
            "refused", extra={"status": refusal.status, "reason": refusal.reason, "caller": caller}
        )
        return _response(refusal.status, {"refused": refusal.reason})
