"""EventBridge Scheduler (hourly) → the reconciling scan.

Wires a `Scanner` on the AWS adapters from the environment, paces its Lambda clients within
`SCAN_RATE_PER_SECOND`, runs it within the function's remaining time, emits the counts as EMF
metrics and returns the report summary. The event may carry `{"dry_run": true}` (report only)
and `{"marker": "..."}` (continue a scan that ran out of time from its `resume_marker`), and
`{"full": true|false}` (a full pass or a screening cycle; otherwise every `SCAN_FULL_EVERY`-th
hourly cycle is full, see `rollforward.scan.screening.is_full_cycle`). An event with an
`action` is a task of the scan's machine (`rollforward.scan.cycle`): `plan`, `target` (one
(account, region), in that account through a member session), `report` (the cycle's coverage).
Throttling or AWS failures that outlive the retries are raised as `rollforward.Transient`: the
next schedule tries again.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from rollforward.adapters.executions import StepFunctionsExecutions
from rollforward.adapters.scanning import CANARY_FUNCTION_VARIABLE, wire
from rollforward.audit.records import AuditEvent
from rollforward.clock import iso, utc_now
from rollforward.contract import TaskEnvelope, reply
from rollforward.fleet import FleetGauges
from rollforward.handlers import wiring
from rollforward.ledger import Stage
from rollforward.live import TransientAwsError
from rollforward.scan.cycle import (
    CycleReport,
    ScanAction,
    ScanCycle,
    ScanPlan,
    ScanResults,
    ScheduleInput,
    TargetOutcome,
    TargetProgress,
    TargetRecorded,
    TargetRecords,
    cycle_outcomes,
    earlier_cycle,
    hub_targets,
    machine_of,
    parse_targets,
)
from rollforward.scan.reconcile import ACTOR
from rollforward.scan.screening import CYCLE_SECONDS, is_full_cycle

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# Time kept back from the Lambda timeout to finish the current function, write the audit
# record and return, when the fleet is too large for one invocation.
SAFETY_MARGIN_SECONDS = 30.0
# The (account, region) targets of a scan cycle: "111111111111/eu-west-1,..." (default: own).
TARGETS_VARIABLE = "SCAN_TARGETS"
# A hub's member StackSet targets (infra/constructs/members.py): OU or root ids, regions.
MEMBER_OUS_VARIABLE, MEMBER_REGIONS_VARIABLE = "MEMBER_OUS", "MEMBER_REGIONS"


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    request = event if isinstance(event, dict) else {}
    if "action" in request:  # a task of the scan's machine (workflows/scan.py)
        return cycle_task(request, context)
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


# ---------------------------------------------------------------------- the scan's machine
def cycle_task(request: dict[str, Any], context: Any) -> dict[str, Any]:
    """One task of the scan's machine (`rollforward.scan.cycle`): plan the cycle, scan one
    (account, region) from where it stands, or report the cycle."""
    envelope = TaskEnvelope.parse(request)
    if envelope.action == ScanAction.PLAN:
        return reply(plan(envelope, context))
    if envelope.action == ScanAction.TARGET:
        progress = TargetProgress.model_validate(envelope.state)
        after = scan_target(progress, context)
        if after.cycle_execution:  # (a child of the machine; not a direct invocation)
            records = wiring.target_records(wiring.FunctionSettings.from_env())
            _recorded(records, TargetOutcome.model_validate(after.model_dump()))
        return reply(after)
    if envelope.action == ScanAction.TARGET_FAILED:
        outcome = TargetOutcome.model_validate(envelope.state)
        logger.error("scan target failed", extra={"scan_target": outcome.model_dump(mode="json")})
        _recorded(wiring.target_records(wiring.FunctionSettings.from_env()), outcome)
        return reply(TargetRecorded())
    if envelope.action == ScanAction.REPORT:
        if "results" in envelope.state:  # a cycle started on the definition before records
            return reply(report_cycle(ScanResults.model_validate(envelope.state)))
        planned = ScanPlan.model_validate(envelope.state)
        records = wiring.target_records(wiring.FunctionSettings.from_env())
        try:
            recorded = records.read(planned.targets)
        except TransientAwsError as error:
            raise wiring.transient_error(str(error)) from error
        outcomes = cycle_outcomes(planned, envelope.execution, recorded)
        return reply(report_cycle(ScanResults(**planned.model_dump(), results=outcomes)))
    raise ValueError(f"unknown scan action {envelope.action!r}")


def _recorded(records: TargetRecords, outcome: TargetOutcome) -> None:
    """Record a target's outcome; a throttled write fails the task, which is retried."""
    try:
        records.record(outcome)
    except TransientAwsError as error:
        raise wiring.transient_error(str(error)) from error


