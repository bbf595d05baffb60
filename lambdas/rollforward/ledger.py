"""The ledger: one item per pinned (function, qualifier) — the pin, its stage and its item form.

Every write is conditional, so the same CloudTrail event delivered five times, or a scan racing
an event, changes the ledger once. A pin's *generation* counts its episodes (pinned, lifted,
pinned again); the tracking execution of an episode is named after it, so Step Functions itself
refuses a second execution for the same episode.

The store is `rollforward.ports.Ledger`; on AWS, `rollforward.adapters.dynamodb_ledger`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

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


class PinKind(StrEnum):
    """What a ledger item tracks. Items written before kinds existed are Manual pins."""

    MANUAL = "manual"  # a human (or a stack) pinned the runtime: roll it forward
    # FunctionUpdate mode, behind the newest runtime version and not updated for
    # `posture.function_update_max_age`: its own ladder, and an approved switch to Auto behind
    # the canary. `pinned_runtime_version_arn` is the runtime version it runs (the baseline).
    FUNCTION_UPDATE = "function_update"


# The evidence key of a `function_update` item: what the posture report found (runtime, newest
# runtime version seen, last update, the sentence its notices carry).
FUNCTION_UPDATE_EVIDENCE = "function_update"


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
    kind: PinKind = PinKind.MANUAL

    @property
    def all_pinners(self) -> tuple[str, ...]:
        """`pinned_by` and every later pinner, without repeats."""
        return tuple(dict.fromkeys(p for p in (self.pinned_by, *self.pinners) if p))

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES

    def is_run_by(self, execution_arn: str) -> bool:
        """Whether `execution_arn` is the execution the ledger names for this episode (or either
        is unknown). One that is not — a dead execution a human redrove after the scan had
        restored its canary and started another — must act on nothing: its state is stale."""
        return not self.execution_arn or not execution_arn or self.execution_arn == execution_arn

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
            "kind": str(self.kind),
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
            kind=PinKind(item.get("kind") or PinKind.MANUAL),
        )


class ConflictError(Exception):
    """The item changed under us (another writer won the condition)."""


def _plain(value: Any) -> Any:
    """DynamoDB's numbers (Decimal) as the int or float they were written as."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
