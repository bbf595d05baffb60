"""Where a pin stands, as every client shows it: what happens next and when, which round of
approval requests it is in, how far a running canary has come, and how earlier attempts ended.

Pure: the ledger item, the policy, the pin's audit records and `now` in; frozen values out. The
ladder is read through `next_rung`, the same function `Tracker.plan` plans with, so what the
CLI and the console predict is what the state machine does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rollforward.audit.records import AuditEvent, AuditRecord
from rollforward.canary.sequential_judge import Evidence, error_free_invocations_to_pass
from rollforward.clock import iso, parse_iso
from rollforward.ledger import Pin, Stage
from rollforward.policy import Policy, StagePlan, next_stage

# Ledger evidence keys a canary leaves (written by rollforward.canary).
RUNNING_CANARY = "canary_in_flight"
PROMOTED_CANARY = "canary"
ROLLED_BACK_CANARY = "last_canary"
STOPPED_CANARY = "stopped"
ATTEMPTS = "attempts"
ATTEMPT_COUNT = "attempt_count"
MAX_ATTEMPTS_KEPT = 10  # the ledger item stays small; the audit trail keeps every attempt


def _moment(value: object) -> datetime | None:
    """A timestamp from a ledger or approval item; None when absent or not a timestamp."""
    if isinstance(value, datetime):
        return value
    try:
        return parse_iso(str(value)) if value else None
    except ValueError:
        return None


# ------------------------------------------------------------------------ the ladder


def sent_notices(pin: Pin) -> dict[str, datetime]:
    """The rungs already sent, by stage key. A time that does not parse counts as not sent:
    the ladder sends that rung again rather than stalling on a damaged item."""
    return {key: at for key, text in pin.notices.items() if (at := _moment(text))}


def next_rung(pin: Pin, policy: Policy, now: datetime) -> StagePlan | None:
    """The ladder's next rung for this pin and when it is due; None when
    `escalation.max_rounds` is used up. The pin's kind picks its ladder (`Policy.for_kind`)."""
    return next_stage(
        policy.for_kind(pin.kind),
        pin.first_seen,
        sent_notices(pin),
        now,
        pin.snooze.until if pin.snooze else None,
        pin.exemption.until if pin.exemption else None,
    )


@dataclass(frozen=True)
class NextStep:
    """What happens next to a pin and when (`due` None: not on a timer)."""

    label: str
    due: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "due_at": iso(self.due) if self.due else None}


def next_step(
    pin: Pin, policy: Policy, now: datetime, approval_expires_at: object = None
) -> NextStep | None:
    """The next rung of the ladder, the pending decision, or the canary in progress; None for
    a closed pin. `approval_expires_at` is the pending approval's expiry, when there is one."""
    if not pin.is_open:
        return None
    if pin.stage is Stage.AWAITING_APPROVAL:
        return NextStep("decision (request expires)", _moment(approval_expires_at))
    if pin.stage in (Stage.APPROVED, Stage.CANARY):
        return NextStep("canary", None)
    plan = next_rung(pin, policy, now)
    if plan is None:
        return NextStep("none (escalation.max_rounds reached)", None)
    return NextStep(f"{plan.key} -> {plan.stage.audience.value}", plan.due)


def round_label(round_: object) -> str:
    """Rounds count from 0 in the ledger and the ladder (`approval#1` is the second request);
    people count from 1: the third request is "round 3". "" when `round_` is not a count."""
    if isinstance(round_, bool):
        return ""
    try:
        number = int(str(round_))
    except ValueError:
        return ""
    return f"round {number + 1}" if number >= 0 else ""


# ------------------------------------------------------------------------ canary attempts


