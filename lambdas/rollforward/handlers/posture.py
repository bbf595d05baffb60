"""EventBridge Scheduler (daily) → the posture report: per-row gauges and image owner notices.

Reads every function of the account and region (`rollforward.adapters.posture`), assesses each
version's row of the shared-responsibility table (`rollforward.posture`), emits one set of EMF
gauges per row (Powertools `single_metric`, dimension `Row`: the dashboard's posture widget),
opens the ledger item (and ladder) of each FunctionUpdate function left behind
(`posture.items`) and publishes the owner notice of each image function whose image is past
the policy's age. It changes no function. An account too big for one invocation is read in
chunks: out of time, the function invokes itself with the ListFunctions marker to resume from
and the counts so far (`posture.passes`); the gauges are emitted once, by the chunk that ends
the pass. Returns the report's summary (or, for a chunk that handed over, where it stopped).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from rollforward.adapters.posture import ledger_pins, read_fleet
from rollforward.clock import utc_now
from rollforward.handlers import wiring
from rollforward.posture import PosturePolicy, RowCount, assess_fleet, image_notice
from rollforward.posture.items import function_update_findings
from rollforward.posture.metrics import DIMENSION, NAMESPACE
from rollforward.posture.passes import MAX_CHUNKS, PassCarry

SERVICE = "rollforward"
# Time kept back from the 15-minute timeout: the page in progress (at most 50 functions, ~45 s
# at 3 req/s) and the hand-over to the next chunk.
SAFETY_MARGIN_SECONDS = 120.0
logger = Logger()
tracer = Tracer()


def _gauges(counts: list[RowCount]) -> None:
    for count in counts:
        oldest = count.oldest_unmet.total_seconds() if count.oldest_unmet else 0.0
        values = (
            ("PostureFunctions", MetricUnit.Count, count.functions),
            ("PostureUnmet", MetricUnit.Count, count.unmet),
            ("PostureDue", MetricUnit.Count, count.due),
            ("PostureOldestUnmetSeconds", MetricUnit.Seconds, oldest),
        )
        for name, unit, value in values:
            with single_metric(
                name=name,
                unit=unit,
                value=value,
                namespace=NAMESPACE,
                default_dimensions={"service": os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE)},
            ) as metric:
                metric.add_dimension(name=DIMENSION, value=count.row.value)


def _track_function_updates(settings: wiring.FunctionSettings, assessments: list[Any]) -> int:
    """Open the ledger item (and its ladder) of each FunctionUpdate function left behind; the
    ones already open are left alone. Returns how many were opened."""
    findings = function_update_findings(assessments)
    if not findings:
        return 0
    tracker = wiring.tracker(settings)
    opened = 0
    for finding in findings:
        observation = tracker.track_function_update(
            finding.key,
            runtime_version_arn=finding.runtime_version_arn,
            since=finding.since,
            reason=finding.reason,
            facts=finding.facts,
        )
        opened += observation.action == "opened"
    return opened


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    request = event if isinstance(event, dict) else {}
    settings = wiring.FunctionSettings.from_env()
    ledger = wiring.ledger(settings)
    carry = PassCarry.from_dict(request.get("carry")) if request.get("marker") else None
    marker = str(request.get("marker") or "") if carry is not None else None
    carry = carry or PassCarry()
    remaining = context.get_remaining_time_in_millis() / 1000 if context else None
    deadline = time.monotonic() + max(1.0, remaining - SAFETY_MARGIN_SECONDS) if remaining else None
    fleet = read_fleet(
        wiring.client("lambda"),
        wiring.client("ecr"),
        wiring.client("cloudformation"),
        ledger_pins(ledger.list_pins(open_only=True)),
        pace=wiring.fleet_read_budget(settings).acquire,
        start_marker=marker,
        out_of_time=(lambda: time.monotonic() > deadline) if deadline is not None else _never,
    )
    now = utc_now()
    assessments = assess_fleet(
        fleet.versions,
        policy=PosturePolicy.of(settings.policy.posture),
        now=now,
        template_pins=fleet.template_pins,
        newest=carry.see(fleet.versions),
    )
    carry.add(assessments, now)
    carry.unreadable += fleet.unreadable
    dry_run = bool(request.get("dry_run"))
    if not dry_run:
        carry.items_opened += _track_function_updates(settings, assessments)
        carry.owner_notices += _image_notices(settings, assessments, now)
    if fleet.resume_marker is not None and carry.chunk + 1 < MAX_CHUNKS:
        # A big account: the next chunk goes on from the page this one did not reach.
        carry.chunk += 1
        lam = wiring.client("lambda")
        lam.invoke(  # itself: granted on its own ARN only
            FunctionName=context.invoked_function_arn,
            InvocationType="Event",
            Payload=json.dumps(
                {"marker": fleet.resume_marker, "carry": carry.to_dict(), "dry_run": dry_run}
            ).encode(),
        )
        logger.info("posture pass continues", extra={"chunk": carry.chunk})
        return {"continued": True, "resume_marker": fleet.resume_marker, "chunk": carry.chunk}
    counts = carry.row_counts()
    _gauges(counts)
    summary = {
        "versions": sum(c.functions for c in counts),
        "rows": {
            c.row.value: {"versions": c.functions, "unmet": c.unmet, "due": c.due} for c in counts
        },
        "owner_notices": carry.owner_notices,
        "function_update_items_opened": carry.items_opened,
        "chunks": carry.chunk + 1,
        "unreadable": carry.unreadable,
    }
    logger.info("posture report", extra={"posture": summary})
    return summary


def _never() -> bool:
    return False


def _image_notices(settings: wiring.FunctionSettings, assessments: list[Any], now: Any) -> int:
    sent = 0
    topic = settings.topics.get("owner", "")
    if not topic:
        return 0
    sns = wiring.client("sns")
    for assessment in assessments:
        notice = image_notice(assessment, now)
        if notice is not None:
            sns.publish(**notice.sns_publish_kwargs(topic))
            sent += 1
    return sent
