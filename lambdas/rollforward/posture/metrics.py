"""The posture as CloudWatch gauges: one EMF document per row.

Per row of the shared-responsibility table: `PostureFunctions` (versions in the row),
`PostureUnmet` and `PostureDue` (responsibility not met / behind within the grace period) and
`PostureOldestUnmetSeconds`, dimension `Row`, namespace `rollforward` — what the dashboard's
posture widget plots. Pure: the caller prints the documents (Lambda ships stdout to CloudWatch
Logs, which extracts the metrics), so no Powertools or boto3 here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rollforward.posture.table import Assessment, summarize

NAMESPACE = "rollforward"
DIMENSION = "Row"
METRICS = ("PostureFunctions", "PostureUnmet", "PostureDue", "PostureOldestUnmetSeconds")


def emf_documents(assessments: Iterable[Assessment], now: datetime) -> list[dict[str, Any]]:
    """One EMF document per row (rows with no versions report zeros: a gauge must not vanish)."""
    documents = []
    for count in summarize(assessments, now):
        oldest = count.oldest_unmet.total_seconds() if count.oldest_unmet else 0.0
        documents.append(
            {
                "_aws": {
                    "Timestamp": int(now.timestamp() * 1000),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": NAMESPACE,
                            "Dimensions": [[DIMENSION]],
                            "Metrics": [
                                {"Name": name, "Unit": "Seconds" if "Seconds" in name else "Count"}
                                for name in METRICS
                            ],
                        }
                    ],
                },
                DIMENSION: count.row.value,
                "PostureFunctions": count.functions,
                "PostureUnmet": count.unmet,
                "PostureDue": count.due,
                "PostureOldestUnmetSeconds": oldest,
            }
        )
    return documents


def emf_lines(assessments: Iterable[Assessment], now: datetime) -> list[str]:
    return [json.dumps(d, separators=(",", ":")) for d in emf_documents(assessments, now)]
