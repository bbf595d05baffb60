"""The audit trail: one structured JSON record per lifecycle event, in a dedicated log group.

Records go to the audit log group (long retention, KMS) with PutLogEvents, and the same record
is logged through Powertools Logger to the function's own log group for operators.
Auditors, `rollforward show` and the console all read the audit group.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from rollforward.clock import iso, parse_iso, utc_now

logger = Logger(service="rollforward", child=True)


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


class AuditWriteRefused(Exception):
    """CloudWatch Logs accepted the call but refused the record (e.g. its timestamp)."""


class AuditTrail:
    """Writes and reads audit records. `logs` is a boto3 CloudWatch Logs client."""

    def __init__(self, logs: Any, log_group: str) -> None:
        if not log_group:
            # Records written to no group would be lost without a trace: refuse up front.
            raise ValueError("AuditTrail needs a log group (AUDIT_LOG_GROUP is unset or empty)")
        self._logs = logs
        self._group = log_group

    def record(
        self,
        event: AuditEvent | str,
        *,
        pin_id: str | None = None,
        actor: str = "rollforward",
        at: datetime | None = None,
        **details: Any,
    ) -> AuditRecord:
        record = AuditRecord(
            event=str(event),
            at=at or utc_now(),
            pin_id=pin_id,
            actor=actor,
            details=details,
            id=uuid.uuid4().hex,
        )
        logger.info(f"audit {record.event}", extra={"audit_record": json.loads(record.to_json())})
        stream = f"{record.at:%Y/%m/%d}"
        entry = {"timestamp": int(record.at.timestamp() * 1000), "message": record.to_json()}
        try:
            response = self._put(stream, entry)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            try:
                self._logs.create_log_stream(logGroupName=self._group, logStreamName=stream)
            except ClientError as create_error:
                if create_error.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                    raise
            response = self._put(stream, entry)
        if response.get("rejectedLogEventsInfo"):
            # An audit record CloudWatch refused must not vanish silently.
            raise AuditWriteRefused(
                f"CloudWatch Logs refused audit record {record.id}: {response['rejectedLogEventsInfo']}"
            )
        return record

    def _put(self, stream: str, entry: dict[str, Any]) -> dict[str, Any]:
        return dict(
            self._logs.put_log_events(
                logGroupName=self._group, logStreamName=stream, logEvents=[entry]
            )
        )

    def read(self, *, pin_id: str | None = None, limit: int = 10_000) -> list[AuditRecord]:
        """Records in time order, optionally for one pin."""
        records: list[AuditRecord] = []
        kwargs: dict[str, Any] = {"logGroupName": self._group}
        if pin_id:
            kwargs["filterPattern"] = f'"{pin_id}"'
        while len(records) < limit:
            page = self._logs.filter_log_events(**kwargs)
            for event in page.get("events", []):
                record = AuditRecord.from_json(event["message"])
                if record and (pin_id is None or record.pin_id == pin_id):
                    records.append(record)
            token = page.get("nextToken")
            if not token or not page.get("events"):
                break
            kwargs["nextToken"] = token
        return sorted(records, key=lambda r: r.at)
