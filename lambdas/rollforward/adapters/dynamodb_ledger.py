"""`ports.Ledger` on DynamoDB: every write conditional (see `rollforward.ledger`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from rollforward.adapters.aws_errors import call, is_condition_failure
from rollforward.adapters.dynamodb_locks import LOCK_PREFIX
from rollforward.adapters.dynamodb_target_records import TARGET_PREFIX
from rollforward.clock import iso
from rollforward.ledger import ConflictError, Pin
from rollforward.model import PinKey

NOT_PINS = (LOCK_PREFIX, TARGET_PREFIX)  # the other items of the ledger's table, by key prefix


class DynamoLedger:
    """`ports.Ledger` on a DynamoDB table. `table` is a boto3 DynamoDB Table resource."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, key: PinKey) -> Pin | None:
        item = call(self._table.get_item, Key={"pin_id": key.id}, ConsistentRead=True).get("Item")
        return Pin.from_item(item) if item else None

    def open(self, pin: Pin, now: datetime) -> tuple[Pin, bool]:
        """Record a pin episode. Returns (the pin as stored, whether this call opened it).

        An already-open pin is left alone (first-seen stays), so replays change nothing.
        A closed pin is reopened as the next generation.
        """
        existing = self.get(pin.key)
        if existing and existing.is_open:
            return existing, False
        pin.generation = existing.generation + 1 if existing else 1
        pin.updated_at = iso(now)
        condition = (
            "attribute_not_exists(pin_id)"
            if existing is None
            else "generation = :previous AND is_open = :false"
        )
        values = {} if existing is None else {":previous": existing.generation, ":false": False}
        try:
            call(
                self._table.put_item,
                Item=_dynamo(pin.to_item()),
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except ClientError as error:
            if is_condition_failure(error):
                current = self.get(pin.key)
                if current is not None:
                    return current, False
            raise
        return pin, True

    def update(self, pin: Pin, now: datetime, **changes: Any) -> Pin:
        """Set only the changed attributes, on the same generation of the pin.

        Attribute-level updates: a notice recorded concurrently is never overwritten.
        Raises ConflictError when the pin moved on to another generation (closed and reopened).
        """
        for name, value in changes.items():
            if not hasattr(pin, name):
                raise AttributeError(f"a pin has no attribute {name!r}")
            setattr(pin, name, value)
        pin.updated_at = iso(now)
        item = pin.to_item()
        names = {name for name in changes if name != "key"} | {"updated_at"}
        if "stage" in names:
            names.add("is_open")
        sets = sorted(n for n in names if n in item)
        removes = sorted(n for n in names if n not in item)
        expression = "SET " + ", ".join(f"#{n} = :{n}" for n in sets)
        if removes:
            expression += " REMOVE " + ", ".join(f"#{n}" for n in removes)
        try:
            call(
                self._table.update_item,
                Key={"pin_id": pin.key.id},
                UpdateExpression=expression,
                ConditionExpression="generation = :generation",
                ExpressionAttributeNames={f"#{n}": n for n in sets + removes},
                ExpressionAttributeValues={
                    ":generation": pin.generation,
                    **{f":{n}": _dynamo(item[n]) for n in sets},
                },
            )
        except ClientError as error:
            if is_condition_failure(error):
                raise ConflictError(f"{pin.key.id} moved to another generation") from error
            raise
        return pin

    def mark_notice_sent(self, pin: Pin, notice_key: str, now: datetime) -> bool:
        """True exactly once per (pin generation, notice key), however often it is retried."""
        try:
            call(
                self._table.update_item,
                Key={"pin_id": pin.key.id},
                UpdateExpression="SET notices.#k = :at",
                ConditionExpression="generation = :g AND attribute_not_exists(notices.#k)",
                ExpressionAttributeNames={"#k": notice_key},
                ExpressionAttributeValues={":at": iso(now), ":g": pin.generation},
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        pin.notices[notice_key] = iso(now)
        return True

    def release_notice(self, pin: Pin, notice_key: str, sent_at: datetime) -> None:
        try:
            call(
                self._table.update_item,
                Key={"pin_id": pin.key.id},
                UpdateExpression="REMOVE notices.#k",
                ConditionExpression="generation = :g AND notices.#k = :at",
                ExpressionAttributeNames={"#k": notice_key},
                ExpressionAttributeValues={":at": iso(sent_at), ":g": pin.generation},
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
        pin.notices.pop(notice_key, None)

    def move_execution(self, pin: Pin, from_arn: str, to_arn: str, now: datetime) -> bool:
        """Hand the episode from execution `from_arn` to `to_arn` (continue-as-new) only if the
        ledger still names `from_arn` (or none, or `to_arn` already: a retry); False when
        another execution owns it, or the pin moved to another generation or closed."""
        try:
            call(
                self._table.update_item,
                Key={"pin_id": pin.key.id},
                UpdateExpression="SET execution_arn = :to, updated_at = :now",
                ConditionExpression=(
                    "generation = :g AND is_open = :true AND (attribute_not_exists(execution_arn)"
                    " OR execution_arn IN (:from, :to, :none))"
                ),
                ExpressionAttributeValues={
                    ":to": to_arn,
                    ":from": from_arn,
                    ":none": "",
                    ":now": iso(now),
                    ":g": pin.generation,
                    ":true": True,
                },
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        pin.execution_arn, pin.updated_at = to_arn, iso(now)
        return True

    def list_pins(self, *, open_only: bool = True) -> list[Pin]:
        pins: list[Pin] = []
        kwargs: dict[str, Any] = {}
        if open_only:
            kwargs = {
                "FilterExpression": "is_open = :true",
                "ExpressionAttributeValues": {":true": True},
            }
        while True:
            page = call(self._table.scan, **kwargs)
            pins.extend(
                Pin.from_item(item)
                for item in page.get("Items", [])
                # canary locks and scan-target records share the table; they are not pins
                if not str(item["pin_id"]).startswith(NOT_PINS)
            )
            if "LastEvaluatedKey" not in page:
                return pins
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _dynamo(value: Any) -> Any:
    """DynamoDB refuses floats and empty-string map keys are fine; convert floats to Decimal."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dynamo(v) for v in value]
    return value
