"""The posture report: one row per function version, in the shapes people and auditors use.

`report_document` is the JSON document (`rollforward report --output json`, the console page),
`csv_text` the same rows for a spreadsheet, `rows` the flat records both are built from. Pure.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rollforward.posture.table import (
    RESPONSIBILITY,
    Assessment,
    PosturePolicy,
    Row,
    Status,
    summarize,
)

COLUMNS = (
    "function",
    "qualifier",
    "row",
    "status",
    "unmet_since",
    "unmet_days",
    "responsibility",
    "reason",
    "action",
    "owner",
    "team",
    "stack",
    "template_pin",
    "function_arn",
)
ROW_TITLES = {
    Row.AUTO: "Auto",
    Row.FUNCTION_UPDATE: "Function update",
    Row.MANUAL: "Manual",
    Row.CONTAINER_IMAGE: "Container image",
}


def _iso(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def record(assessment: Assessment, now: datetime) -> dict[str, Any]:
    unmet = assessment.unmet_for(now)
    pin = assessment.template_pin
    return {
        "function": assessment.function_name,
        "qualifier": assessment.qualifier,
        "row": assessment.row.value,
        "status": assessment.status.value,
        "unmet_since": _iso(assessment.since),
        "unmet_days": round(unmet.total_seconds() / 86_400, 1) if unmet is not None else None,
        "responsibility": RESPONSIBILITY[assessment.row],
        "reason": assessment.reason,
        "action": assessment.action,
        "owner": assessment.owner,
        "team": assessment.team,
        "stack": assessment.stack_name,
        "template_pin": pin.sentence if pin else "",
        "function_arn": assessment.function_arn,
        "evidence": dict(assessment.evidence),
    }


def rows(assessments: Iterable[Assessment], now: datetime) -> list[dict[str, Any]]:
    return [record(a, now) for a in assessments]


def report_document(
    assessments: Sequence[Assessment],
    *,
    now: datetime,
    policy: PosturePolicy,
    account: str = "",
    region: str = "",
    unreadable: Sequence[str] = (),
) -> dict[str, Any]:
    """Everything an auditor needs to re-check the report: when, where, the thresholds, the
    per-row counts, every version with its evidence, and what could not be read."""
    return {
        "generated_at": _iso(now),
        "account": account,
        "region": region,
        "policy": {
            "function_update_max_age_days": policy.function_update_max_age.total_seconds() / 86_400,
            "image_max_age_days": policy.image_max_age.total_seconds() / 86_400,
        },
        "summary": [
            {
                "row": count.row.value,
                "title": ROW_TITLES[count.row],
                "responsibility": RESPONSIBILITY[count.row],
                "functions": count.functions,
                "unmet": count.unmet,
                "due": count.due,
                "oldest_unmet_days": round(count.oldest_unmet.total_seconds() / 86_400, 1)
                if count.oldest_unmet
                else None,
            }
            for count in summarize(assessments, now)
        ],
        "unknown": sum(1 for a in assessments if a.status is Status.UNKNOWN),
        "functions": rows(assessments, now),
        "unreadable": list(unreadable),
    }


def csv_text(assessments: Iterable[Assessment], now: datetime) -> str:
    """RFC 4180 CSV with a header; cells that a spreadsheet would run as formulas are quoted
    with a leading apostrophe (function names and reasons come from outside)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for item in rows(assessments, now):
        writer.writerow([_cell(item[column]) for column in COLUMNS])
    return out.getvalue()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
