"""What `rollforward show` and the console's pin page say about a pin: one list of fields, one
wording, so the terminal and the browser never disagree. The rules behind the values (the next
step, the round, the canary's progress, earlier attempts) are the domain's
(`rollforward.escalation.progress`); this module only words them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rollforward.clock import iso
from rollforward.escalation.progress import (
    Attempt,
    Attempts,
    CanaryProgress,
    NextStep,
    SequentialProgress,
    round_label,
)
from rollforward.ledger import Hold, Pin

from .render import format_age, format_relative, short_runtime_version

OUTCOME_WORDS = {"promoted": "promoted", "rolled_back": "rolled back", "stopped": "stopped"}
# `python:3.12.v41` → `python:3.12`: the runtime a version belongs to (names vary:
# `python:3.12.mainlinev2.v27`, `nodejs:22.mainline.v122`; the last `.vN` is the build).
_BUILD = re.compile(r"\.v\d+$")


def hold_text(hold: Hold | None) -> str:
    return f"until {iso(hold.until)} by {hold.by}: {hold.reason}" if hold else ""


def when(step: NextStep | None, now: datetime) -> str:
    """`in 2d 4h`, or `3h overdue`; "" when the step is not on a timer."""
    if step is None or step.due is None:
        return ""
    return format_relative(step.due, now).replace(" ago", " overdue")


def runtime_text(arn: str, name: str = "") -> str:
    return f"{name} ({arn})" if name else arn


def approval_text(approval: dict[str, Any] | None) -> str:
    """`apr-… pending, round 3, expires …[, approved by …: reason]`."""
    if not approval:
        return ""
    decided = (
        f", {approval.get('status')} by {approval.get('decided_by')}: {approval.get('reason', '')}"
        if approval.get("decided_by")
        else ""
    )
    round_ = round_label(approval.get("round"))
    return (
        f"{approval.get('approval_id')} {approval.get('status', '')}"
        + (f", {round_}" if round_ else "")
        + f", expires {approval.get('expires_at', '?')}{decided}"
    )


def target_runtime(pin: Pin, attempts: Attempts) -> str:
    """What an approved canary moves the function to. AWS lists no runtime versions: the
    candidate gets whatever Lambda applies on an update (the newest version of the pinned
    runtime), known by ARN once it is published; an earlier attempt's candidate is the best
    guess before that."""
    name = pin.pinned_runtime_version_name
    runtime = _BUILD.sub("", name) if name else "the pinned runtime"
    text = f"the newest {runtime} version Lambda applies on an update (Auto)"
    last = next((a for a in reversed(attempts.items) if a.candidate_runtime_arn), None)
    if last is not None:
        text += f"; the last attempt's candidate ran {short_runtime_version(last.candidate_runtime_arn)}"
    return text


def canary_plan_text(pin: Pin) -> str:
    """The plan the approval request stated (from the function's own traffic): the expected
    canary duration, or why an unattended canary cannot decide in time and the options."""
    planned = pin.evidence.get("canary_plan")
    if not isinstance(planned, dict) or not planned.get("summary"):
        return ""
    alias = f" (alias {planned['alias']})" if planned.get("alias") else ""
    return f"{planned['summary']}{alias}, computed {planned.get('computed_at', '?')}"


def attempt_text(attempt: Attempt, now: datetime) -> str:
    """`rolled back 2d 3h ago (2026-12-01T10:00:00Z): candidate error rate …`."""
    outcome = OUTCOME_WORDS.get(attempt.outcome, attempt.outcome)
    at = f" {format_relative(attempt.at, now)} ({iso(attempt.at)})" if attempt.at else ""
    return f"{outcome}{at}" + (f": {attempt.reason}" if attempt.reason else "")


def attempts_summary(attempts: Attempts) -> str:
    """`2 (last: rolled back)`, or "none"."""
    if not attempts.count:
        return "none"
    last = attempts.last
    outcome = OUTCOME_WORDS.get(last.outcome, last.outcome) if last else ""
    return f"{attempts.count}" + (f" (last: {outcome})" if outcome else "")


def progress_fields(progress: CanaryProgress, now: datetime) -> list[tuple[str, str]]:
    """The running canary: step, weight, time in step, evidence so far, the expected end."""
    evidence = "; ".join(
        f"{v.get('step')}: {str(v.get('outcome', '')).lower()}"
        + (
            f" ({v.get('candidate_errors')}/{v.get('candidate_invocations')} candidate errors)"
            if v.get("candidate_invocations") is not None
            else ""
        )
        for v in progress.verdicts
    )
    step_end = (
        f"{iso(progress.step_ends_at)} ({format_relative(progress.step_ends_at, now)})"
        if progress.step_ends_at
        else ""
    )
    expected = (
        f"{iso(progress.expected_end)} ({format_relative(progress.expected_end, now)}) "
        "if every remaining step passes"
        if progress.expected_end
        else ""
    )
    sequential = progress.sequential
    if sequential is not None:
        evidence = sequential_evidence_text(sequential)
        if progress.expected_end:
            expected = (
                f"{iso(progress.expected_end)} ({format_relative(progress.expected_end, now)}) "
                "if the candidate stays healthy at this traffic"
            )
    return [
        ("Canary", f"running: {progress.phase} ({progress.strategy or 'strategy not chosen yet'})"),
        ("Weight", f"{progress.weight:.0%} of traffic on the candidate"),
        ("Time in step", format_age(progress.time_in_step) if progress.time_in_step else ""),
        ("Step ends", step_end),
        ("Evidence so far", evidence or "no bake judged yet"),
        ("Next look", _moment_text(sequential.next_look_at, now) if sequential else ""),
        ("Expected end", expected),
        (
            "Plan ends",
            f"{_moment_text(sequential.plan_end, now)}: undecided there is handed to a human"
            if sequential and sequential.plan_end
            else "",
        ),
        (
            "Candidate",
            f"version {progress.candidate_version}"
            + (
                f" on {short_runtime_version(progress.candidate_runtime_arn)}"
                if progress.candidate_runtime_arn
                else ""
            )
            if progress.candidate_version
            else "",
        ),
    ]


def sequential_evidence_text(progress: SequentialProgress) -> str:
    """`3 looks, 42 minutes: candidate 1/812 errors, baseline 3/15,400; regression evidence
    0.4 (FAIL at 100), healthy evidence 57 (PASS at 200); PASS after ~120 more error-free
    candidate invocations`."""
    p = progress
    return (
        f"{p.looks} look(s), {p.minutes} minute(s): candidate {p.candidate_errors}/"
        f"{p.candidate_invocations:,} errors, baseline {p.baseline_errors}/"
        f"{p.baseline_invocations:,}; regression evidence {p.regression_evidence:.3g} (FAIL at "
        f"{p.fail_at:g}), healthy evidence {p.healthy_evidence:.3g} (PASS at {p.pass_at:g}); "
        + (
            f"PASS after ~{p.to_pass:,} more error-free candidate invocations"
            if p.to_pass
            else "PASS once the candidate's INIT_START shows the new runtime"
        )
    )


def _moment_text(at: datetime | None, now: datetime) -> str:
    return f"{iso(at)} ({format_relative(at, now)})" if at else ""


def pin_fields(
    pin: Pin,
    now: datetime,
    step: NextStep | None,
    approval: dict[str, Any] | None,
    attempts: Attempts,
    progress: CanaryProgress | None = None,
) -> list[tuple[str, str]]:
    """A pin in full, label and value ("" where there is nothing to say)."""
    fields = [
        ("Pin id", pin.key.id),
        ("Account/region", f"{pin.key.account}/{pin.key.region}"),
        (
            "Pinned runtime",
            runtime_text(pin.pinned_runtime_version_arn, pin.pinned_runtime_version_name),
        ),
        ("Pinned by", pin.pinned_by),
        ("Why pinned", pin.reason),
        ("First seen", f"{iso(pin.first_seen)} ({format_age(now - pin.first_seen)} ago)"),
        ("Owner", pin.owner),
        ("Team", pin.team),
        ("Episode", f"generation {pin.generation}, {round_label(pin.round)}"),
        ("Snoozed", hold_text(pin.snooze)),
        ("Exempt", hold_text(pin.exemption)),
    ]
    if step:
        due = f", {iso(step.due)} ({when(step, now)})" if step.due else ""
        fields.append(("Next", f"{step.label}{due}"))
    fields.append(("Approval", approval_text(approval)))
    if pin.is_open:
        fields.append(("Target runtime", target_runtime(pin, attempts)))
        fields.append(("Canary plan", canary_plan_text(pin)))
    fields.append(("Canary attempts", attempts_summary(attempts)))
    fields.extend(
        (f"Attempt {number}", attempt_text(attempt, now)) for number, attempt in _numbered(attempts)
    )
    if progress is not None:
        fields.extend(progress_fields(progress, now))
    fields.append(("Execution", pin.execution_arn))
    return fields


def _numbered(attempts: Attempts) -> Sequence[tuple[int, Attempt]]:
    """Attempts with their number among all of them (older ones may no longer be kept)."""
    first = attempts.count - len(attempts.items) + 1
    return [(first + i, attempt) for i, attempt in enumerate(attempts.items)]
