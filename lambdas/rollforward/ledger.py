"""The ledger: one DynamoDB item per pinned (function, qualifier).

Every write is conditional, so the same CloudTrail event delivered five times, or a scan racing
an event, changes the ledger once. A pin's *generation* counts its episodes (pinned, lifted,
pinned again); the tracking execution of an episode is named after it, so Step Functions itself
refuses a second execution for the same episode.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from rollforward.clock import iso, parse_iso
from rollforward.model import PinKey


class Stage(StrEnum):
    TRACKING = "tracking"  # on the escalation ladder
    AWAITING_APPROVAL = "awaiting_approval"
    SNOOZED = "snoozed"
    APPROVED = "approved"
    CANARY = "canary"
    RESOLVED = "resolved"  # rolled forward to Auto and verified
    LIFTED = "lifted"  # somebody moved it off Manual
    DELETED = "deleted"  # the function or version is gone
    FAILED = "failed"  # a step failed; tracking resumes on the next scan
    OPTED_OUT = "opted_out"  # the function carries the opt-out tag: never moved


OPEN_STAGES = {Stage.TRACKING, Stage.AWAITING_APPROVAL, Stage.SNOOZED, Stage.APPROVED, Stage.CANARY}


@dataclass(frozen=True)
class Hold:
    """A snooze or an exemption: until when, why, and who said so."""

    until: datetime
    reason: str
    by: str

    def to_item(self) -> dict[str, str]:
        return {"until": iso(self.until), "reason": self.reason, "by": self.by}

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> Hold | None:
        if not item:
            return None
        return cls(parse_iso(item["until"]), item["reason"], item["by"])


@dataclass
class Pin:
    key: PinKey
    generation: int
    stage: Stage
    first_seen: datetime
    pinned_runtime_version_arn: str
    pinned_by: str
    owner: str = ""
    # Every principal seen pinning this episode (the first pinner, re-pinners, a pinner the
    # CloudTrail event named after the scan found the pin): none of them may approve or hold.
    pinners: list[str] = field(default_factory=list)
    team: str = ""
    reason: str = ""
    pinned_runtime_version_name: str = ""
    round: int = 0
    notices: dict[str, str] = field(default_factory=dict)  # "<stage>#<round>" -> sent at
    snooze: Hold | None = None
    exemption: Hold | None = None
    execution_arn: str = ""
    approval_id: str = ""
    outcome: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    updated_at: str = ""

    @property
    def all_pinners(self) -> tuple[str, ...]:
        """`pinned_by` and every later pinner, without repeats."""
        return tuple(dict.fromkeys(p for p in (self.pinned_by, *self.pinners) if p))

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES

    @property
    def execution_name(self) -> str:
        """Deterministic per episode: Step Functions refuses a duplicate name."""
        digest = hashlib.sha256(self.key.id.encode()).hexdigest()[:20]
        return f"pin-{self.key.function_name[:40]}-{digest}-g{self.generation}"

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pin_id": self.key.id,
            "function_arn": self.key.function_arn,
            "function_name": self.key.function_name,
            "qualifier": self.key.qualifier,
            "account": self.key.account,
            "region": self.key.region,
            "generation": self.generation,
            "stage": str(self.stage),
            "is_open": self.is_open,
            "first_seen": iso(self.first_seen),
            "pinned_runtime_version_arn": self.pinned_runtime_version_arn,
            "pinned_runtime_version_name": self.pinned_runtime_version_name,
            "pinned_by": self.pinned_by,
            "pinners": list(self.pinners),
            "owner": self.owner,
            "team": self.team,
            "reason": self.reason,
            "round": self.round,
            "notices": self.notices,
            "execution_arn": self.execution_arn,
            "approval_id": self.approval_id,
            "outcome": self.outcome,
            "evidence": self.evidence,
            "updated_at": self.updated_at,
        }
        if self.snooze:
            item["snooze"] = self.snooze.to_item()
        if self.exemption:
            item["exemption"] = self.exemption.to_item()
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Pin:
        item = _plain(item)
        return cls(
            key=PinKey(item["function_arn"], item["qualifier"]),
            generation=int(item["generation"]),
            stage=Stage(item["stage"]),
            first_seen=parse_iso(item["first_seen"]),
            pinned_runtime_version_arn=item.get("pinned_runtime_version_arn", ""),
            pinned_runtime_version_name=item.get("pinned_runtime_version_name", ""),
            pinned_by=item.get("pinned_by", ""),
            pinners=[str(p) for p in item.get("pinners", [])],
            owner=item.get("owner", ""),
            team=item.get("team", ""),
            reason=item.get("reason", ""),
            round=int(item.get("round", 0)),
            notices=dict(item.get("notices", {})),
            snooze=Hold.from_item(item.get("snooze")),
            exemption=Hold.from_item(item.get("exemption")),
            execution_arn=item.get("execution_arn", ""),
            approval_id=item.get("approval_id", ""),
            outcome=dict(item.get("outcome", {})),
            evidence=dict(item.get("evidence", {})),
            updated_at=item.get("updated_at", ""),
        )


class ConflictError(Exception):
    """The item changed under us (another writer won the condition)."""


class Ledger:
    """Data access for pins. `table` is a boto3 DynamoDB Table resource."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, key: PinKey) -> Pin | None:
        item = self._table.get_item(Key={"pin_id": key.id}, ConsistentRead=True).get("Item")
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
            self._table.put_item(
                Item=_dynamo(pin.to_item()),
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except ClientError as error:
            if _is_condition_failure(error):
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
            self._table.update_item(
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
            if _is_condition_failure(error):
                raise ConflictError(f"{pin.key.id} moved to another generation") from error
            raise
        return pin

    def mark_notice_sent(self, pin: Pin, notice_key: str, now: datetime) -> bool:
        """True exactly once per (pin generation, notice key), however often it is retried."""
        try:
            self._table.update_item(
                Key={"pin_id": pin.key.id},
                UpdateExpression="SET notices.#k = :at",
                ConditionExpression="generation = :g AND attribute_not_exists(notices.#k)",
                ExpressionAttributeNames={"#k": notice_key},
                ExpressionAttributeValues={":at": iso(now), ":g": pin.generation},
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        pin.notices[notice_key] = iso(now)
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
            page = self._table.scan(**kwargs)
            pins.extend(Pin.from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return pins
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _is_condition_failure(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _dynamo(value: Any) -> Any:
    """DynamoDB refuses floats and empty-string map keys are fine; convert floats to Decimal."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dynamo(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