@dataclass(frozen=True)
class Attempt:
    """One canary that ended: promoted, rolled back, or stopped before any change."""

    outcome: str  # promoted | rolled_back | stopped
    at: datetime | None
    reason: str = ""
    candidate_runtime_arn: str = ""

    def to_item(self) -> dict[str, str]:
        return {
            "outcome": self.outcome,
            "at": iso(self.at) if self.at else "",
            "reason": self.reason,
            "candidate_runtime_arn": self.candidate_runtime_arn,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Attempt:
        return cls(
            outcome=str(item.get("outcome", "")),
            at=_moment(item.get("at")),
            reason=str(item.get("reason", "")),
            candidate_runtime_arn=str(item.get("candidate_runtime_arn", "")),
        )


def with_attempt(evidence: Mapping[str, Any], attempt: Attempt) -> dict[str, Any]:
    """The pin's evidence with one more ended attempt recorded (the newest `MAX_ATTEMPTS_KEPT`
    kept, and the count of all of them)."""
    kept = [*_attempt_items(evidence), attempt.to_item()][-MAX_ATTEMPTS_KEPT:]
    count = max(_int(evidence.get(ATTEMPT_COUNT)), len(_attempt_items(evidence))) + 1
    return {**evidence, ATTEMPTS: kept, ATTEMPT_COUNT: count}


def _attempt_items(evidence: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = evidence.get(ATTEMPTS)
    return (
        [dict(item) for item in items if isinstance(item, Mapping)]
        if isinstance(items, list)
        else []
    )


def _int(value: object) -> int:
    if isinstance(value, bool):
        return 0
    try:
        return max(0, int(str(value)))
    except ValueError:
        return 0


@dataclass(frozen=True)
class Attempts:
    """A pin's ended canaries, oldest first, and how many there were in all."""

    items: tuple[Attempt, ...] = ()
    count: int = 0

    @property
    def last(self) -> Attempt | None:
        return self.items[-1] if self.items else None

    @classmethod
    def of(cls, evidence: Mapping[str, Any]) -> Attempts:
        """From the ledger's record of attempts; for an item written before it was kept, from
        the last promoted, rolled back or stopped canary the evidence still holds."""
        items = [Attempt.from_item(item) for item in _attempt_items(evidence)]
        if not items:
            items = _older_evidence(evidence)
        count = max(_int(evidence.get(ATTEMPT_COUNT)), len(items))
        return cls(tuple(sorted(items, key=_attempt_order)), count)


def _attempt_order(attempt: Attempt) -> datetime:
    return attempt.at or datetime.min.replace(tzinfo=UTC)


def _older_evidence(evidence: Mapping[str, Any]) -> list[Attempt]:
    found = []
    for outcome, slot, because in (
        ("promoted", PROMOTED_CANARY, "reason"),
        ("rolled_back", ROLLED_BACK_CANARY, "rolled_back_because"),
        ("stopped", STOPPED_CANARY, "reason"),
    ):
        state = evidence.get(slot)
        if not isinstance(state, Mapping) or (outcome == "promoted" and not state.get("promoted")):
            continue
        found.append(
            Attempt(
                outcome,
                _moment(state.get("at")),
                str(state.get(because, "")),
                str(state.get("candidate_runtime_arn", "")),
            )
        )
    return found


# ------------------------------------------------------------------------ a running canary


@dataclass(frozen=True)
class CanaryProgress:
    """A canary that is running now: where it is, for how long, what it has seen, when it
    should end if every remaining step passes at its first judgement."""

    strategy: str
    step: int  # 1-based; 0 before the first traffic step
    steps: int
    weight: float
    step_started_at: datetime | None
    step_ends_at: datetime | None
    expected_end: datetime | None
    time_in_step: timedelta | None
    candidate_version: str
    baseline_version: str
    candidate_runtime_arn: str
    verdicts: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    # The sequential judge (None with the fixed-horizon one): its evidence so far.
    sequential: SequentialProgress | None = None

    @property
    def phase(self) -> str:
        """A few words: what the canary is doing now."""
        if self.step == 0:
            return "preparing the candidate"
        if self.step > self.steps:
            return "post-promotion bake"
        return f"step {self.step} of {self.steps}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "phase": self.phase,
            "step": self.step,
            "steps": self.steps,
            "weight": self.weight,
            "step_started_at": iso(self.step_started_at) if self.step_started_at else None,
            "step_ends_at": iso(self.step_ends_at) if self.step_ends_at else None,
            "time_in_step_seconds": int(self.time_in_step.total_seconds())
            if self.time_in_step is not None
            else None,
            "expected_end": iso(self.expected_end) if self.expected_end else None,
            "candidate_version": self.candidate_version,
            "baseline_version": self.baseline_version,
            "candidate_runtime_arn": self.candidate_runtime_arn,
            "verdicts": list(self.verdicts),
            "sequential": self.sequential.to_dict() if self.sequential else None,
        }


@dataclass(frozen=True)
class SequentialProgress:
    """What the sequential judge has seen so far, from the evidence the canary stores at each
    look (`sequential_judge.Evidence`): the looks, the counts, both e-values against their
    thresholds, and how many more error-free candidate invocations a PASS needs."""

    looks: int
    minutes: int
    candidate_invocations: int
    candidate_errors: int
    baseline_invocations: int
    baseline_errors: int
    regression_evidence: float  # FAIL at `fail_at` (1 / false_rollback)
    healthy_evidence: float  # PASS at `pass_at` (1 / false_pass), with enough invocations
    fail_at: float
    pass_at: float
    to_pass: int  # more candidate invocations, error-free, until PASS
    next_look_at: datetime | None
    plan_end: datetime | None  # the last look: undecided there is INCONCLUSIVE
    plan_summary: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "looks": self.looks,
            "minutes": self.minutes,
            "candidate_invocations": self.candidate_invocations,
            "candidate_errors": self.candidate_errors,
            "baseline_invocations": self.baseline_invocations,
            "baseline_errors": self.baseline_errors,
            "regression_evidence": self.regression_evidence,
            "healthy_evidence": self.healthy_evidence,
            "fail_at": self.fail_at,
            "pass_at": self.pass_at,
            "to_pass": self.to_pass,
            "next_look_at": iso(self.next_look_at) if self.next_look_at else None,
            "plan_end": iso(self.plan_end) if self.plan_end else None,
            "plan_summary": self.plan_summary,
        }


