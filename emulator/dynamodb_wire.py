"""DynamoDB attribute values serialized without moto's generic attribute picker.

moto serializes every response through its model-driven serializer, which for each member of
each structure builds a picker context and asks five alias providers where the value might be.
A DynamoDB `AttributeValue` is a structure of ten members, and an item is a tree of them: a
ledger item took ~9 ms to serialize (GetItem, Scan), under the lock that makes DynamoDB
requests atomic (`emulator.dynamodb`). An attribute value reaches the serializer as a plain
dict already in wire form (`{"S": ...}`, `{"M": {...}}`), so its members are read by name: for
such a dict, whose keys are all member names, moto's alias providers find each member under
its own name (no alias of the model's names is a member name).

The output is what moto's serializer makes, member for member and in the model's order: a
string member through `str` (an Enum through its value), a blob base64-encoded, a boolean as
is, lists and maps element by element, a None map entry left out and a None list element kept.
Anything else (an object that is not a plain dict, a key that is not a member, a member type
other than these) goes to moto's serializer unchanged.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

_installed = False
# moto's own structure serializer (what a value this path does not take goes to)
_original: dict[str, Any] = {}


class _NotPlain(Exception):
    """The value is not one this fast path reproduces exactly: let moto serialize it."""


def _string(value: Any) -> Any:
    # moto.core.serialize.BaseJSONSerializer._serialize_type_string
    if isinstance(value, Enum):
        value = value.value
    return str(value) if value not in [None, {}, []] else value


def _attribute_value(serializer: Any, value: Any, shape: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise _NotPlain
    members = shape.members
    for name in value:
        if name not in members:
            raise _NotPlain
    wrapper: dict[str, Any] = {}
    for name, member in members.items():
        if name not in value:
            continue
        item = value[name]
        if item is None:
            continue
        wrapper[name] = _member(serializer, item, member, shape)
    return wrapper


def _member(serializer: Any, value: Any, shape: Any, attribute_value: Any) -> Any:
    kind = shape.type_name
    if kind == "string":
        return _string(value)
    if kind == "blob":
        return serializer._base64(value)
    if kind == "boolean":
        return value
    if kind == "list":
        if type(value) is not list:
            raise _NotPlain
        element = shape.member
        if element.type_name == "structure" and element.name == attribute_value.name:
            return [
                None if item is None else _attribute_value(serializer, item, element)
                for item in value
            ]
        if element.type_name in {"string", "blob"}:
            return [_member(serializer, item, element, attribute_value) for item in value]
        raise _NotPlain
    if kind == "map":
        if type(value) is not dict or shape.value.name != attribute_value.name:
            raise _NotPlain
        if shape.value.serialization.get("name"):
            raise _NotPlain
        return {
            key: _attribute_value(serializer, item, shape.value)
            for key, item in value.items()
            if item is not None
        }
    raise _NotPlain


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.core.serialize import (
        DEFAULT_ALIAS_PROVIDERS,
        BaseJSONSerializer,
        XFormedAttributePicker,
    )

    original = BaseJSONSerializer._serialize_type_structure
    _original["structure"] = original

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (
            key
            and shape.name == "AttributeValue"
            and self.service_model.service_name == "dynamodb"
            and type(self._value_picker) is XFormedAttributePicker
            and not self._value_picker.response_transformers
            and self._value_picker.alias_providers == DEFAULT_ALIAS_PROVIDERS
            and not shape.serialization.get("name")
        ):
            try:
                wire = _attribute_value(self, value, shape)
            except _NotPlain:
                pass
            else:
                serialized[key] = wire
                return
        original(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]
    _installed = True
