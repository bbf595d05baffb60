"""`ports.ApprovalStore` on DynamoDB: each state change is a conditional write on `status`."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from rollforward.adapters.aws_errors import call, is_condition_failure
from rollforward.clock import iso

_PENDING = "pending"


class DynamoApprovalStore:
    """`table` is a boto3 DynamoDB Table resource keyed by `approval_id`."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def _conditional(self, **kwargs: Any) -> bool:
        """An update_item whose condition may fail: False when it did."""
        try:
            call(self._table.update_item, **kwargs)
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def create(self, record: Mapping[str, Any]) -> None:
        call(
            self._table.put_item,
            Item=dict(record),
            ConditionExpression="attribute_not_exists(approval_id)",
        )

    def get(self, approval_id: str) -> dict[str, Any] | None:
        item = call(
            self._table.get_item, Key={"approval_id": approval_id}, ConsistentRead=True
        ).get("Item")
        return dict(item) if item else None

    def pending(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "FilterExpression": "#s = :pending",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":pending": _PENDING},
        }
        while True:
            page = call(self._table.scan, **kwargs)
            items.extend(
                {k: v for k, v in item.items() if k != "task_token"}
                for item in page.get("Items", [])
            )
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def rearm(self, approval_id: str, task_token: str, execution_arn: str) -> bool:
        return self._conditional(
            Key={"approval_id": approval_id},
            UpdateExpression="SET task_token = :token, execution_arn = :execution",
            ConditionExpression="#s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":token": task_token,
                ":execution": execution_arn,
                ":pending": _PENDING,
            },
        )

    def supersede(self, approval_id: str) -> bool:
        return self._conditional(
            Key={"approval_id": approval_id},
            UpdateExpression="SET #s = :superseded",
            ConditionExpression="#s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":superseded": "superseded", ":pending": _PENDING},
        )

    def decide(
        self,
        approval_id: str,
        *,
        status: str,
        by: str,
        at: datetime,
        reason: str,
        accept_untested: bool,
    ) -> bool:
        return self._conditional(
            Key={"approval_id": approval_id},
            UpdateExpression=(
                "SET #s = :status, decided_by = :by, decided_at = :at, reason = :reason, "
                "accept_untested = :untested"
            ),
            ConditionExpression="#s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":status": status,
                ":by": by,
                ":at": iso(at),
                ":reason": reason,
                ":untested": accept_untested,
                ":pending": _PENDING,
            },
        )

    def consume(self, approval_id: str, *, status: str, at: datetime, by: str) -> bool:
        return self._conditional(
            Key={"approval_id": approval_id},
            UpdateExpression="SET consumed_at = :at, consumed_by = :execution",
            ConditionExpression="attribute_not_exists(consumed_at) AND #s = :status",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":at": iso(at), ":execution": by, ":status": status},
        )

    def set_status_if_unconsumed(self, approval_id: str, status: str) -> None:
        # Best effort (the caller is already refusing): any failure leaves the record as it is.
        with contextlib.suppress(ClientError):
            self._conditional(
                Key={"approval_id": approval_id},
                UpdateExpression="SET #s = :status",
                ConditionExpression="attribute_not_exists(consumed_at)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":status": status},
            )