def plan(envelope: TaskEnvelope, context: Any) -> ScanPlan:
    """This hour's cycle (full or screening) and its targets (`SCAN_TARGETS`; default: the
    function's own account and region) — none while an earlier cycle of the same machine is
    still running (`earlier_cycle`: one scanner per bucket)."""
    now = time.time()
    hour = datetime.fromtimestamp(now - now % CYCLE_SECONDS, UTC)
    own_arn = str(getattr(context, "invoked_function_arn", "") or "")
    home = (own_arn.split(":")[4] if own_arn.count(":") >= 5 else "", os.environ["AWS_REGION"])
    # `rollforward scan --full|--screen` starts the machine with {"full": ...}; the schedule
    # with {} (SCAN_FULL_EVERY decides).
    asked = ScheduleInput.model_validate(envelope.state)
    request = {} if asked.full is None else {"full": asked.full}
    cycle = ScanCycle(id=iso(hour), full=is_full_cycle(request, os.environ, now))
    if asked.requested_by:
        wiring.audit(wiring.FunctionSettings.from_env()).record(
            AuditEvent.SCAN, actor=asked.requested_by, action="cycle_requested",
            execution_arn=envelope.execution, full=cycle.full,
        )  # fmt: skip
    machine = machine_of(envelope.execution)
    if machine:
        running = StepFunctionsExecutions(wiring.client("stepfunctions"), machine)
        earlier = earlier_cycle(envelope.execution, envelope.started(), running.running_since())
        if earlier:
            logger.warning("scan cycle skipped", extra={"still_running": earlier})
            return ScanPlan(cycle=cycle, targets=[], still_running=earlier)
    configured = os.environ.get(TARGETS_VARIABLE, "")
    targets = parse_targets(configured, home)
    member_role_name = os.environ.get("MEMBER_ROLE_NAME", "")
    if member_role_name and not configured:
        # A hub: every account the member StackSet reaches (its OUs, walked down) in every
        # member region, looked up each cycle (accounts join and leave).
        ous, regions = _names(MEMBER_OUS_VARIABLE), _names(MEMBER_REGIONS_VARIABLE)
        targets, unreadable = hub_targets(home, wiring.organization_accounts(), ous, regions)
        if unreadable:
            # Said where on-call looks (audit, metric, `rollforward scan --status`).
            logger.error("organization unreadable", extra={"reason": unreadable})
            metrics.add_metric(name="ScanOrganizationUnreadable", unit=MetricUnit.Count, value=1)
            wiring.audit(wiring.FunctionSettings.from_env()).record(
                AuditEvent.SCAN, actor=ACTOR, action="organization_unreadable",
                execution_arn=envelope.execution, reason=unreadable,
            )  # fmt: skip
            return ScanPlan(cycle=cycle, targets=targets, organization_unreadable=unreadable)
    return ScanPlan(cycle=cycle, targets=targets)


def _names(variable: str) -> list[str]:
    return [name.strip() for name in os.environ.get(variable, "").split(",") if name.strip()]


