"""On-call approvals and holds: single-use, expiring, authenticated, audited.

The approval id handed out is random (128 bits) and is the only handle a human gets; the Step
Functions task token stays in the approvals table and is never logged or returned. A decision
is taken at most once (a conditional write), only before expiry, only from an allowed IAM
principal, never by root, and — with separation of duties — never by a principal that pinned
the function, and only while the pin is still open and the function still pinned.

The token is not the authority: whoever answers it (a principal that read it from the
execution history, say) only wakes the workflow, whose next step (`verify`) re-reads this
table and honours a decision only from a record the decision API wrote for this pin, episode
and round, consuming it once. Everything downstream (decision, approver, accept_untested,
reason) comes from that record, never from the callback's payload. Anything else is audited
as a forgery on the pin's timeline and the same approval is awaited again.

Every refusal is audited (with the pin's id whenever the request names a known approval or
pin, so it is on the pin's timeline) and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rollforward.approvals.rules import (
    RETENTION,
    Decision,
    DecisionResult,
    Refused,
    check_reason,
    claimed_evidence,
    evidence_text,
    is_approval_id,
    new_approval_id,
    parse_until,
)
from rollforward.audit.records import AuditEvent
from rollforward.clock import iso, parse_iso, utc_now
from rollforward.ledger import Hold, Pin, PinKind, Stage
from rollforward.model import PinKey, RuntimeSetting, UpdateMode
from rollforward.policy import Policy, StagePlan
from rollforward.ports import ApprovalStore, AuditSink, Executions, LambdaControl, Ledger
from rollforward.transient import Transient


class Approvals:
    """Requests, decisions, verification and holds, on the ports: approval records (`store`),
    pins (`ledger`), the waiting workflow (`executions`), the trail (`audit`) and, when given,
    the live setting (`lambda_control`: a lifted pin is not approved)."""

    def __init__(
        self,
        *,
        store: ApprovalStore,
        ledger: Ledger,
        executions: Executions,
        audit: AuditSink,
        policy: Policy,
        lambda_control: LambdaControl | None = None,
    ) -> None:
        self.store = store
        self.lambda_control = lambda_control
        self.ledger = ledger
        self.executions = executions
        self.audit = audit
        self.policy = policy

    # ------------------------------------------------------------------ request
    def request(
        self, pin: Pin, plan: StagePlan, task_token: str, execution_arn: str
    ) -> dict[str, Any]:
        """Store a pending approval for this (pin, round) and return its public summary.

        When this (pin, episode, round) already has a pending, unexpired approval (the
        workflow is asking again after a forged answer), that same approval is re-armed with
        the new token: the id on-call was paged with stays valid."""
        now = utc_now()
        rearmed = self._rearm(pin, plan, task_token, execution_arn, now)
        if rearmed is not None:
            return rearmed
        expires = now + self.policy.approval.approval_timeout
        approval_id = new_approval_id()
        self.store.create(
            {
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
                "pinners": list(pin.all_pinners),
                "pinned_runtime_version_arn": pin.pinned_runtime_version_arn,
                "function_arn": pin.key.function_arn,
                "qualifier": pin.key.qualifier,
                "purge_at": int((expires + RETENTION).timestamp()),
            }
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

    def _rearm(
        self, pin: Pin, plan: StagePlan, task_token: str, execution_arn: str, now: datetime
    ) -> dict[str, Any] | None:
        record = self.get(pin.approval_id) if pin.approval_id else None
        if (
            record is None
            or record.get("pin_id") != pin.key.id
            or int(record.get("generation", -1)) != pin.generation
            or int(record.get("round", -1)) != plan.round
            or record.get("status") != "pending"
            or now >= parse_iso(record["expires_at"])
        ):
            return None
        if not self.store.rearm(pin.approval_id, task_token, execution_arn):
            return None  # decided meanwhile: a new request supersedes nothing pending
        self.audit.record(
            AuditEvent.APPROVAL_REQUESTED,
            pin_id=pin.key.id,
            approval_id=pin.approval_id,
            round=plan.round,
            expires_at=record["expires_at"],
            rearmed=True,
        )
        return {
            "approval_id": pin.approval_id,
            "expires_at": record["expires_at"],
            "pin_id": pin.key.id,
        }

    def _supersede_previous(self, pin: Pin, approval_id: str) -> None:
        previous = pin.approval_id
        if not previous or previous == approval_id:
            return
        self.store.supersede(previous)  # False: decided or expired already, nothing to do

    def get(self, approval_id: str) -> dict[str, Any] | None:
        return self.store.get(approval_id)

    def pending(self) -> list[dict[str, Any]]:
        """Pending approvals, without their task tokens."""
        return self.store.pending()

    # ------------------------------------------------------------------ decide
    def decide(
        self,
        approval_id: object,
        decision: object,
        reason: object,
        caller_arn: str,
        *,
        accept_untested: object = False,
    ) -> DecisionResult:
        """Validate and apply a human decision. Raises Refused (audited) when not allowed.
        `accept_untested` only means something on an approval. Arguments are the request's
        raw JSON values: their types are checked here, after the approval (hence the pin)
        is known, so that the refusal is audited on the pin's timeline."""
        try:
            return self._decide(approval_id, decision, reason, caller_arn, accept_untested)
        except Refused as refusal:
            self.audit.record(
                AuditEvent.REFUSED,
                pin_id=refusal.pin_id,
                actor=caller_arn or "unknown",
                request="decision",
                approval_id=evidence_text(approval_id, 80),
                decision=evidence_text(decision, 20),
                status=refusal.status,
                reason=refusal.reason,
            )
            refusal.audited = True
            raise

    def _decide(
        self,
        approval_id: object,
        decision: object,
        reason: object,
        caller_arn: str,
        accept_untested: object,
    ) -> DecisionResult:
        if not is_approval_id(approval_id):
            raise Refused(404, "no such approval")
        record = self.get(approval_id)
        if record is None:
            raise Refused(404, "no such approval")
        pin_id = str(record["pin_id"])
        try:
            return self._decide_on(record, decision, reason, caller_arn, accept_untested)
        except Refused as refusal:
            refusal.pin_id = pin_id
            raise

    def _decide_on(
        self,
        record: dict[str, Any],
        decision: object,
        reason: object,
        caller_arn: str,
        accept_untested: object,
    ) -> DecisionResult:
        approval_id = str(record["approval_id"])
        if not caller_arn:
            raise Refused(
                403, "the caller's IAM identity is unknown; sign the request with IAM credentials"
            )
        if not isinstance(decision, str):
            raise Refused(400, "decision must be 'approve' or 'reject'")
        try:
            choice = Decision(decision.lower())
        except ValueError:
            raise Refused(
                400, f"decision must be 'approve' or 'reject', not {decision[:20]!r}"
            ) from None
        text = check_reason(reason)
        if not isinstance(accept_untested, bool):
            raise Refused(400, "accept_untested must be true or false")
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
        pin = self._open_pin(str(record["pin_id"]), int(record["generation"]))
        refusal = self.policy.approval.approver_refusal(
            caller_arn, pin.all_pinners, pinned=pin.kind is PinKind.MANUAL
        )
        if refusal:
            raise Refused(403, refusal)
        status = "approved" if choice is Decision.APPROVE else "rejected"
        accept_untested = accept_untested and choice is Decision.APPROVE
        decided = self.store.decide(
            approval_id,
            status=status,
            by=caller_arn,
            at=now,
            reason=text,
            accept_untested=accept_untested,
        )
        if not decided:
            raise Refused(
                409, f"approval {approval_id} was decided concurrently; ids are single-use"
            )
        result = DecisionResult(
            approval_id, str(record["pin_id"]), status, caller_arn, text, accept_untested
        )
        # Only wakes the workflow: its VerifyDecision step reads the record just written.
        self._wake(approval_id, str(record["task_token"]), {"approval_id": approval_id})
        self.audit.record(
            AuditEvent.APPROVED if status == "approved" else AuditEvent.REJECTED,
            pin_id=record["pin_id"],
            actor=caller_arn,
            approval_id=approval_id,
            reason=text,
            accept_untested=accept_untested,
        )
        return result

    def _wake(self, approval_id: str, token: str, output: dict[str, Any]) -> None:
        for _ in range(3):
            if self.executions.send_task_success(token, output):
                return
            # The workflow may have re-armed this approval with a new token meanwhile (after
            # a forged answer): send to the token it waits on now.
            current = self.get(approval_id) or {}
            if current.get("task_token") in (None, token):
                break
            token = str(current["task_token"])
        self._set_status_if_unconsumed(approval_id, "expired")
        raise Refused(410, f"approval {approval_id} is no longer awaited (its request timed out)")

    def _open_pin(self, pin_id: str, generation: int) -> Pin:
        """The pin, if this episode is still open and the function still pinned, else Refused."""
        pin = self.ledger.get(PinKey.from_id(pin_id))
        if pin is None or pin.generation != generation:
            raise Refused(409, f"{pin_id} was lifted and pinned again: this approval is void")
        if not pin.is_open:
            raise Refused(409, f"{pin_id} is no longer tracked ({pin.stage}): nothing to decide")
        if self.lambda_control is not None:
            try:
                live: RuntimeSetting | bool | None = self.lambda_control.runtime_setting(pin.key)
            except Transient:
                # Throttled: decide on the ledger alone. The canary's preflight re-reads the
                # live setting before it changes anything, so a lifted pin is still not moved.
                live = True
            if live is None:
                raise Refused(
                    410, f"{pin_id}: the function or version no longer exists; nothing to decide"
                )
            expected = (
                UpdateMode.FUNCTION_UPDATE
                if pin.kind is PinKind.FUNCTION_UPDATE
                else UpdateMode.MANUAL
            )
            if isinstance(live, RuntimeSetting) and live.mode is not expected:
                raise Refused(
                    409,
                    f"{pin_id} was lifted (runtime updates are {live.mode}): nothing to decide",
                )
        return pin

    def _set_status_if_unconsumed(self, approval_id: str, status: str) -> None:
        self.store.set_status_if_unconsumed(approval_id, status)

    # ------------------------------------------------------------------ verify
    def verify(
        self,
        pin_id: str,
        generation: int,
        round_: int,
        claimed: object,
        execution_arn: str,
    ) -> dict[str, Any]:
        """The decision the workflow acts on after its approval callback returned.

        Honoured only from this pin's current approval record, for this episode and round,
        decided through the decision API by a principal that is still authorized, and
        consumed here once (conditional write). The callback's payload (`claimed`) is only
        evidence: a record that is still pending, or any other answer, is a forgery —
        audited on the pin's timeline — and the answer is `{"decision": "forged"}`: the
        workflow asks for the same approval again. `closed` when the episode ended."""
        now = utc_now()
        pin = self.ledger.get(PinKey.from_id(pin_id))
        if pin is None or pin.generation != generation or not pin.is_open:
            return {"decision": "closed"}
        record = self.get(pin.approval_id) if pin.approval_id else None
        problem = self._record_problem(record, pin, round_)
        if problem is None:
            assert record is not None
            consumed = self.store.consume(
                str(record["approval_id"]), status=str(record["status"]), at=now, by=execution_arn
            )
            if not consumed:
                problem = "the approval was consumed already"
        if problem is None:
            assert record is not None
            return {
                "decision": str(record["status"]),
                "approval_id": str(record["approval_id"]),
                "approver": str(record["decided_by"]),
                "reason": str(record.get("reason", "")),
                "accept_untested": record.get("accept_untested") is True,
                "decided_at": str(record.get("decided_at", "")),
            }
        self.audit.record(
            AuditEvent.FORGED_DECISION,
            pin_id=pin.key.id,
            actor="unknown (whoever answered the task token)",
            approval_id=pin.approval_id,
            round=round_,
            why=problem,
            claimed=claimed_evidence(claimed),
            next="the same approval is awaited again; nothing changed",
        )
        remaining = 1
        if record is not None and record.get("expires_at"):
            remaining = max(1, int((parse_iso(record["expires_at"]) - now).total_seconds()))
        return {"decision": "forged", "approval_timeout_seconds": remaining}

    def _record_problem(self, record: dict[str, Any] | None, pin: Pin, round_: int) -> str | None:
        if record is None:
            return "no approval record for this pin"
        if (
            record.get("pin_id") != pin.key.id
            or int(record.get("generation", -1)) != pin.generation
            or int(record.get("round", -1)) != round_
        ):
            return "the approval record is for another pin, episode or round"
        if record.get("status") not in {"approved", "rejected"} or not record.get("decided_by"):
            return f"the approval record is {record.get('status')}, not decided through the API"
        if record.get("consumed_at"):
            return "the approval was consumed already"
        return self.policy.approval.approver_refusal(
            str(record["decided_by"]), pin.all_pinners, pinned=pin.kind is PinKind.MANUAL
        )

    # ------------------------------------------------------------------ holds
    def hold(
        self, kind: str, pin_id: object, until_text: object, reason: object, caller_arn: str
    ) -> dict[str, Any]:
        """Snooze or exempt a pin (kind = 'snooze' | 'exempt'). Raises Refused (audited).

        A hold stops the ladder, so it takes an approver's authority (allowed approvers, not
        root, not a pinner of this episode) and stays within the policy's maximum."""
        try:
            return self._hold(kind, pin_id, until_text, reason, caller_arn)
        except Refused as refusal:
            self.audit.record(
                AuditEvent.REFUSED,
                pin_id=refusal.pin_id,
                actor=caller_arn or "unknown",
                request=kind,
                target=evidence_text(pin_id, 300),
                until=evidence_text(until_text, 64),
                status=refusal.status,
                reason=refusal.reason,
            )
            refusal.audited = True
            raise

    def _hold(
        self, kind: str, pin_id: object, until_text: object, reason: object, caller_arn: str
    ) -> dict[str, Any]:
        if kind not in {"snooze", "exempt"}:
            raise Refused(400, f"unknown action {kind[:20]!r}")
        if not isinstance(pin_id, str) or len(pin_id) > 300:
            raise Refused(400, "pin_id must be a pin id (<function ARN>#<qualifier>)")
        try:
            key = PinKey.from_id(pin_id)
        except ValueError as error:
            raise Refused(400, str(error)[:300]) from None
        pin = self.ledger.get(key)
        if pin is None:
            raise Refused(404, f"{pin_id} is not a tracked pin")
        try:
            return self._hold_pin(kind, pin, until_text, reason, caller_arn)
        except Refused as refusal:
            refusal.pin_id = pin.key.id
            raise

    def _hold_pin(
        self, kind: str, pin: Pin, until_text: object, reason: object, caller_arn: str
    ) -> dict[str, Any]:
        if not caller_arn:
            raise Refused(
                403, "the caller's IAM identity is unknown; sign the request with IAM credentials"
            )
        text = check_reason(reason)
        now = utc_now()
        until = parse_until(until_text, now)
        approval = self.policy.approval
        refusal = (
            approval.snooze_refusal(now, until)
            if kind == "snooze"
            else approval.exemption_refusal(now, until)
        )
        if refusal:
            raise Refused(400, refusal)
        pin = self._open_pin(pin.key.id, pin.generation)
        refusal = approval.approver_refusal(
            caller_arn, pin.all_pinners, pinned=pin.kind is PinKind.MANUAL
        )
        if refusal:
            raise Refused(403, refusal)
        hold = Hold(until, text, caller_arn)
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
        self.audit.record(event, pin_id=pin.key.id, actor=caller_arn, until=iso(until), reason=text)
        return {"pin_id": pin.key.id, kind: hold.to_item()}
