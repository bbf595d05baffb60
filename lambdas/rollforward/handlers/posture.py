"""EventBridge Scheduler (daily) → the posture report: per-row gauges and image owner notices.

Reads every function of the account and region (`rollforward.adapters.posture`), assesses each
version's row of the shared-responsibility table (`rollforward.posture`), emits one set of EMF
gauges per row (Powertools `single_metric`, dimension `Row`: the dashboard's posture widget) and
publishes the owner notice of each image function whose image is past the policy's age. It
changes no function. Returns the report's summary.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from rollforward.adapters.posture import ledger_pins, read_fleet
from rollforward.clock import utc_now
from rollforward.handlers import wiring
from rollforward.posture import PosturePolicy, assess_fleet, image_notice, summarize
from rollforward.posture.metrics import DIMENSION, NAMESPACE

SERVICE = "rollforward"
logger = Logger()
tracer = Tracer()


def _gauges(assessments: list[Any], now: Any) -> None:
    for count in summarize(assessments, now):
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


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    request = event if isinstance(event, dict) else {}
    settings = wiring.FunctionSettings.from_env()
    ledger = wiring.ledger(settings)
    fleet = read_fleet(
        wiring.client("lambda"),
        wiring.client("ecr"),
        wiring.client("cloudformation"),
        ledger_pins(ledger.list_pins(open_only=True)),
        pace=wiring.fleet_read_budget(settings).acquire,
    )
    now = utc_now()
    assessments = assess_fleet(
        fleet.versions,
        policy=PosturePolicy.of(settings.policy.posture),
        now=now,
        template_pins=fleet.template_pins,
    )
    _gauges(assessments, now)
    sent = 0
    topic = settings.topics.get("owner", "")
    if topic and not request.get("dry_run"):
        sns = wiring.client("sns")
        for assessment in assessments:
            notice = image_notice(assessment, now)
            if notice is not None:
                sns.publish(**notice.sns_publish_kwargs(topic))
                sent += 1
    summary = {
        "versions": len(assessments),
        "rows": {
            c.row.value: {"versions": c.functions, "unmet": c.unmet, "due": c.due}
            for c in summarize(assessments, now)
        },
        "owner_notices": sent,
        "unreadable": fleet.unreadable,
    }
    logger.info("posture report", extra={"posture": summary})
    return summary