def _sequential(
    state: Mapping[str, Any], policy: Policy, now: datetime
) -> tuple[SequentialProgress, datetime | None] | None:
    """The sequential judge's progress, and when a healthy candidate should PASS at the
    traffic seen so far (never past the plan's end); None for the fixed-horizon judge or
    before the first look's evidence is stored."""
    if state.get("judge") != "sequential" or not isinstance(state.get("evidence"), Mapping):
        return None
    try:
        evidence = Evidence.from_dict(state["evidence"])
    except ValueError:
        return None
    judge = policy.canary.sequential_policy()
    to_pass = error_free_invocations_to_pass(evidence, judge)
    plan_end = _moment(state.get("plan_end"))
    folded = _moment(state.get("folded_until"))
    pass_at: datetime | None = plan_end
    if evidence.minutes and evidence.candidate_invocations and folded is not None:
        per_minute = evidence.candidate_invocations / evidence.minutes
        # The minutes still to serve, then the settling lag and the look that reads them.
        wait = timedelta(minutes=to_pass / per_minute) + (now - folded)
        wait += policy.canary.look_interval
        pass_at = now + wait if plan_end is None else min(plan_end, now + wait)
    progress = SequentialProgress(
        looks=int(state.get("looks") or 0),
        minutes=evidence.minutes,
        candidate_invocations=evidence.candidate_invocations,
        candidate_errors=evidence.candidate_errors,
        baseline_invocations=evidence.baseline_invocations,
        baseline_errors=evidence.baseline_errors,
        regression_evidence=round(
            math.exp(min(evidence.log_fail_ratio_max, evidence.log_fail_rate_max, 700.0)), 4
        ),
        healthy_evidence=round(math.exp(min(evidence.log_pass_max, 700.0)), 4),
        fail_at=round(1 / judge.false_rollback, 4),
        pass_at=round(1 / judge.false_pass, 4),
        to_pass=to_pass,
        next_look_at=_moment(state.get("bake_until")),
        plan_end=plan_end,
        plan_summary=str(state.get("plan_summary", "")),
    )
    return progress, pass_at


def _shift_step(text: str) -> tuple[int, int] | None:
    """`shift 2/3` → (2, 3)."""
    name, _, rest = text.partition(" ")
    index, _, total = rest.partition("/")
    if name != "shift" or not index.isdigit() or not total.isdigit():
        return None
    return int(index), int(total)


def _judged(records: Sequence[AuditRecord]) -> list[dict[str, Any]]:
    """This canary's verdicts from its audit records, in the ledger's shape (step, weight,
    outcome and the judge's evidence), each with the weight of the shift before it."""
    weight: float | None = None
    verdicts: list[dict[str, Any]] = []
    for record in records:
        if record.event != AuditEvent.CANARY_STEP:
            continue
        step = str(record.details.get("step", ""))
        if _shift_step(step):
            weight = float(record.details.get("weight") or 0.0)
        verdict = record.details.get("verdict")
        if isinstance(verdict, Mapping):
            name, _, number = step.partition(" ")
            evidence = verdict.get("evidence")
            verdicts.append(
                {
                    "step": int(number) if name == "judge" and number.isdigit() else step,
                    "weight": weight,
                    "outcome": str(verdict.get("outcome", "")),
                    **(dict(evidence) if isinstance(evidence, Mapping) else {}),
                }
            )
    return verdicts


