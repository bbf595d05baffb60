"""`DynamoCanaryLocks` on the embedded DynamoDB: the conditional writes that keep one canary
per function, and the ledger's listing that never mistakes a lock for a pin."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from rollforward.adapters.dynamodb_ledger import DynamoLedger
from rollforward.adapters.dynamodb_locks import DynamoCanaryLocks, lock_id
from rollforward.ledger import Pin, Stage
from rollforward.model import PinKey

from emulator.inprocess import EmbeddedAws
from tests.aws_fixtures import create_ledger_table

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:checkout"
LATEST_PIN, VERSION_PIN = f"{FUNCTION}#$LATEST", f"{FUNCTION}#1"
NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


@pytest.fixture
def table() -> Iterator[Any]:
    with EmbeddedAws():
        yield create_ledger_table()


def test_one_holder_at_a_time_and_only_the_holder_releases(table: Any) -> None:
    locks = DynamoCanaryLocks(table)
    assert locks.acquire(FUNCTION, LATEST_PIN, NOW) is None
    assert locks.acquire(FUNCTION, LATEST_PIN, NOW) is None  # a retried start: still its own
    assert locks.acquire(FUNCTION, VERSION_PIN, NOW) == LATEST_PIN
    locks.release(FUNCTION, VERSION_PIN)  # not its hold: nothing happens
    assert locks.acquire(FUNCTION, VERSION_PIN, NOW) == LATEST_PIN
    locks.release(FUNCTION, LATEST_PIN)
    assert locks.acquire(FUNCTION, VERSION_PIN, NOW) is None
    locks.release(FUNCTION, VERSION_PIN)
    locks.release(FUNCTION, VERSION_PIN)  # already free: nothing to do
    item = table.get_item(Key={"pin_id": lock_id(FUNCTION)}).get("Item")
    assert item is None


def test_a_take_over_needs_the_stale_holder_to_still_hold_it(table: Any) -> None:
    locks = DynamoCanaryLocks(table)
    locks.acquire(FUNCTION, LATEST_PIN, NOW)
    assert not locks.take_over(FUNCTION, VERSION_PIN, "someone-else", NOW)
    assert locks.take_over(FUNCTION, VERSION_PIN, LATEST_PIN, NOW)
    assert locks.acquire(FUNCTION, LATEST_PIN, NOW) == VERSION_PIN


def test_the_ledger_listing_skips_locks(table: Any) -> None:
    ledger = DynamoLedger(table)
    pin = Pin(
        key=PinKey(FUNCTION),
        generation=1,
        stage=Stage.CANARY,
        first_seen=NOW,
        pinned_runtime_version_arn="arn:aws:lambda:us-east-1::runtime:" + "a" * 64,
        pinned_by="arn:aws:iam::123456789012:user/dev",
    )
    ledger.open(pin, NOW)
    DynamoCanaryLocks(table).acquire(FUNCTION, pin.key.id, NOW)
    assert [p.key.id for p in ledger.list_pins(open_only=False)] == [pin.key.id]
    assert [p.key.id for p in ledger.list_pins()] == [pin.key.id]
