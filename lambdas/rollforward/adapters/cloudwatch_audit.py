"""`ports.AuditSink` on CloudWatch Logs: the audit log group, plus the function's own log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from rollforward.adapters.aws_errors import call, error_code
from rollforward.audit.records import AuditEvent, AuditRecord, AuditWriteRefused, new_record
from rollforward.clock import utc_now

logger = Logger(service="rollforward", child=True)


class CloudWatchAuditTrail:
    """`ports.AuditSink` on a log group. `logs` is a boto3 CloudWatch Logs client."""

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
        record = new_record(event, pin_id=pin_id, actor=actor, at=at or utc_now(), details=details)
        logger.info(f"audit {record.event}", extra={"audit_record": json.loads(record.to_json())})
        stream = f"{record.at:%Y/%m/%d}"
        entry = {"timestamp": int(record.at.timestamp() * 1000), "message": record.to_json()}
        try:
            response = self._put(stream, entry)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise
            try:
                call(self._logs.create_log_stream, logGroupName=self._group, logStreamName=stream)
            except ClientError as create_error:
                if error_code(create_error) != "ResourceAlreadyExistsException":
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
            call(
                self._logs.put_log_events,
                logGroupName=self._group,
                logStreamName=stream,
                logEvents=[entry],
            )
        )

    def read(self, *, pin_id: str | None = None, limit: int = 10_000) -> list[AuditRecord]:
        """Records in time order, optionally for one pin."""
        records: list[AuditRecord] = []
        kwargs: dict[str, Any] = {"logGroupName": self._group}
        if pin_id:
            kwargs["filterPattern"] = f'"{pin_id}"'
        while len(records) < limit:
            page = call(self._logs.filter_log_events, **kwargs)
            for event in page.get("events", []):
                record = AuditRecord.from_json(event["message"])
                if record and (pin_id is None or record.pin_id == pin_id):
                    records.append(record)
            token = page.get("nextToken")
            if not token or not page.get("events"):
                break
            kwargs["nextToken"] = token
        return sorted(records, key=lambda r: r.at)
