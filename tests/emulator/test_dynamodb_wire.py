"""DynamoDB attribute values serialized by name (emulator.dynamodb_wire) are byte for byte what
moto's serializer makes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto.core.serialize import BaseJSONSerializer, JSONSerializer, XFormedAttributePicker
from moto.core.utils import get_service_model

from emulator import dynamodb_wire
from emulator.inprocess import EmbeddedAws
from tests.aws_fixtures import create_ledger_table

WIRE_ITEM: dict[str, Any] = {
    "pin_id": {"S": "orders#1"},
    "count": {"N": "12"},
    "ratio": {"N": Decimal("0.25")},
    "blob": {"B": "aGVsbG8="},
    "tags": {"SS": ["a", "b"]},
    "sizes": {"NS": ["1", "2.5"]},
    "blobs": {"BS": [b"x", "eQ=="]},
    "flag": {"BOOL": False},
    "nothing": {"NULL": True},
    "empty_string": {"S": ""},
    "empty_map": {"M": {}},
    "empty_list": {"L": []},
    "history": {
        "L": [
            {"M": {"at": {"S": "2026-01-01"}, "stage": {"S": "TRACKING"}, "n": {"N": "1"}}},
            {"L": [{"S": "deep"}, {"M": {"x": {"NULL": True}}}, None]},
            None,
        ]
    },
    "notices": {"M": {"detected": {"BOOL": True}, "gone": None, "nested": {"M": {}}}},
}


def _body(result: dict[str, Any], operation: str = "GetItem") -> str:
    model = get_service_model("dynamodb").operation_model(operation)
    serializer = JSONSerializer(operation_model=model, value_picker=XFormedAttributePicker())
    return str(serializer.serialize(result)["body"])


def _moto_body(monkeypatch: pytest.MonkeyPatch, result: dict[str, Any], operation: str) -> str:
    with monkeypatch.context() as patched:
        patched.setattr(
            BaseJSONSerializer, "_serialize_type_structure", dynamodb_wire._original["structure"]
        )
        return _body(result, operation)


@pytest.mark.parametrize(
    ("operation", "result"),
    [
        ("GetItem", {"Item": WIRE_ITEM}),
        ("Scan", {"Items": [WIRE_ITEM, {"pin_id": {"S": "b"}}], "Count": 2, "ScannedCount": 2}),
        ("UpdateItem", {"Attributes": WIRE_ITEM}),
        ("Query", {"Items": [], "Count": 0, "ScannedCount": 0}),
    ],
)
def test_the_wire_form_is_what_moto_serializes(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch, operation: str, result: dict[str, Any]
) -> None:
    fast = _body(result, operation)
    assert fast == _moto_body(monkeypatch, result, operation)
    assert json.loads(fast)  # and it is JSON


@pytest.mark.parametrize(
    "odd",
    [
        {"S": "x", "unknown": {"S": "y"}},  # a key that is not a member
        {"SS": ("a", "b")},  # a tuple, not a list
        {"M": [("k", {"S": "v"})]},  # a map that is not a dict
        {"L": ["not an attribute value"]},
    ],
)
def test_what_the_wire_form_does_not_take_moto_serializes(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch, odd: dict[str, Any]
) -> None:
    result = {"Item": {"pin_id": {"S": "a"}, "odd": odd}}
    try:
        expected: str | type[BaseException] = _moto_body(monkeypatch, result, "GetItem")
    except Exception as error:  # moto refuses it: so does the fast path, the same way
        expected = type(error)
    try:
        fast: str | type[BaseException] = _body(result, "GetItem")
    except Exception as error:
        fast = type(error)
    assert fast == expected


def test_items_read_back_through_boto3_are_unchanged(aws: EmbeddedAws) -> None:
    create_ledger_table()
    table = boto3.resource("dynamodb", region_name="us-east-1").Table("ledger")
    item = {
        "pin_id": "orders#1",
        "generation": Decimal(3),
        "raw": b"\x00\x01binary",
        "tags": {"a", "b"},
        "sizes": {Decimal(1), Decimal("2.5")},
        "nothing": None,
        "flag": True,
        "history": [{"stage": "TRACKING", "n": Decimal(1)}, ["deep", None]],
        "notices": {"detected": {"at": "2026-01-01"}},
    }
    table.put_item(Item=item)
    assert table.get_item(Key={"pin_id": "orders#1"})["Item"] == item
    assert table.scan()["Items"] == [item]
