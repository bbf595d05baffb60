"""Detection and the escalation ladder: the decisions behind the remediation state machine.

`Tracker` is called by the detect and scan handlers (open or close a pin from what is live
now) and by the state machine's tracking tasks (plan the next rung, send it once, record
decisions). The state machine's `$` between tasks is `rollforward.contract.WorkflowState`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from rollforward.audit.notices import NoticeKind, ladder_kind
from rollforward.audit.records import AuditEvent
from rollforward.clock import iso, utc_now
from rollforward.contract import LadderStep, TrackingStatus, WorkflowState
from rollforward.detection.observation import Action, decide, latest_covers, needs_latest_pin
from rollforward.escalation.progress import next_rung
from rollforward.ledger import FUNCTION_UPDATE_EVIDENCE, ConflictError, Hold, Pin, PinKind, Stage
from rollforward.model import LATEST, STOP_ERROR_PREFIX, PinKey, RuntimeSetting, UpdateMode
from rollforward.policy import Policy, StagePlan, format_duration, is_principal
from rollforward.ports import AuditSink, Executions, LambdaControl, Ledger, NotFound, Notifier
from rollforward.posture.drift import (
    DRIFT_DETAIL,
    STACK_NAME_TAG,
    classify_repin,
    drift_evidence,
    drift_sentence,
    noted_template_pin,
)
from rollforward.transient import Transient

# Who "pinned" a FunctionUpdate item, as its notices and the console say it.
NOBODY_PINNED = "nobody (FunctionUpdate mode, not updated since the runtime moved on)"


class Unread(Enum):
    """`observe(setting=...)` default: read the live setting now (None means "gone")."""

    UNREAD = "unread"


@dataclass(frozen=True)
class Observation:
    """What a detection (event or scan) did for one (function, qualifier)."""

    pin_id: str
    action: str  # opened | already_open | closed | not_pinned | repinned | opted_out
    stage: str = ""
    execution_arn: str = ""
    detail: str = ""


class Tracker:
    """Detection and the ladder, on the ports: what is live (`lambda_control`), what is
    remembered (`ledger`), who is told (`notifier`), what is recorded (`audit`) and the
    episode's execution (`executions`)."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        lambda_control: LambdaControl,
        executions: Executions,
        notifier: Notifier,
        audit: AuditSink,
        policy: Policy,
    ) -> None:
        self.ledger = ledger
        self.lambda_control = lambda_control
        self.executions = executions
        self.notifier = notifier
        self.audit = audit
        self.policy = policy

    # The scan paces and counts the calls made through the tracker's clients, and restarts
    # executions of the same state machine: until it acts through the ports, it reads them here
    # (None / "" when the adapters are not AWS ones).
    @property
    def lambda_client(self) -> Any:
        return getattr(self.lambda_control, "client", None)

    @property
    def sfn(self) -> Any:
        return getattr(self.executions, "client", None)

    @property
    def state_machine_arn(self) -> str:
        return str(getattr(self.executions, "state_machine_arn", ""))

    # ------------------------------------------------------------------ detection
    def observe(
        self,
        key: PinKey,
        *,
        actor: str,
        seen_at: datetime | None = None,
        source: str,
        setting: RuntimeSetting | Unread | None = Unread.UNREAD,
        source_identity: str = "",
        user_identity: Mapping[str, Any] | None = None,
    ) -> Observation:
        """Reconcile the ledger with the live setting of `key` (read now unless given).

        `rollforward.detection.observation.decide` makes the decision (the scan's dry run uses the same
        function); this carries it out. `user_identity` is the CloudTrail caller (detection;
        None from the scan): a re-pin of a promoted function by CloudFormation is drift, opened
        on the same ledger item (`rollforward.posture.drift`), not a new incident."""
        now = utc_now()
        latest = self.ledger.get(PinKey(key.function_arn)) if needs_latest_pin(key) else None
        covered = latest_covers(latest)
        if covered:  # not even read: the running canary owns this version
            return Observation(key.id, str(Action.NOT_PINNED), detail=covered)
        live = self.lambda_control.runtime_setting(key) if isinstance(setting, Unread) else setting
        pin = self.ledger.get(key)
        in_use = self._in_use(pin, live)
        decision = decide(key, pin, live, latest, in_use)
        if decision.action is Action.NOT_PINNED:
            return Observation(key.id, str(decision.action), detail=decision.detail)
        if decision.action is Action.CLOSED:
            assert pin is not None and decision.close_as is not None
            self.close(pin, decision.close_as, by=actor, detail=decision.detail)
            if not (pin.kind is PinKind.FUNCTION_UPDATE and live is not None and live.is_pinned):
                return Observation(key.id, str(decision.action), decision.stage)
            # A FunctionUpdate item ends where a human pins the function: the pin is tracked.
            pin = self.ledger.get(key)
            decision = decide(key, pin, live, latest)
        assert live is not None
        arn = live.pinned_runtime_version_arn or ""
        # Who made this call is a pinner of the episode (separation of duties): the first
        # pinner, a re-pinner, or the caller CloudTrail names after the scan found the pin.
        callers = [c for c in (actor, source_identity) if is_principal(c)]
        if decision.action is Action.REPINNED:
            assert pin is not None
            self.ledger.update(
                pin,
                now,
                pinned_runtime_version_arn=arn,
                pinners=list(dict.fromkeys([*pin.pinners, *callers])),
            )
            self.audit.record(
                AuditEvent.DETECTED, pin_id=key.id, actor=actor, source=source, repinned_to=arn
            )
            return Observation(key.id, str(decision.action), decision.stage, pin.execution_arn)
        if decision.action is Action.ALREADY_OPEN:
            assert pin is not None
            new_callers = [c for c in callers if c not in pin.all_pinners]
            if new_callers:
                self.ledger.update(pin, now, pinners=[*pin.pinners, *new_callers])
                self.audit.record(
                    AuditEvent.DETECTED,
                    pin_id=key.id,
                    actor=actor,
                    source=source,
                    pinner_identified=new_callers,
                )
            return Observation(key.id, str(decision.action), decision.stage, pin.execution_arn)
        tags = self.lambda_control.tags(key.function_arn)
        opt_out = self.policy.tags.opt_out_reason(tags)
        if (
            opt_out is not None
            and pin is not None
            and pin.stage is Stage.OPTED_OUT
            and pin.pinned_runtime_version_arn == arn
        ):  # recorded and told already
            return Observation(key.id, str(Action.OPTED_OUT), str(pin.stage), detail=opt_out)
        candidate = Pin(
            key=key,
            generation=0,
            stage=Stage.TRACKING,
            first_seen=seen_at or now,
            pinned_runtime_version_arn=arn,
            pinned_by=actor,
            pinners=[c for c in callers if c != actor],
            owner=self.policy.tags.owner_of(tags) or "",
            team=self.policy.tags.team_of(tags) or "",
            reason=tags.get("rollforward:pin-reason", ""),
        )
        drift = (
            classify_repin(
                previously_promoted=pin is not None and pin.stage is Stage.RESOLVED,
                user_identity=user_identity,
                stack_name=tags.get(STACK_NAME_TAG, ""),
                template_pin=noted_template_pin(pin.evidence) if pin is not None else None,
                runtime_version_arn=arn,
                at=seen_at or now,
            )
            if opt_out is None
            else None
        )
        if drift is not None and pin is not None:
            candidate.evidence = drift_evidence(pin.evidence, drift)
            candidate.reason = candidate.reason or (
                f"CloudFormation stack {drift.stack_name} re-applied {drift.property_path} "
                "after rollforward rolled the function forward"
            )
        if opt_out is not None:
            # Recorded (the ledger, the audit trail, the owner told once), never tracked.
            candidate.stage = Stage.OPTED_OUT
            candidate.outcome = {
                "result": str(Stage.OPTED_OUT),
                "by": actor,
                "at": iso(now),
                "detail": opt_out,
            }
        stored, opened = self.ledger.open(candidate, now)
        if not opened:
            return Observation(key.id, "already_open", str(stored.stage), stored.execution_arn)
        if opt_out is not None:
            self._record_opt_out(stored, actor=actor, reason=opt_out)
            return Observation(key.id, str(Action.OPTED_OUT), str(stored.stage), detail=opt_out)
        drifted: dict[str, Any] = {"drift": drift.entry()} if drift is not None else {}
        self.audit.record(
            AuditEvent.DETECTED,
            pin_id=key.id,
            actor=actor,
            source=source,
            pinned_runtime_version_arn=arn,
            owner=stored.owner,
            team=stored.team,
            generation=stored.generation,
            **drifted,
        )
        execution_arn = self.start_execution(stored)
        # (drift opens the next episode of the same item: "opened", the detail says drift)
        detail = f"{DRIFT_DETAIL}: {drift.stack_name} {drift.property_path}" if drift else ""
        return Observation(key.id, "opened", str(stored.stage), execution_arn, detail)

    def _in_use(self, pin: Pin | None, live: RuntimeSetting | None) -> str | None:
        """The runtime version an open FunctionUpdate item's `$LATEST` runs now (one
        GetFunctionConfiguration), to tell whether it was updated; None for every other item."""
        if (
            pin is None
            or not pin.is_open
            or pin.kind is not PinKind.FUNCTION_UPDATE
            or live is None
            or live.mode is not UpdateMode.FUNCTION_UPDATE
        ):
            return None
        try:
            return self.lambda_control.runtime_version_in_use(pin.key.function_arn, LATEST) or None
        except NotFound:
            return None

    def track_function_update(
        self,
        key: PinKey,
        *,
        runtime_version_arn: str,
        since: datetime,
        reason: str,
        facts: Mapping[str, str],
        actor: str = "rollforward (posture)",
    ) -> Observation:
        """Open a ledger item of kind `function_update` for a FunctionUpdate `$LATEST` that the
        posture report found behind the newest runtime version and not updated for
        `posture.function_update_max_age`, and start its ladder (`posture.
        function_update_escalation`). `since` (when it became unmet) is its first-seen. An
        item already open (of either kind) is left alone; an opted-out function is skipped."""
        pin = self.ledger.get(key)
        if pin is not None and pin.is_open:
            return Observation(key.id, str(Action.ALREADY_OPEN), str(pin.stage), pin.execution_arn)
        tags = self.lambda_control.tags(key.function_arn)
        opt_out = self.policy.tags.opt_out_reason(tags)
        if opt_out is not None:
            return Observation(key.id, str(Action.OPTED_OUT), detail=opt_out)
        now = utc_now()
        candidate = Pin(
            key=key,
            generation=0,
            stage=Stage.TRACKING,
            first_seen=since,
            pinned_runtime_version_arn=runtime_version_arn,
            pinned_by=NOBODY_PINNED,  # not a principal: nobody to keep from approving
            owner=self.policy.tags.owner_of(tags) or "",
            team=self.policy.tags.team_of(tags) or "",
            reason=reason,
            kind=PinKind.FUNCTION_UPDATE,
            evidence={FUNCTION_UPDATE_EVIDENCE: {**facts, "sentence": reason}},
        )
        stored, opened = self.ledger.open(candidate, now)
        if not opened:
            return Observation(key.id, "already_open", str(stored.stage), stored.execution_arn)
        self.audit.record(
            AuditEvent.DETECTED,
            pin_id=key.id,
            actor=actor,
            source="posture",
            kind=str(PinKind.FUNCTION_UPDATE),
            runtime_version_arn=runtime_version_arn,
            reason=reason,
            owner=stored.owner,
            team=stored.team,
            generation=stored.generation,
        )
        return Observation(key.id, "opened", str(stored.stage), self.start_execution(stored))

    def _record_opt_out(self, pin: Pin, *, actor: str, reason: str) -> None:
        self.audit.record(
            AuditEvent.OPTED_OUT,
            pin_id=pin.key.id,
            actor=actor,
            tag=self.policy.tags.opt_out,
            reason=reason,
            pinned_runtime_version_arn=pin.pinned_runtime_version_arn,
        )
        self.notifier.notify(
            NoticeKind.OPTED_OUT,
            pin,
            next_step="Nothing: rollforward never changes this function. Remove the tag "
            f"{self.policy.tags.opt_out} to have the pin tracked and rolled forward.",
            facts={"Opt-out reason": reason},
        )

    def opt_out(self, pin: Pin) -> WorkflowState | None:
        """If the function now carries the opt-out tag: end the episode (the ladder stops,
        nothing was changed) and return the closed state; else None. One ListTags call."""
        reason = self.policy.tags.opt_out_reason(self.lambda_control.tags(pin.key.function_arn))
        if reason is None or not pin.is_open:
            return None
        self.close(pin, Stage.OPTED_OUT, by=f"tag {self.policy.tags.opt_out}", detail=reason)
        return WorkflowState(pin.key.id, pin.generation, "closed", outcome=str(Stage.OPTED_OUT))

    def start_execution(self, pin: Pin) -> str:
        """Start this episode's execution; its name makes a second start a no-op.

        A Tracker without a state machine is one of the machine's own tasks (the ladder, the
        approval request, the canary): it neither starts nor stops executions. An episode it
        opens (the pin was closed and re-pinned meanwhile) gets its execution from the scan,
        which starts the missing execution of every open pin."""
        if not self.state_machine_arn:
            return ""
        state = WorkflowState(pin.key.id, pin.generation)
        arn = self.executions.start(pin.execution_name, state.to_dict())
        if pin.execution_arn != arn:
            with contextlib.suppress(ConflictError):  # someone else recorded it first
                self.ledger.update(pin, utc_now(), execution_arn=arn)
        return str(arn)

    def close(self, pin: Pin, stage: Stage, *, by: str, detail: str) -> Pin:
        """End an episode: ledger, audit, notice, and the tracking execution stopped."""
        now = utc_now()
        outcome = {"result": str(stage), "by": by, "at": iso(now), "detail": detail}
        pin = self.ledger.update(pin, now, stage=stage, outcome=outcome)
        event = {
            Stage.LIFTED: AuditEvent.LIFTED,
            Stage.DELETED: AuditEvent.DELETED,
            Stage.OPTED_OUT: AuditEvent.OPTED_OUT,
        }.get(stage, AuditEvent.RESOLVED)
        self.audit.record(event, pin_id=pin.key.id, actor=by, detail=detail)
        if stage is Stage.OPTED_OUT:
            self.notifier.notify(
                NoticeKind.OPTED_OUT,
                pin,
                next_step="Nothing: the ladder stopped and rollforward changed nothing. Remove "
                f"the tag {self.policy.tags.opt_out} to have the pin tracked again.",
                facts={"Opt-out reason": detail},
            )
        if stage is Stage.LIFTED and pin.kind is PinKind.MANUAL:  # (a FunctionUpdate item: met)
            self.notifier.notify(
                NoticeKind.LIFTED,
                pin,
                next_step="Nothing: tracking has ended. It starts again if the function is pinned again.",
                facts={"Lifted by": by, "Detail": detail},
            )
        # Only detection and the scan (which hold the state machine's ARN) stop executions. A
        # task of the machine itself ends its own execution by returning "closed": its role may
        # not StopExecution (a task must not stop the execution that awaits its answer).
        if pin.execution_arn and self.state_machine_arn:
            self.executions.stop(
                pin.execution_arn,
                error=f"{STOP_ERROR_PREFIX}{stage.capitalize()}",
                cause=f"{stage} by {by}: {detail}"[:32768],
            )
        return pin

    # ------------------------------------------------------------------ workflow tasks
    def plan(self, pin: Pin, now: datetime) -> WorkflowState:
        state = WorkflowState(pin.key.id, pin.generation)
        if not pin.is_open:
            state.status, state.outcome = TrackingStatus.CLOSED, str(pin.stage)
            return state
        plan = next_rung(pin, self.policy, now)  # the same reading `status` and the console show
        if plan is None:
            state.status = TrackingStatus.CLOSED
            state.outcome = "escalation exhausted (escalation.max_rounds)"
            return state
        state.next = self._plan_dict(plan)
        return state

    def _plan_dict(self, plan: StagePlan) -> LadderStep:
        return LadderStep(
            **plan.to_dict(),
            due_at=iso(plan.due),
            approval_timeout_seconds=max(
                1, int(self.policy.approval.approval_timeout.total_seconds())
            ),
        )

    def load(self, state: WorkflowState) -> Pin | None:
        pin = self.ledger.get(PinKey.from_id(state.pin_id))
        if pin is None or pin.generation != state.generation:
            return None
        return pin

    def start(self, state: WorkflowState) -> WorkflowState:
        pin = self.load(state)
        if pin is None:
            return WorkflowState(
                state.pin_id, state.generation, TrackingStatus.CLOSED, outcome="superseded"
            )
        return self.plan(pin, utc_now())

    def notice(self, state: WorkflowState) -> WorkflowState:
        """After a Wait: check the pin is still live, send the due rung once, plan the next."""
        pin = self.load(state)
        if pin is None:
            return WorkflowState(
                state.pin_id, state.generation, TrackingStatus.CLOSED, outcome="superseded"
            )
        if pin.is_open:
            observation = self.observe(pin.key, actor="rollforward (live check)", source="ladder")
            if observation.action == "closed":
                return WorkflowState(
                    state.pin_id, state.generation, TrackingStatus.CLOSED, outcome=observation.stage
                )
            pin = self.load(state) or pin
            if pin.is_open and (opted_out := self.opt_out(pin)) is not None:
                return opted_out
        now = utc_now()
        planned = self.plan(pin, now)
        if (
            planned.status == TrackingStatus.CLOSED
            or planned.next is None
            or planned.next.requests_approval
        ):
            return planned
        plan = StagePlan.from_dict(self.policy.for_kind(pin.kind), planned.next.model_dump())
        if plan.is_due(now):
            self.send_stage_notice(pin, plan)
            planned = self.plan(self.load(state) or pin, now)
        return planned

    def send_stage_notice(self, pin: Pin, plan: StagePlan, approval_id: str | None = None) -> bool:
        """Record the rung as sent (exactly once), then notify. False if it was already sent.

        A publish that fails releases the record before the error propagates, so the task's
        retry sends the rung instead of finding it sent: a failed publish never loses a rung.
        """
        now = utc_now()
        if not self.ledger.mark_notice_sent(pin, plan.key, now):
            return False
        try:
            self.notifier.notify(
                ladder_kind(plan),
                pin,
                plan=plan,
                next_step=self.describe_next(pin, now, approval_id),
                approval_id=approval_id,
            )
        except Exception:
            self.ledger.release_notice(pin, plan.key, now)
            raise
        self.audit.record(
            AuditEvent.STAGE_NOTICE,
            pin_id=pin.key.id,
            stage=plan.stage.name,
            round=plan.round,
            audience=plan.stage.audience.value,
            channel=plan.stage.channel,
            dedup_key=plan.dedup_key(pin.key),
        )
        return True

    def describe_next(self, pin: Pin, now: datetime, approval_id: str | None = None) -> str:
        """One sentence: what rollforward does next for this pin, and when."""
        if approval_id:
            timeout = format_duration(self.policy.approval.approval_timeout)
            return (
                f"Approve or reject approval {approval_id} within {timeout}; approved, rollforward "
                "moves the function to Auto behind a canary and rolls back on any regression."
            )
        drifted = drift_sentence(pin.evidence)
        prefix = f"{drifted} " if drifted else ""
        planned = self.plan(pin, now)
        if planned.status == TrackingStatus.CLOSED or planned.next is None:
            return f"{prefix}No further notices are scheduled."
        stage = self.policy.for_kind(pin.kind).stage(planned.next.stage)
        what = (
            "on-call is asked to approve a rollforward"
            if stage.requests_approval
            else f"the {stage.audience.value} is notified"
        )
        return f"{prefix}Next: {what} at {planned.next.due_at} unless the pin is lifted first."

    def approved(self, state: WorkflowState, decision: dict[str, Any]) -> WorkflowState:
        pin = self.load(state)
        if pin is None or not pin.is_open:
            return WorkflowState(
                state.pin_id, state.generation, TrackingStatus.CLOSED, outcome="superseded"
            )
        self.ledger.update(
            pin,
            utc_now(),
            stage=Stage.APPROVED,
            evidence={**pin.evidence, "approval": decision},
        )
        state.status = TrackingStatus.APPROVED
        return state

    def rejected(self, state: WorkflowState, decision: dict[str, Any]) -> WorkflowState:
        """A rejection snoozes the pin; the ladder asks again when the snooze ends."""
        pin = self.load(state)
        if pin is None or not pin.is_open:
            return WorkflowState(
                state.pin_id, state.generation, TrackingStatus.CLOSED, outcome="superseded"
            )
        now = utc_now()
        hold = Hold(
            now + self.policy.approval.reject_snooze,
            str(decision.get("reason", "")),
            str(decision.get("approver", "")),
        )
        pin = self.ledger.update(pin, now, stage=Stage.SNOOZED, snooze=hold)
        self.audit.record(
            AuditEvent.SNOOZED,
            pin_id=pin.key.id,
            actor=hold.by,
            until=iso(hold.until),
            reason=hold.reason,
            after="rejection",
        )
        self.notifier.notify(
            NoticeKind.SNOOZED,
            pin,
            next_step=f"On-call is asked again after {iso(hold.until)}.",
            facts={"Rejected by": hold.by, "Reason": hold.reason, "Snoozed until": iso(hold.until)},
        )
        return self.plan(pin, now)

    def approval_timed_out(self, state: WorkflowState) -> WorkflowState:
        pin = self.load(state)
        if pin is None or not pin.is_open:
            return WorkflowState(
                state.pin_id, state.generation, TrackingStatus.CLOSED, outcome="superseded"
            )
        self.audit.record(
            AuditEvent.APPROVAL_EXPIRED, pin_id=pin.key.id, approval_id=pin.approval_id
        )
        if pin.stage is Stage.AWAITING_APPROVAL:
            pin = self.ledger.update(pin, utc_now(), stage=Stage.TRACKING)
        return self.plan(pin, utc_now())

    def record_failure(self, state: WorkflowState, failure: dict[str, Any]) -> WorkflowState:
        pin = self.load(state)
        detail = {
            "error": str(failure.get("Error", "")),
            "cause": str(failure.get("Cause", ""))[:2000],
        }
        if pin is not None and pin.is_open:
            self.ledger.update(
                pin,
                utc_now(),
                stage=Stage.FAILED,
                outcome={"result": "failed", **detail, "at": iso(utc_now())},
            )
            self.notifier.notify(
                NoticeKind.STOPPED,
                pin,
                next_step="Tracking stopped after a failure; the next reconciling scan resumes it.",
                facts={"Error": detail["error"], "Cause": detail["cause"][:400]},
            )
        self.audit.record(
            AuditEvent.FAILED, pin_id=state.pin_id, error=detail["error"], cause=detail["cause"]
        )
        return WorkflowState(
            state.pin_id, state.generation, TrackingStatus.CLOSED, outcome="failed"
        )


# `TransientAwsError` is the old name of `Transient` (same class).
TransientAwsError = Transient

__all__ = ["Observation", "Tracker", "TransientAwsError", "UpdateMode", "WorkflowState"]
