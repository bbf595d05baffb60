"""Which assessments become ledger items: a FunctionUpdate `$LATEST` left behind.

The posture report finds them (`table.assess`: behind the newest runtime version seen and not
updated for `posture.function_update_max_age`); each becomes a ledger item of kind
`function_update` (`Tracker.track_function_update`) with its own ladder and, approved, a
switch to Auto behind the canary. Only `$LATEST`: the canary moves a function through
`$LATEST` and its alias, and a published version in FunctionUpdate mode never changes by
itself (its fix is the same switch). Image functions get owner notices, never items
(`notices.image_notice`): rollforward cannot rebuild an image. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from rollforward.model import LATEST, PinKey
from rollforward.posture.table import Assessment, Row, Status


@dataclass(frozen=True, slots=True)
class FunctionUpdateFinding:
    """What `Tracker.track_function_update` needs for one function."""

    key: PinKey
    runtime_version_arn: str  # the runtime version it runs: the canary's baseline
    since: datetime  # when its responsibility became unmet: the item's first-seen
    reason: str  # the sentence its notices carry
    facts: Mapping[str, str] = field(default_factory=dict)


def function_update_findings(assessments: Iterable[Assessment]) -> list[FunctionUpdateFinding]:
    findings = []
    for assessment in assessments:
        if (
            assessment.row is not Row.FUNCTION_UPDATE
            or assessment.status is not Status.UNMET
            or assessment.qualifier != LATEST
            or assessment.since is None
            or not assessment.evidence.get("runtime_version_arn")
        ):
            continue
        findings.append(
            FunctionUpdateFinding(
                key=PinKey(assessment.function_arn),
                runtime_version_arn=assessment.evidence["runtime_version_arn"],
                since=assessment.since,
                reason=f"Runtime update mode FunctionUpdate: {assessment.reason}. "
                f"{assessment.action[:1].upper()}{assessment.action[1:]}.",
                facts={
                    "newest_seen": assessment.evidence.get("newest_seen", ""),
                    "unmet_since": assessment.since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )
        )
    return findings
