"""EventBridge → detect: a CloudTrail-recorded PutRuntimeManagementConfig.

Parses the event, then trusts only the live setting (a fresh GetRuntimeManagementConfig):
Manual opens (or keeps) the pin and starts its one tracking execution; Auto/FunctionUpdate
closes an open pin as lifted by the caller. A malformed event is audited as rejected and starts
nothing — it is not raised, since EventBridge retrying it would not make it valid.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from rollforward.audit.records import AuditEvent
from rollforward.detection.events import MalformedEvent, parse_runtime_config_event
from rollforward.handlers import wiring
from rollforward.ports import AuditSink, Refused

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def _home(context: Any) -> tuple[str, str] | None:
    """(account, region) this function runs in, from its own ARN."""
    parts = str(getattr(context, "invoked_function_arn", "") or "").split(":")
    return (parts[4], parts[3]) if len(parts) >= 7 and parts[2] == "lambda" else None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = wiring.FunctionSettings.from_env()
    audit = wiring.audit(settings)
    # A hub (a member role to assume) takes events from its members' accounts and regions,
    # forwarded to its bus; a single-account install only its own.
    home = None if settings.member_role_name else _home(context)
    try:
        change = parse_runtime_config_event(event, home=home)
    except MalformedEvent as error:
        return _rejected(audit, event, str(error))
    tracker = wiring.tracker(settings)
    try:
        observation = tracker.observe(
            change.key,
            actor=change.actor_arn,
            seen_at=change.event_time,
            source=f"cloudtrail:{change.event_id[:200]}",
            source_identity=change.source_identity,
            user_identity=change.actor,
        )
    except Refused as error:  # an account without the member stack: nothing to act with
        return _rejected(audit, event, str(error), account=change.account, region=change.region)
    if observation.action == "opened":
        metrics.add_metric(name="PinsOpened", unit=MetricUnit.Count, value=1)
    logger.info("observed", extra={"observation": observation.__dict__})
    return observation.__dict__


def _rejected(audit: AuditSink, event: Any, reason: str, **where: Any) -> dict[str, Any]:
    """Audit a refused event (it is not raised: EventBridge retrying would not make it valid)."""
    event_id = event.get("id") if isinstance(event, dict) else None
    audit.record(
        AuditEvent.REJECTED_EVENT,
        reason=reason[:1000],
        event_id=event_id[:80] if isinstance(event_id, str) else "",
        **where,
    )
    metrics.add_metric(name="RejectedEvents", unit=MetricUnit.Count, value=1)
    logger.warning("rejected event", extra={"reason": reason})
    return {"rejected": reason}
