"""EventBridge Scheduler (hourly) → the reconciling scan.

Builds a `Scanner` from the environment, runs it within the function's remaining time, emits
the counts as EMF metrics and returns the report summary. The event may carry
`{"dry_run": true}` (report only) and `{"marker": "..."}` (continue a scan that ran out of time
from its `resume_marker`). Throttling or AWS failures that outlive the retries are raised as
`rollforward.Transient`: the next schedule tries again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from rollforward.clock import utc_now
from rollforward.fleet import FleetGauges
from rollforward.handlers import wiring
from rollforward.ledger import Stage
from rollforward.live import TransientAwsError
from rollforward.ratelimit import TokenBucket
from rollforward.scan import Scanner

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# Time kept back from the Lambda timeout to finish the current function, write the audit
# record and return, when the fleet is too large for one invocation.
SAFETY_MARGIN_SECONDS = 30.0


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    request = event if isinstance(event, dict) else {}
    settings = wiring.Settings.from_env()
    tracker = wiring.tracker(settings)
    scanner = Scanner(
        lambda_client=wiring.client("lambda"),
        tracker=tracker,
        ledger=tracker.ledger,
        sfn_client=wiring.client("stepfunctions"),
        limiter=TokenBucket(settings.scan_rate_per_second),
        state_machine_arn=settings.state_machine_arn,
    )
    remaining = context.get_remaining_time_in_millis() / 1000 if context else None
    try:
        report = scanner.scan(
            dry_run=bool(request.get("dry_run", False)),
            start_marker=request.get("marker") or None,
            time_budget_seconds=max(1.0, remaining - SAFETY_MARGIN_SECONDS) if remaining else None,
        )
    except TransientAwsError as error:
        raise wiring.transient_error(str(error)) from error
    summary = report.summary()
    if not report.dry_run:
        counts = summary["counts"]
        metrics.add_metric(name="PinsOpened", unit=MetricUnit.Count, value=counts["opened"])
        metrics.add_metric(name="PinsClosed", unit=MetricUnit.Count, value=counts["closed"])
        metrics.add_metric(
            name="TrackingRestarted", unit=MetricUnit.Count, value=counts["restarted"]
        )
    metrics.add_metric(name="FunctionsScanned", unit=MetricUnit.Count, value=report.functions_seen)
    metrics.add_metric(
        name="ControlPlaneCalls", unit=MetricUnit.Count, value=report.control_plane_calls
    )
    metrics.add_metric(name="ControlPlaneThrottles", unit=MetricUnit.Count, value=report.throttled)
    if not report.dry_run:
        # Fleet gauges for the dashboard, once an hour with the scan: the ledger is the truth.
        pins = tracker.ledger.list_pins(open_only=True)
        awaiting = sum(1 for pin in pins if pin.stage is Stage.AWAITING_APPROVAL)
        FleetGauges.of(pins, pending_approvals=awaiting, now=utc_now()).publish(metrics)
    logger.info("scan finished", extra={"scan": summary})
    return summary
