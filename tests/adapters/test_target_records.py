"""`DynamoTargetRecords` on the embedded DynamoDB: the scan's children's records of their
targets (one item per target, the latest cycle's), read back in BatchGetItem's chunks, and the
ledger's listing that never mistakes a record for a pin."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from rollforward.adapters.dynamodb_ledger import DynamoLedger
from rollforward.adapters.dynamodb_target_records import DynamoTargetRecords
from rollforward.ledger import Pin, Stage
from rollforward.model import PinKey
from rollforward.scan.cycle import ChildFailure, ScanCycle, ScanTarget, TargetOutcome

from emulator.inprocess import EmbeddedAws
from tests.aws_fixtures import create_ledger_table

CYCLE = ScanCycle(id="2026-12-03T12:00:00Z", full=True)
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:Rollforward-scan:cycle"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def table() -> Iterator[Any]:
    with EmbeddedAws():
        yield create_ledger_table()


def _outcome(index: int, **fields: Any) -> TargetOutcome:
    target = ScanTarget(account=f"{index:012d}", region="us-east-1")
    return TargetOutcome(cycle=CYCLE, target=target, cycle_execution=EXECUTION, **fields)


def test_every_record_is_read_back_across_batches_the_latest_write_winning(table: Any) -> None:
    records = DynamoTargetRecords(table)
    for index in range(250):  # three BatchGetItem requests
        records.record(_outcome(index, complete=False, covered=["a" * 12]))
    records.record(_outcome(7, failure=ChildFailure(Error="rollforward.Refused", Cause="gone")))
    asked = [_outcome(index).target for index in range(260)]  # ten were never recorded

    read = records.read(asked)

    assert len(read) == 250
    assert read["000000000007/us-east-1"].failure == ChildFailure(
        Error="rollforward.Refused", Cause="gone"
    )
    assert read["000000000008/us-east-1"].covered == []  # the digest stays out of the record
    assert len(table.scan()["Items"]) == 250  # one item per target, whatever the cycles


def test_the_ledger_listing_skips_the_records(table: Any) -> None:
    ledger = DynamoLedger(table)
    function = "arn:aws:lambda:us-east-1:123456789012:function:checkout"
    pin = Pin(
        key=PinKey(function),
        generation=1,
        stage=Stage.TRACKING,
        first_seen=NOW,
        pinned_runtime_version_arn="arn:aws:lambda:us-east-1::runtime:" + "a" * 64,
        pinned_by="arn:aws:iam::123456789012:user/dev",
    )
    ledger.open(pin, NOW)
    DynamoTargetRecords(table).record(_outcome(1, complete=True))
    assert [p.key.id for p in ledger.list_pins(open_only=False)] == [pin.key.id]


def test_a_cycles_records_are_found_without_its_plan(table: Any) -> None:
    """What `rollforward scan --status` reads of a running cycle: only that cycle's records."""
    records = DynamoTargetRecords(table)
    for index in range(5):
        records.record(_outcome(index, complete=index % 2 == 0))
    earlier = _outcome(9).model_copy(update={"cycle_execution": EXECUTION + "-earlier"})
    records.record(earlier)

    found = records.of_cycle(EXECUTION)

    assert [o.target.account for o in found] == [f"{i:012d}" for i in range(5)]
    assert [o.complete for o in found] == [True, False, True, False, True]
    assert records.of_cycle(EXECUTION + "-earlier") == [
        TargetOutcome.model_validate_json(earlier.model_dump_json(exclude={"covered"}))
    ]
