"""On-call approvals: single-use, expiring, authenticated, audited.

The approval id handed out is random (128 bits) and is the only handle a human gets; the Step
Functions task token stays in the approvals table and is never logged or returned. A decision
is taken at most once (a conditional write), only before expiry, only from an allowed IAM
principal, and — with separation of duties — never by the principal who pinned the function.
Every refusal is audited and changes nothing.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from rollforward.audit import AuditEvent, AuditTrail
from rollforward.clock import iso, parse_iso, utc_now
from rollforward.ledger import Hold, Ledger, Pin, Stage
from rollforward.live import error_code
from rollforward.model import PinKey
from rollforward.policy import Policy, StagePlan, resolve_until

MAX_REASON = 1000
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


@dataclass(frozen=True)
class DecisionResult:
    approval_id: str
    pin_id: str
    decision: str
    approver: str
    reason: str
    # The approver accepts rolling forward an alias-less function with no test events on a
    # bake alone (DESIGN.md §2); the canary reads it from the task output.
    accept_untested: bool = False

    def to_dict(self) -> dict[str, str | bool]:
        return self.__dict__.copy()


def new_approval_id() -> str:
    return "apr-" + secrets.token_hex(16)


class Approvals:
    def __init__(
        self,
        *,
        table: Any,
        ledger: Ledger,
        sfn_client: Any,
        audit: AuditTrail,
        policy: Policy,
    ) -> None:
        self._table = table
        self.ledger = ledger
        self.sfn = sfn_client
        self.audit = audit
        self.policy = policy

    # ------------------------------------------------------------------ request
    def request(
        self, pin: Pin, plan: StagePlan, task_token: str, execution_arn: str
    ) -> dict[str, Any]:
        """Store a pending approval for this (pin, round) and return its public summary."""
        now = utc_now()
        expires = now + self.policy.approval.approval_timeout
        approval_id = new_approval_id()
        self._table.put_item(
            Item={
                "approval_id": approval_id,
                "pin_id": pin.key.id,
                "generation": pin.generation,
                "round": plan.round,
                "task_token": task_token,
                "execution_arn": execution_arn,
                "status": "pending",
                "requested_at": iso(now),
                "expires_at": iso(expires),
                "requested_by": "rollforward",
                "pinned_by": pin.pinned_by,
                "function_arn": pin.key.function_arn,
                "qualifier": pin.key.qualifier,
                "purge_at": int((expires + RETENTION).timestamp()),
            },
            ConditionExpression="attribute_not_exists(approval_id)",
        )
        self._supersede_previous(pin, approval_id)
        self.ledger.update(
            pin, now, stage=Stage.AWAITING_APPROVAL, approval_id=approval_id, round=plan.round
        )
        self.audit.record(
            AuditEvent.APPROVAL_REQUESTED,
            pin_id=pin.key.id,
            approval_id=approval_id,
            round=plan.round,
            expires_at=iso(expires),
        )
        return {"approval_id": approval_id, "expires_at": iso(expires), "pin_id": pin.key.id}

    def _supersede_previous(self, pin: Pin, approval_id: str) -> None:
        previous = pin.approval_id
        if not previous or previous == approval_id:
            return
        try:
            self._table.update_item(
                Key={"approval_id": previous},
                UpdateExpression="SET #s = :superseded",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":superseded": "superseded", ":pending": "pending"},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise

    def get(self, approval_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"approval_id": approval_id}, ConsistentRead=True).get(
            "Item"
        )
        return dict(item) if item else None

    def pending(self) -> list[dict[str, Any]]:
        """Pending approvals, without their task tokens."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "FilterExpression": "#s = :pending",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":pending": "pending"},
        }
        while True:
            page = self._table.scan(**kwargs)
            items.extend(
                {k: v for k, v in item.items() if k != "task_token"}
                for item in page.get("Items", [])
            )
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ------------------------------------------------------------------ decide
    def decide(
        self,
        approval_id: str,
        decision: str,
        reason: str,
        caller_arn: str,
        *,
        accept_untested: bool = False,
    ) -> DecisionResult:
        """Validate and apply a human decision. Raises Refused (audited) when not allowed.
        `accept_untested` only means something on an approval."""
        try:
            return self._decide(approval_id, decision, reason, caller_arn, accept_untested)
        except Refused as refusal:
            self.audit.record(
                AuditEvent.REFUSED,
                actor=caller_arn or "unknown",
                request="decision",
                approval_id=str(approval_id)[:80],
                decision=str(decision)[:20],
                reason=refusal.reason,
            )
            refusal.audited = True
            raise

    def _decide(
        self, approval_id: str, decision: str, reason: str, caller_arn: str, accept_untested: bool
    ) -> DecisionResult:
        if not caller_arn:
            raise Refused(
                403, "the caller's IAM identity is unknown; sign the request with IAM credentials"
            )
        try:
            choice = Decision(str(decision).lower())
        except ValueError:
            raise Refused(
                400, f"decision must be 'approve' or 'reject', not {str(decision)[:20]!r}"
            ) from None
        reason = (reason or "").strip()
        if not reason:
            raise Refused(400, "a reason is required")
        if len(reason) > MAX_REASON:
            raise Refused(400, f"the reason is longer than {MAX_REASON} characters")
        if (
            not isinstance(approval_id, str)
            or not approval_id.startswith("apr-")
            or len(approval_id) > 80
        ):
            raise Refused(404, "no such approval")
        record = self.get(approval_id)
        if record is None:
            raise Refused(404, "no such approval")
        now = utc_now()
        if record["status"] in {"approved", "rejected"}:
            raise Refused(
                409, f"approval {approval_id} was already {record['status']}; ids are single-use"
            )
        if record["status"] != "pending" or now >= parse_iso(record["expires_at"]):
            raise Refused(
                410,
                f"approval {approval_id} expired at {record['expires_at']} ({record['status']})",
            )
        refusal = self.policy.approval.approver_refusal(caller_arn, record.get("pinned_by") or None)
        if refusal:
            raise Refused(403, refusal)
        status = "approved" if choice is Decision.APPROVE else "rejected"
        try:
            self._table.update_item(
                Key={"approval_id": approval_id},
                UpdateExpression="SET #s = :status, decided_by = :by, decided_at = :at, reason = :reason",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":status": status,
                    ":by": caller_arn,
                    ":at": iso(now),
                    ":reason": reason,
                    ":pending": "pending",
                },
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise Refused(
                    409, f"approval {approval_id} was decided concurrently; ids are single-use"
                ) from None
            raise
        accept_untested = accept_untested and choice is Decision.APPROVE
        result = DecisionResult(
            approval_id, record["pin_id"], status, caller_arn, reason, accept_untested
        )
        try:
            self.sfn.send_task_success(
                taskToken=record["task_token"],
                output=json.dumps({**result.to_dict(), "decided_at": iso(now)}),
            )
        except ClientError as error:
            if error_code(error) in {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}:
                self._set_status(approval_id, "expired")
                raise Refused(
                    410, f"approval {approval_id} is no longer awaited (its request timed out)"
                ) from None
            raise
        self.audit.record(
            AuditEvent.APPROVED if status == "approved" else AuditEvent.REJECTED,
            pin_id=record["pin_id"],
            actor=caller_arn,
            approval_id=approval_id,
            reason=reason,
            accept_untested=accept_untested,
        )
        return result

    def _set_status(self, approval_id: str, status: str) -> None:
        self._table.update_item(
            Key={"approval_id": approval_id},
            UpdateExpression="SET #s = :status",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":status": status},
        )

    # ------------------------------------------------------------------ holds
    def hold(
        self, kind: str, pin_id: str, until_text: str, reason: str, caller_arn: str
    ) -> dict[str, Any]:
        """Snooze or exempt a pin (kind = 'snooze' | 'exempt'). Raises Refused (audited)."""
        try:
            return self._hold(kind, pin_id, until_text, reason, caller_arn)
        except Refused as refusal:
            self.audit.record(
                AuditEvent.REFUSED,
                actor=caller_arn or "unknown",
                request=kind,
                pin_id=str(pin_id)[:300],
                reason=refusal.reason,
            )
            refusal.audited = True
            raise

    def _hold(
        self, kind: str, pin_id: str, until_text: str, reason: str, caller_arn: str
    ) -> dict[str, Any]:
        if not caller_arn:
            raise Refused(
                403, "the caller's IAM identity is unknown; sign the request with IAM credentials"
            )
        if kind not in {"snooze", "exempt"}:
            raise Refused(400, f"unknown action {kind!r}")
        reason = (reason or "").strip()
        if not reason or len(reason) > MAX_REASON:
            raise Refused(400, "a reason (1-1000 characters) is required")
        now = utc_now()
        until = _parse_until(until_text, now)
        if kind == "snooze":
            refusal = self.policy.approval.snooze_refusal(now, until)
            if refusal:
                raise Refused(400, refusal)
        elif until <= now:
            raise Refused(400, f"exemption end {iso(until)} is not in the future")
        try:
            key = PinKey.from_id(pin_id)
        except ValueError as error:
            raise Refused(400, str(error)) from None
        pin = self.ledger.get(key)
        if pin is None or not pin.is_open:
            raise Refused(404, f"{pin_id} is not a tracked pin")
        hold = Hold(until, reason, caller_arn)
        if kind == "snooze":
            self.ledger.update(
                pin,
                now,
                snooze=hold,
                stage=Stage.SNOOZED if pin.stage is Stage.TRACKING else pin.stage,
            )
            event = AuditEvent.SNOOZED
        else:
            self.ledger.update(pin, now, exemption=hold)
            event = AuditEvent.EXEMPTED
        self.audit.record(
            event, pin_id=pin.key.id, actor=caller_arn, until=iso(until), reason=reason
        )
        return {"pin_id": pin.key.id, kind: hold.to_item()}


def _parse_until(text: str, now: datetime) -> datetime:
    try:
        return resolve_until(text, now)
    except ValueError as error:
        raise Refused(400, f"--until: {error}") from None