def running_canary(
    pin: Pin, policy: Policy, records: Sequence[AuditRecord], now: datetime
) -> CanaryProgress | None:
    """The canary running on this pin now, or None when none is.

    Read from the canary's own record in the ledger (written before each change it makes) and
    from this canary's audit records (every traffic shift names its step, weight and bake end;
    every judgement its verdict), whichever is newer: the state machine carries the live state
    between steps, the audit trail has each step as it happened."""
    if pin.stage is not Stage.CANARY:
        return None
    raw = pin.evidence.get(RUNNING_CANARY)
    state: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    # This canary's records: those after the approval that started it.
    started = max(
        (r.at for r in records if r.event == AuditEvent.APPROVED),
        default=None,
    )
    mine = [r for r in records if started is None or r.at >= started]
    steps = len(policy.canary.steps)
    index = state.get("step_index", -1)
    step = index + 1 if isinstance(index, int) and not isinstance(index, bool) and index >= 0 else 0
    weight = float(state.get("weight") or 0.0)
    step_started = _moment(state.get("window_start"))
    step_ends = _moment(state.get("bake_until"))
    verdicts = [dict(v) for v in state.get("verdicts") or [] if isinstance(v, Mapping)]
    shift = next(
        (
            r
            for r in reversed(mine)
            if r.event == AuditEvent.CANARY_STEP and _shift_step(str(r.details.get("step", "")))
        ),
        None,
    )
    if shift is not None and (step_started is None or shift.at > step_started):
        index, steps = _shift_step(str(shift.details["step"])) or (step, steps)
        step, step_started = index, shift.at
        weight = float(shift.details.get("weight") or weight)
        step_ends = _moment(shift.details.get("bake_until")) or step_ends
    judged = _judged(mine)
    if len(judged) > len(verdicts):
        verdicts = judged
    if step_started is not None:
        # An inconclusive judgement after this step began extended its bake.
        extended = [
            r.at
            for r in mine
            if r.at > step_started
            and r.event == AuditEvent.CANARY_STEP
            and isinstance(r.details.get("verdict"), Mapping)
            and str(r.details["verdict"].get("outcome", "")).lower() == "inconclusive"
        ]
        if extended:
            step_ends = max(extended) + policy.canary.bake
    remaining = max(0, steps - step)
    expected_end = (
        step_ends + policy.canary.bake * remaining + policy.canary.post_promotion_bake
        if step_ends is not None
        else None
    )
    sequential = _sequential(state, policy, now)
    if sequential is not None:
        # The step ends when the plan says (`step_until`), not at the next look; the canary
        # ends when the evidence suffices, expected from the traffic seen so far.
        step_ends = _moment(state.get("step_until")) or step_ends
        steps = len(state.get("step_seconds") or []) or steps
        passes_at = sequential[1]
        expected_end = passes_at + policy.canary.post_promotion_bake if passes_at else None
    return CanaryProgress(
        strategy=str(state.get("strategy", "")),
        step=step,
        steps=steps,
        weight=weight,
        step_started_at=step_started,
        step_ends_at=step_ends,
        expected_end=expected_end,
        time_in_step=max(timedelta(0), now - step_started) if step_started else None,
        candidate_version=str(state.get("candidate_version", "")),
        baseline_version=str(state.get("baseline_version", "")),
        candidate_runtime_arn=str(state.get("candidate_runtime_arn", "")),
        verdicts=tuple(verdicts),
        sequential=sequential[0] if sequential else None,
    )


# ------------------------------------------------------------------------ approvals


def newest_pending_by_pin(items: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The newest pending approval record per pin id (a pin has at most one that counts: a
    new request supersedes the previous one)."""
    latest: dict[str, dict[str, Any]] = {}
    for item in items:
        pin_id = str(item.get("pin_id", ""))
        if pin_id not in latest or str(item.get("requested_at", "")) > str(
            latest[pin_id].get("requested_at", "")
        ):
            latest[pin_id] = dict(item)
    return latest
