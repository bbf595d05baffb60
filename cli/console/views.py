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
from typing import TYPE_CHECKING, Any

from rollforward import failures
from rollforward.approvals import is_approval_id, reason_problem
from rollforward.audit.records import AuditRecord
from rollforward.clock import iso, parse_iso, utc_now
from rollforward.escalation.progress import Attempts, NextStep, round_label
from rollforward.ledger import OPEN_STAGES, Pin, Stage
from rollforward.model import PinKey
from rollforward.policy import resolve_until

from ..details import (
    OUTCOME_WORDS,
    attempt_text,
    attempts_summary,
    canary_plan_text,
    pin_fields,
    progress_fields,
    target_runtime,
    when,
)
from ..render import format_age, format_relative, jsonable, short_runtime_version
from .chart import CanaryChart, ChartStep, canary_chart, chart_steps

if TYPE_CHECKING:  # the view models need no AWS library at run time
    from ..commands.pins import PinDetail

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
    attempts: int
    last_outcome: str

    @classmethod
    def of(
        cls, pin: Pin, now: datetime, step: NextStep | None, approval: dict[str, Any] | None
    ) -> PinRow:
        attempts = Attempts.of(pin.evidence)
        last = attempts.last
        note = ""
        if pin.exemption and pin.exemption.until > now and pin.is_open:
            note = f"exempt until {iso(pin.exemption.until)}"
        elif pin.snooze and pin.snooze.until > now and pin.is_open:
            note = f"snoozed until {iso(pin.snooze.until)}"
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
            next_when=when(step, now),
            approval_id=str(approval.get("approval_id", "")) if approval else "",
            attempts=attempts.count,
            last_outcome=(
                ("running" if pin.stage is Stage.CANARY else "")
                or (OUTCOME_WORDS.get(last.outcome, last.outcome) if last else "")
            ),
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
    target_runtime: str
    attempts: str
    previous: list[str]
    canary_plan: str  # what the canary would do, from the function's traffic (issue 11)

    @classmethod
    def of(cls, item: dict[str, Any], pin: Pin | None, now: datetime) -> PendingApproval:
        attempts = Attempts.of(pin.evidence if pin else {})
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
            round=round_label(item.get("round")),
            target_runtime=target_runtime(pin, attempts) if pin else "",
            attempts=attempts_summary(attempts),
            previous=[attempt_text(attempt, now) for attempt in attempts.items],
            canary_plan=canary_plan_text(pin) if pin else "",
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
    running: list[tuple[str, str]]
    canaries: list[CanaryView]
    timeline: list[TimelineEntry]

    @classmethod
    def of(cls, detail: PinDetail) -> PinView:
        pin, now, approval, records = detail.pin, detail.now, detail.approval, detail.timeline
        progress = detail.progress
        pending = bool(approval and approval.get("status") == "pending")
        row = PinRow.of(pin, now, detail.step, approval if pending else None)
        fields = pin_fields(pin, now, detail.step, approval, detail.attempts)  # running: below
        if pin.outcome:
            fields.append(("Outcome", _summary("outcome", pin.outcome, limit=400)))
        canaries = []
        if progress is not None:
            running = {"strategy": progress.strategy, "verdicts": list(progress.verdicts)}
            canaries.append(CanaryView.of("Canary (running)", running, records))
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
            running=[(label, value) for label, value in progress_fields(progress, now) if value]
            if progress
            else [],
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
            and str(record.details.get("step", "")).startswith(("judge", "look"))
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
    reason = form.get("reason", "")
    problem = reason_problem(reason)
    if problem is not None:
        title = "A reason is required" if not reason.strip() else "Reason not accepted"
        raise Refusal(
            400,
            title,
            f"Say why you {action}: {problem} (it goes into the audit trail). Nothing was sent.",
        )
    reason = reason.strip()
    if action in DECISION_ACTIONS:
        approval_id = form.get("approval_id", "").strip()
        if not is_approval_id(approval_id):
            raise Refusal(400, "Not an approval id", "Approval ids look like apr-<32 hex digits>.")
        return DecisionForm(action, approval_id, reason)
    pin_id = form.get("pin_id", "")
    try:
        PinKey.from_id(pin_id)
    except ValueError:
        raise Refusal(400, "Not a pin id", "The pin id must look like ARN#QUALIFIER.") from None
    until = form.get("until", "").strip()
    try:
        # The format only (the decision API resolves it on its own clock, and applies limits).
        resolve_until(until, utc_now())
    except ValueError:
        raise Refusal(
            400,
            "Until when?",
            "'Until' must be a duration from now (3d, 12h, 1d12h) or an ISO date or date/time "
            "with a zone (2026-12-24, 2026-12-24T09:00:00Z). Nothing was sent.",
        ) from None
    return DecisionForm(action, pin_id, reason, until)
