"""Every DynamoDB item operation is atomic, as on AWS: no reader ever sees half an UpdateItem.

moto applies an UpdateItem's SET actions one by one on the stored item; without the emulator's
request lock a GetItem on another thread saw a new `snooze` beside the old `stage` (a flake in
tests/e2e/test_lifecycle.py). Here writers set ten attributes to one value per UpdateItem while
readers check that all ten always agree.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

ATTRIBUTES = [f"a{i}" for i in range(10)]
WRITES = 250


@pytest.fixture
def fine_grained_switching() -> Iterator[None]:
    """Switch threads as often as CPython allows, so a torn read shows within a few writes."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def test_a_reader_never_sees_a_half_applied_update_item(aws, fine_grained_switching):
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"pk": {"S": "fn"}}
    dynamodb.put_item(TableName="ledger", Item={**key, **{a: {"N": "0"} for a in ATTRIBUTES}})
    update = "SET " + ", ".join(f"{a} = :n" for a in ATTRIBUTES)
    writing = threading.Event()
    writing.set()
    torn: list[dict[str, str]] = []

    def write(n: int) -> None:
        dynamodb.update_item(
            TableName="ledger",
            Key=key,
            UpdateExpression=update,
            ExpressionAttributeValues={":n": {"N": str(n)}},
        )

    def read() -> int:
        reads = 0
        while writing.is_set():
            item = dynamodb.get_item(TableName="ledger", Key=key)["Item"]
            values = {a: item[a]["N"] for a in ATTRIBUTES}
            if len(set(values.values())) != 1:
                torn.append(values)
            reads += 1
        return reads

    with ThreadPoolExecutor(max_workers=6) as pool:
        readers = [pool.submit(read) for _ in range(2)]
        list(pool.map(write, range(1, WRITES + 1)))
        writing.clear()
        reads = sum(reader.result() for reader in readers)

    assert reads > 0
    assert torn == [], f"{len(torn)} of {reads} reads saw a half-applied UpdateItem: {torn[0]}"
    final = dynamodb.get_item(TableName="ledger", Key=key)["Item"]
    assert len({final[a]["N"] for a in ATTRIBUTES}) == 1
