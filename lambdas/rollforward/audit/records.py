"""The audit trail: one structured JSON record per lifecycle event.

This module says what a record is; `rollforward.ports.AuditSink` is where records go. On AWS
(`rollforward.adapters.cloudwatch_audit`) they go to a dedicated log group (long retention,
KMS) with PutLogEvents, and the same record is logged through Powertools Logger to the
function's own log group for operators. Auditors, `rollforward show` and the console all read
the audit group.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from rollforward.clock import iso, parse_iso


class AuditEvent(StrEnum):
    DETECTED = "detected"
    REJECTED_EVENT = "rejected_event"  # a malformed or unusable CloudTrail event
    STAGE_NOTICE = "stage_notice"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPROVAL_EXPIRED = "approval_expired"
    REFUSED = "refused"  # a decision or command that was not allowed
    # The approval callback was answered without an authorized, decided approval record
    # (e.g. SendTaskSuccess by whoever read the token): nothing changed.
    FORGED_DECISION = "forged_decision"
    SNOOZED = "snoozed"
    EXEMPTED = "exempted"
    CANARY_STEP = "canary_step"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    STOPPED = "stopped"  # preflight refused to act
    RESOLVED = "resolved"
    LIFTED = "lifted"
    DELETED = "deleted"
    OPTED_OUT = "opted_out"  # the function carries the opt-out tag: tracking ended
    FAILED = "failed"
    # The tracking execution handed the pin to a successor before the one-year limit.
    CONTINUED = "continued"
    SCAN = "scan"


@dataclass(frozen=True)
class AuditRecord:
    event: str
    at: datetime
    pin_id: str | None
    actor: str
    details: dict[str, Any]
    id: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "audit": True,
                "id": self.id,
                "event": self.event,
                "at": iso(self.at),
                "pin_id": self.pin_id,
                "actor": self.actor,
                "details": self.details,
            },
            default=str,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> AuditRecord | None:
        try:
            data = json.loads(text)
            if not data.get("audit"):
                return None
            return cls(
                event=data["event"],
                at=parse_iso(data["at"]),
                pin_id=data.get("pin_id"),
                actor=data.get("actor", ""),
                details=data.get("details", {}),
                id=data.get("id", ""),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def new_record(
    event: AuditEvent | str,
    *,
    pin_id: str | None,
    actor: str,
    at: datetime,
    details: dict[str, Any],
) -> AuditRecord:
    """A record with a fresh random id."""
    return AuditRecord(
        event=str(event), at=at, pin_id=pin_id, actor=actor, details=details, id=uuid.uuid4().hex
    )


class AuditWriteRefused(Exception):
    """CloudWatch Logs accepted the call but refused the record (e.g. its timestamp)."""
