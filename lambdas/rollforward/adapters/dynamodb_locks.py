"""`ports.CanaryLocks` in the ledger's DynamoDB table: one item per function with a canary,
`pin_id` = `canary-lock#<function ARN>` (never a pin: the ledger's listing skips the prefix),
every write conditional on who holds it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from botocore.exceptions import ClientError

from rollforward.adapters.aws_errors import call, is_condition_failure
from rollforward.clock import iso

LOCK_PREFIX: Final = "canary-lock#"


def lock_id(function_arn: str) -> str:
    return LOCK_PREFIX + function_arn


class DynamoCanaryLocks:
    """`table` is a boto3 DynamoDB Table resource (the ledger's)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def acquire(self, function_arn: str, holder: str, now: datetime) -> str | None:
        for _ in range(2):  # (a second time only if it was released between put and get)
            if self._put(function_arn, holder, now, "attribute_not_exists(pin_id) OR holder = :me"):
                return None
            key = {"pin_id": lock_id(function_arn)}
            item = call(self._table.get_item, Key=key, ConsistentRead=True).get("Item")
            if item is not None:
                return str(item.get("holder", ""))
        return ""

    def take_over(self, function_arn: str, holder: str, stale: str, now: datetime) -> bool:
        return self._put(function_arn, holder, now, "holder = :stale", stale=stale)

    def release(self, function_arn: str, holder: str) -> None:
        try:
            call(
                self._table.delete_item,
                Key={"pin_id": lock_id(function_arn)},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": holder},
            )
        except ClientError as error:
            if not is_condition_failure(error):  # gone, or another's: nothing to release
                raise

    def _put(
        self, function_arn: str, holder: str, now: datetime, condition: str, *, stale: str = ""
    ) -> bool:
        values = {":me": holder} if ":me" in condition else {}
        if stale:
            values[":stale"] = stale
        try:
            call(
                self._table.put_item,
                Item={"pin_id": lock_id(function_arn), "holder": holder, "acquired_at": iso(now)},
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True


__all__ = ["LOCK_PREFIX", "DynamoCanaryLocks", "lock_id"]
