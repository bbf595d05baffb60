"""`scan.cycle.TargetRecords` in the ledger's DynamoDB table: one item per (account, region),
`pin_id` = `scan-target#<account>/<region>` (never a pin: the ledger's listing skips the
prefix), overwritten by each cycle's child — so the table holds one item per target, not one per
target and cycle, and needs no expiry."""

from __future__ import annotations

from typing import Any, Final

from rollforward.adapters.aws_errors import call
from rollforward.clock import iso, utc_now
from rollforward.scan.cycle import ScanTarget, TargetOutcome, target_name
from rollforward.transient import Transient

TARGET_PREFIX: Final = "scan-target#"
_BATCH: Final = 100  # BatchGetItem: at most 100 keys a request
_UNPROCESSED_ROUNDS: Final = 8  # BatchGetItem may return keys unprocessed (throughput)


def record_id(target: ScanTarget) -> str:
    return TARGET_PREFIX + target_name(target)


class DynamoTargetRecords:
    """`table` is a boto3 DynamoDB Table resource (the ledger's)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def record(self, outcome: TargetOutcome) -> None:
        call(
            self._table.put_item,
            Item={
                "pin_id": record_id(outcome.target),
                "cycle_execution": outcome.cycle_execution,
                "outcome": outcome.model_dump_json(exclude={"covered"}),
                "recorded_at": iso(utc_now()),
            },
        )

    def read(self, targets: list[ScanTarget]) -> dict[str, TargetOutcome]:
        ids = list(dict.fromkeys(record_id(target) for target in targets))
        items: list[dict[str, Any]] = []
        # The resource's client: boto3 (de)serializes its attribute values, as the Table's.
        client = self._table.meta.client
        for start in range(0, len(ids), _BATCH):
            keys: dict[str, Any] = {
                self._table.name: {
                    "Keys": [{"pin_id": i} for i in ids[start : start + _BATCH]],
                    "ConsistentRead": True,  # Report reads what the children just wrote
                }
            }
            for _ in range(_UNPROCESSED_ROUNDS):
                page = call(client.batch_get_item, RequestItems=keys)
                items.extend(page.get("Responses", {}).get(self._table.name, []))
                keys = page.get("UnprocessedKeys") or {}
                if not keys:
                    break
            else:
                raise Transient("BatchGetItem left keys unprocessed after every retry")
        outcomes = (TargetOutcome.model_validate_json(str(item["outcome"])) for item in items)
        return {target_name(outcome.target): outcome for outcome in outcomes}

    def of_cycle(self, execution: str) -> list[TargetOutcome]:
        """Every target recorded by the cycle `execution` so far (a Scan of the ledger's
        table, filtered: for `rollforward scan --status`, which knows no plan)."""
        kwargs: dict[str, Any] = {
            "FilterExpression": "begins_with(pin_id, :prefix) AND cycle_execution = :cycle",
            "ExpressionAttributeValues": {":prefix": TARGET_PREFIX, ":cycle": execution},
        }
        outcomes: list[TargetOutcome] = []
        while True:
            page = call(self._table.scan, **kwargs)
            outcomes.extend(
                TargetOutcome.model_validate_json(str(item["outcome"]))
                for item in page.get("Items", [])
            )
            if "LastEvaluatedKey" not in page:
                return sorted(outcomes, key=lambda outcome: target_name(outcome.target))
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
