"""EventBridge Scheduler (hourly) → the reconciling scan.

Wires a `Scanner` on the AWS adapters from the environment, paces its Lambda clients within
`SCAN_RATE_PER_SECOND`, runs it within the function's remaining time, emits the counts as EMF
metrics and returns the report summary. The event may carry `{"dry_run": true}` (report only)
and `{"marker": "..."}` (continue a scan that ran out of time from its `resume_marker`), and
`{"full": true|false}` (a full pass or a screening cycle; otherwise every `SCAN_FULL_EVERY`-th
hourly cycle is full, see `rollforward.scan.screening.is_full_cycle`).
Throttling or AWS failures that outlive the retries are raised as `rollforward.Transient`: the
next schedule tries again.
"""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from rollforward.adapters.scanning import CANARY_FUNCTION_VARIABLE, wire
from rollforward.clock import utc_now
from rollforward.fleet import FleetGauges
from rollforward.handlers import wiring
from rollforward.ledger import Stage
from rollforward.live import TransientAwsError
from rollforward.scan.screening import is_full_cycle

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
    settings = wiring.FunctionSettings.from_env()
    tracker = wiring.tracker(settings)
    wired = wire(
        settings,
        wiring.fleet_read_budget(settings),
        lambda_client=wiring.client("lambda"),
        sfn_client=wiring.client("stepfunctions"),
        tracker=tracker,
        canary_function=os.environ.get(CANARY_FUNCTION_VARIABLE),
    )
    remaining = context.get_remaining_time_in_millis() / 1000 if context else None
    try:
        with wired.paced() as scanner:
            report = scanner.scan(
                dry_run=bool(request.get("dry_run", False)),
                start_marker=request.get("marker") or None,
                time_budget_seconds=(
                    max(1.0, remaining - SAFETY_MARGIN_SECONDS) if remaining else None
                ),
                full=is_full_cycle(request, os.environ, time.time()),
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
        metrics.add_metric(name="CanariesRestored", unit=MetricUnit.Count, value=counts["restored"])
    metrics.add_metric(name="FunctionsScanned", unit=MetricUnit.Count, value=report.functions_seen)
    metrics.add_metric(
        name="ControlPlaneCalls", unit=MetricUnit.Count, value=report.control_plane_calls
    )
    metrics.add_metric(name="ControlPlaneThrottles", unit=MetricUnit.Count, value=report.throttled)
    if not report.dry_run:
        # Fleet gauges for the dashboard, once an hour with the scan: the ledger is the truth.
        pins = tracker.ledger.list_pins(open_only=True)
        awaiting = sum(1 for pin in pins if pin.stage is Stage.AWAITING_APPROVAL)
        publish_gauges(FleetGauges.of(pins, pending_approvals=awaiting, now=utc_now()))
    logger.info("scan finished", extra={"scan": summary})
    return summary


def publish_gauges(gauges: FleetGauges) -> None:
    """Emit as EMF: one gauge per metric, stages as a `stage` dimension (one single-metric
    record each, since dimensions are per record)."""
    metrics.add_metric(name="PinsOpen", unit=MetricUnit.Count, value=gauges.pins_open)
    metrics.add_metric(
        name="OldestPinAgeDays", unit=MetricUnit.Count, value=gauges.oldest_pin_age_days
    )
    metrics.add_metric(
        name="PendingApprovals", unit=MetricUnit.Count, value=gauges.pending_approvals
    )
    for stage, count in sorted(gauges.by_stage.items()):
        with single_metric(
            name="PinsByStage", unit=MetricUnit.Count, value=count, namespace="rollforward"
        ) as metric:
            metric.add_dimension(name="stage", value=stage)