def scan_target(progress: TargetProgress, context: Any) -> TargetProgress:
    """Scan one (account, region) within this invocation's time, from its marker, on the
    target's own budget and in its own account (a member's session)."""
    settings = wiring.FunctionSettings.from_env()
    target = progress.target
    tracker = wiring.tracker(settings)
    wired = wire(
        settings,
        wiring.fleet_read_budget(settings),
        lambda_client=wiring.sessions(settings).client("lambda", target.account, target.region),
        sfn_client=wiring.client("stepfunctions"),
        tracker=tracker,
        canary_function=os.environ.get(CANARY_FUNCTION_VARIABLE),
    )
    wired.scanner.account_id, wired.scanner.region = target.account, target.region
    remaining = context.get_remaining_time_in_millis() / 1000 if context else None
    try:
        with wired.paced() as scanner:
            report = scanner.scan(
                start_marker=progress.marker or None,
                time_budget_seconds=(
                    max(1.0, remaining - SAFETY_MARGIN_SECONDS) if remaining else None
                ),
                full=progress.cycle.full,
                covered_before=progress.covered,
                resume_after=progress.resume_after,
            )
    except TransientAwsError as error:
        raise wiring.transient_error(str(error)) from error
    after = progress.after(report.summary(), report.covered_pins)
    # The cycle's progress, per invocation (the dashboard sums them over every target). Not
    # per target: a dimension per (account, region) is a custom metric each, paid monthly;
    # `rollforward scan --status` names the targets instead.
    metrics.add_metric(name="ScanProgressFunctions", unit=MetricUnit.Count,
                       value=report.functions_seen)  # fmt: skip
    metrics.add_metric(name="ScanProgressCalls", unit=MetricUnit.Count,
                       value=report.control_plane_calls)  # fmt: skip
    logger.info("scan target", extra={"scan_target": after.model_dump(mode="json")})
    return after


def report_cycle(results: ScanResults) -> CycleReport:
    """Fold the children's outcomes: the cycle's coverage as EMF metrics and an audit record;
    the fleet gauges, once a cycle (the ledger is the truth)."""
    cycle = CycleReport.of(results)
    settings = wiring.FunctionSettings.from_env()
    metrics.add_metric(name="ScanCyclesSkipped", unit=MetricUnit.Count,
                       value=1 if cycle.still_running else 0)  # fmt: skip
    if cycle.still_running:  # the earlier cycle reports its own coverage when it ends
        wiring.audit(settings).record(
            AuditEvent.SCAN, actor=ACTOR, action="cycle_skipped", **cycle.model_dump(mode="json")
        )
        return cycle
    metrics.add_metric(name="ScanCycleCoverage", unit=MetricUnit.Percent,
                       value=round(100 * cycle.coverage, 1))  # fmt: skip
    metrics.add_metric(name="ScanTargets", unit=MetricUnit.Count, value=cycle.targets)
    metrics.add_metric(
        name="ScanTargetsFailed", unit=MetricUnit.Count, value=cycle.targets_failed_total
    )
    metrics.add_metric(name="ScanCycleSeconds", unit=MetricUnit.Seconds, value=cycle.seconds)
    metrics.add_metric(name="FunctionsScanned", unit=MetricUnit.Count, value=cycle.functions_seen)
    metrics.add_metric(
        name="ControlPlaneCalls", unit=MetricUnit.Count, value=cycle.control_plane_calls
    )
    metrics.add_metric(name="ControlPlaneThrottles", unit=MetricUnit.Count, value=cycle.throttled)
    metrics.add_metric(name="PinsOpened", unit=MetricUnit.Count, value=cycle.opened)
    metrics.add_metric(name="PinsClosed", unit=MetricUnit.Count, value=cycle.closed)
    wiring.audit(settings).record(  # the lines per target are the execution's output
        AuditEvent.SCAN, actor=ACTOR, action="cycle",
        **cycle.model_dump(mode="json", exclude={"per_target"}),
    )  # fmt: skip
    pins = wiring.ledger(settings).list_pins(open_only=True)
    awaiting = sum(1 for pin in pins if pin.stage is Stage.AWAITING_APPROVAL)
    publish_gauges(FleetGauges.of(pins, pending_approvals=awaiting, now=utc_now()))
    return cycle


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
