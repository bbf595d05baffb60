"""View models: what each page shows, computed from the ledger, the approvals and the audit
trail; the templates only lay them out (and escape everything: it is other people's input).

Also the decision form, validated on the server (the browser's `required` is a courtesy).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollforward import failures
from rollforward.approvals import MAX_REASON
from rollforward.audit import AuditRecord
from rollforward.clock import iso, parse_iso
from rollforward.ledger import OPEN_STAGES, Pin, Stage
from rollforward.model import PinKey

from ..commands.base import UsageError, check_until
from ..commands.pins import NextStep
from ..render import format_age, format_relative, jsonable, short_runtime_version
from .chart import CanaryChart, ChartStep, canary_chart, chart_steps

DECISION_ACTIONS = ("approve", "reject")
HOLD_ACTIONS = ("snooze", "exempt")
PAST_TENSE = {
    "approve": "approved",
    "reject": "rejected",
    "snooze": "snoozed",
    "exempt": "exempted",
}
STAGE_ORDER = [str(stage) for stage in Stage]
# Audit events that end a canary (the post-promotion verdict is judged at the first of them).
CANARY_ENDINGS = {"resolved", "rolled_back", "stopped", "failed"}


def _time(value: object) -> datetime | None:
    try:
        return parse_iso(str(value)) if value else None
    except ValueError:
        return None


def _relative(value: object, now: datetime) -> str:
    moment = value if isinstance(value, datetime) else _time(value)
    return format_relative(moment, now) if moment else ""


@dataclass(frozen=True)
class PinRow:
    pin_id: str
    function_name: str
    qualifier: str
    account_region: str
    runtime: str
    age: str
    age_seconds: int
    stage: str
    stage_note: str
    owner: str
    team: str
    next_label: str
    next_when: str
    approval_id: str

    @classmethod
    def of(
        cls, pin: Pin, now: datetime, step: NextStep | None, approval: dict[str, Any] | None
    ) -> PinRow:
        note = ""
        if pin.exemption and pin.exemption.until > now and pin.is_open:
            note = f"exempt until {iso(pin.exemption.until)}"
        elif pin.snooze and pin.snooze.until > now and pin.is_open:
            note = f"snoozed until {iso(pin.snooze.until)}"
        when = ""
        if step and step.due:
            when = format_relative(step.due, now).replace(" ago", " overdue")
        return cls(
            pin_id=pin.key.id,
            function_name=pin.key.function_name,
            qualifier=pin.key.qualifier,
            account_region=f"{pin.key.account}/{pin.key.region}",
            runtime=short_runtime_version(
                pin.pinned_runtime_version_arn, pin.pinned_runtime_version_name
            ),
            age=format_age(now - pin.first_seen),
            age_seconds=max(0, int((now - pin.first_seen).total_seconds())),
            stage=str(pin.stage),
            stage_note=note,
            owner=pin.owner,
            team=pin.team,
            next_label=step.label if step else "",
            next_when=when,
            approval_id=str(approval.get("approval_id", "")) if approval else "",
        )


@dataclass(frozen=True)
class PendingApproval:
    approval_id: str
    pin_id: str
    function_name: str
    qualifier: str
    owner: str
    pinned_by: str
    age: str
    requested: str
    expires: str
    round: str

    @classmethod
    def of(cls, item: dict[str, Any], pin: Pin | None, now: datetime) -> PendingApproval:
        pin_id = str(item.get("pin_id", ""))
        try:
            key: PinKey | None = PinKey.from_id(pin_id)
        except ValueError:
            key = None
        return cls(
            approval_id=str(item.get("approval_id", "")),
            pin_id=pin_id,
            function_name=key.function_name if key else pin_id,
            qualifier=key.qualifier if key else "",
            owner=pin.owner if pin else "",
            pinned_by=str(item.get("pinned_by", "")),
            age=format_age(now - pin.first_seen) if pin else "",
            requested=_relative(item.get("requested_at"), now),
            expires=_relative(item.get("expires_at"), now),
            round=str(item.get("round", "")),
        )


@dataclass(frozen=True)
class FleetView:
    now: datetime
    rows: list[PinRow]
    pending: list[PendingApproval]
    include_closed: bool

    @property
    def stage_counts(self) -> list[tuple[str, int]]:
        """Every stage that has pins, in lifecycle order."""
        counts = Counter(row.stage for row in self.rows)
        return [(stage, counts[stage]) for stage in STAGE_ORDER if counts[stage]]

    @property
    def open_count(self) -> int:
        return sum(1 for row in self.rows if row.stage in {str(s) for s in OPEN_STAGES})

    @property
    def oldest(self) -> PinRow | None:
        open_rows = [row for row in self.rows if row.stage in {str(s) for s in OPEN_STAGES}]
        return max(open_rows, key=lambda row: row.age_seconds) if open_rows else None


@dataclass(frozen=True)
class TimelineEntry:
    at: str
    ago: str
    event: str
    actor: str
    summary: str
    details_json: str


def _summary(event: str, details: dict[str, Any], limit: int = 160) -> str:
    """One line for the timeline; the full record is one click away."""
    verdict = details.get("verdict")
    if isinstance(verdict, dict):
        reasons = "; ".join(str(r) for r in verdict.get("reasons") or [])
        text = f"{details.get('step', '')}: {verdict.get('outcome', '')}" + (
            f" ({reasons})" if reasons else ""
        )
    else:
        parts = []
        for key in sorted(details):
            if key == "verdicts":
                continue
            value = details[key]
            shown = value if isinstance(value, str) else json.dumps(jsonable(value), sort_keys=True)
            parts.append(f"{key}={shown}")
        text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class PinView:
    row: PinRow
    pin: Pin
    fields: list[tuple[str, str]]
    approval: dict[str, Any] | None
    approval_pending: bool
    canaries: list[CanaryView]
    timeline: list[TimelineEntry]

    @classmethod
    def of(
        cls,
        pin: Pin,
        now: datetime,
        step: NextStep | None,
        approval: dict[str, Any] | None,
        records: Sequence[AuditRecord],
    ) -> PinView:
        pending = bool(approval and approval.get("status") == "pending")
        row = PinRow.of(pin, now, step, approval if pending else None)
        runtime = pin.pinned_runtime_version_arn
        if pin.pinned_runtime_version_name:
            runtime = f"{pin.pinned_runtime_version_name} ({runtime})"

        def hold(value: Any) -> str:
            return f"until {iso(value.until)} by {value.by}: {value.reason}" if value else ""

        fields = [
            ("Pin id", pin.key.id),
            ("Account / region", row.account_region),
            ("Pinned runtime", runtime),
            ("Pinned by", pin.pinned_by),
            ("Why pinned", pin.reason),
            ("First seen", f"{iso(pin.first_seen)} ({row.age} ago)"),
            ("Owner", pin.owner),
            ("Team", pin.team),
            ("Episode", f"generation {pin.generation}, round {pin.round}"),
            ("Snoozed", hold(pin.snooze)),
            ("Exempt", hold(pin.exemption)),
            ("Next", f"{row.next_label} {row.next_when}".strip()),
            ("Execution", pin.execution_arn),
        ]
        if approval:
            decided = (
                f", {approval.get('status')} by {approval.get('decided_by')}: "
                f"{approval.get('reason', '')}"
                if approval.get("decided_by")
                else ""
            )
            fields.append(
                (
                    "Approval",
                    f"{approval.get('approval_id')} {approval.get('status', '')}, "
                    f"expires {approval.get('expires_at', '?')}{decided}",
                )
            )
        if pin.outcome:
            fields.append(("Outcome", _summary("outcome", pin.outcome, limit=400)))
        canaries = []
        for slot, title in (("canary", "Canary"), ("last_canary", "Last canary (rolled back)")):
            state = pin.evidence.get(slot)
            if isinstance(state, dict):
                canaries.append(CanaryView.of(title, state, records))
        timeline = [
            TimelineEntry(
                at=iso(record.at),
                ago=format_relative(record.at, now),
                event=record.event,
                actor=record.actor,
                summary=_summary(record.event, record.details),
                details_json=json.dumps(jsonable(record.details), indent=2, sort_keys=True),
            )
            for record in records
        ]
        return cls(
            row=row,
            pin=pin,
            fields=[(label, value) for label, value in fields if value],
            approval=approval,
            approval_pending=pending,
            canaries=canaries,
            timeline=timeline,
        )


@dataclass(frozen=True)
class CanaryView:
    title: str
    facts: list[tuple[str, str]]
    steps: list[ChartStep]
    chart: CanaryChart | None
    # Behind a disclosure: the failure's own document (a trace, if any) and the raw evidence.
    failure_details: str = ""
    raw_evidence: str = ""

    @classmethod
    def of(cls, title: str, state: dict[str, Any], records: Sequence[AuditRecord]) -> CanaryView:
        # This canary's records: from its first traffic step to how it ended (a later
        # canary of the same pin has records of its own).
        started = _time(state.get("started_at"))
        ended = next(
            (
                record.at
                for record in records
                if record.event in CANARY_ENDINGS and (started is None or record.at >= started)
            ),
            None,
        )
        judged = [
            record.at
            for record in records
            if record.event == "canary_step"
            and str(record.details.get("step", "")).startswith("judge")
            and (started is None or record.at >= started)
            and (ended is None or record.at <= ended)
        ]
        verdicts = [v for v in state.get("verdicts") or [] if isinstance(v, dict)]
        steps = chart_steps(verdicts, judged, ended)
        because = failures.split_reason(str(state.get("rolled_back_because", "")))
        facts = [
            ("Strategy", str(state.get("strategy", ""))),
            ("Alias", str(state.get("alias", ""))),
            ("Baseline version", str(state.get("baseline_version", ""))),
            ("Candidate version", str(state.get("candidate_version", ""))),
            ("Candidate runtime", str(state.get("candidate_runtime_arn", ""))),
            ("Started", str(state.get("started_at", ""))),
            ("Next", str(state.get("next", ""))),
            ("Rolled back because", because.sentence),
            ("Restored", "; ".join(str(r) for r in state.get("restored") or [])),
        ]
        return cls(
            title=title,
            facts=[(label, value) for label, value in facts if value],
            steps=steps,
            chart=canary_chart(steps),
            failure_details=because.details,
            raw_evidence=json.dumps(state, indent=2, sort_keys=True, default=str),
        )


# ------------------------------------------------------------------------ the decision form


class Refusal(Exception):
    """A request the console answers with a page saying why (nothing was sent anywhere)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


