"""Approval rules, pure: what a decision and a hold must be, the approval id's form, and the
evidence a refusal or a forgery records. The store and the workflow are the service's
(`rollforward.approvals.service`); who may decide is `ApprovalSettings.approver_refusal` over
`rollforward.approvals.principals`.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeGuard

from rollforward.policy.durations import resolve_until

MAX_REASON = 1000
APPROVAL_ID = re.compile(r"apr-[0-9a-f]{32}")  # what `new_approval_id` hands out
# Approval records are kept for the audit after they are used or expire, then purged.
RETENTION = timedelta(days=400)


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class Refused(Exception):
    """A decision or command that is not allowed. `status` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.audited = False
        self.pin_id: str | None = None


@dataclass(frozen=True)
class DecisionResult:
    approval_id: str
    pin_id: str
    decision: str
    approver: str
    reason: str
    # The approver accepts rolling forward an alias-less function with no test events on a
    # bake alone (docs/design.md §2); the canary reads it from the task output.
    accept_untested: bool = False

    def to_dict(self) -> dict[str, str | bool]:
        return self.__dict__.copy()


def new_approval_id() -> str:
    return "apr-" + secrets.token_hex(16)


def is_approval_id(value: object) -> TypeGuard[str]:
    """The shape of an id `new_approval_id` hands out: checked before any read, by the
    decision API and by every client (a typo is told at once, nothing is sent)."""
    return isinstance(value, str) and APPROVAL_ID.fullmatch(value) is not None


def reason_problem(value: object) -> str | None:
    """Why `value` cannot be a decision's or hold's reason, or None when it can (after
    stripping): a string of 1 to `MAX_REASON` characters. The one rule every client checks."""
    if not isinstance(value, str):
        return f"the reason must be a string (1-{MAX_REASON} characters)"
    text = value.strip()
    if not text:
        return "a reason is required"
    if len(text) > MAX_REASON:
        return f"the reason is {len(text)} characters; at most {MAX_REASON}"
    return None


def check_reason(reason: object) -> str:
    """The reason, stripped; Refused (400) unless `reason_problem` finds nothing wrong."""
    problem = reason_problem(reason)
    if problem is not None or not isinstance(reason, str):
        raise Refused(400, problem or "a reason is required")
    return reason.strip()


def evidence_text(value: object, limit: int) -> str:
    """A request value, as evidence in an audit record: short, and never a nested blob."""
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, dict | list):
        return f"<a JSON {'object' if isinstance(value, dict) else 'array'}>"
    return json.dumps(value, default=str)[:limit]


def claimed_evidence(payload: object) -> dict[str, str]:
    """The forged callback's payload, as evidence: top-level scalars only, truncated."""
    if not isinstance(payload, dict):
        return {"payload": evidence_text(payload, 200)}
    return {
        str(key)[:40]: evidence_text(value, 200)
        for key, value in list(payload.items())[:10]
        if not isinstance(value, dict | list)
    }


def parse_until(text: object, now: datetime) -> datetime:
    if not isinstance(text, str):
        raise Refused(400, "--until must be a string (an ISO date/time or a duration like 3d)")
    try:
        return resolve_until(text, now)
    except ValueError as error:
        raise Refused(400, f"--until: {error}") from None