@dataclass(frozen=True)
class Subject:
    function_name: str
    qualifier: str
    pin_id: str
    expires_at: str
    note: str


@dataclass(frozen=True)
class DecisionForm:
    """A validated decision form: what will be POSTed to the decision API."""

    action: str
    target_id: str  # the approval id (approve / reject) or the pin id (snooze / exempt)
    reason: str
    until: str = ""

    @property
    def past(self) -> str:
        return PAST_TENSE[self.action]

    @property
    def fields(self) -> dict[str, str]:
        if self.action in HOLD_ACTIONS:
            return {
                "action": self.action,
                "pin_id": self.target_id,
                "until": self.until,
                "reason": self.reason,
            }
        return {"action": self.action, "approval_id": self.target_id, "reason": self.reason}


def read_decision(form: Any) -> DecisionForm:
    """Validate a decision form on the server (the browser's `required` is a courtesy)."""
    action = form.get("action", "")
    if action not in DECISION_ACTIONS + HOLD_ACTIONS:
        raise Refusal(
            400, "Unknown action", "The action must be approve, reject, snooze or exempt."
        )
    reason = form.get("reason", "").strip()
    if not reason:
        raise Refusal(
            400,
            "A reason is required",
            f"Say why you {action}: the reason goes into the audit trail. Nothing was sent.",
        )
    if len(reason) > MAX_REASON:
        raise Refusal(
            400, "Reason too long", f"The reason is {len(reason)} characters; at most {MAX_REASON}."
        )
    if action in DECISION_ACTIONS:
        approval_id = form.get("approval_id", "").strip()
        if (
            not approval_id.startswith("apr-")
            or len(approval_id) > 80
            or any(c.isspace() for c in approval_id)
        ):
            raise Refusal(400, "Not an approval id", "Approval ids look like apr-<32 hex digits>.")
        return DecisionForm(action, approval_id, reason)
    pin_id = form.get("pin_id", "")
    try:
        PinKey.from_id(pin_id)
    except ValueError:
        raise Refusal(400, "Not a pin id", "The pin id must look like ARN#QUALIFIER.") from None
    try:
        until = check_until(form.get("until", ""))
    except UsageError:
        raise Refusal(
            400,
            "Until when?",
            "'Until' must be a duration from now (3d, 12h, 1d12h) or an ISO date or date/time "
            "with a zone (2026-12-24, 2026-12-24T09:00:00Z). Nothing was sent.",
        ) from None
    return DecisionForm(action, pin_id, reason, until)
