"""`rollforward status`, `show` and `approvals`: what is pinned, for how long, what next.

Read-only. Ages and "next escalation" are computed against the target's clock (the emulator's
virtual clock when pointed at one) with the policy in force and the domain's `next_step` (the
ladder reading `Tracker.plan` uses), so what the CLI predicts is what the state machine does.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollforward.audit.records import AuditRecord
from rollforward.clock import iso, parse_iso
from rollforward.escalation.progress import (
    Attempts,
    CanaryProgress,
    NextStep,
    newest_pending_by_pin,
    next_step,
    round_label,
    running_canary,
)
from rollforward.ledger import Pin
from rollforward.model import PinKey
from rollforward.policy import Policy

from ..details import (
    attempt_text,
    attempts_summary,
    canary_plan_text,
    pin_fields,
    target_runtime,
    when,
)
from ..render import (
    format_age,
    format_fields,
    format_relative,
    format_table,
    jsonable,
    short_runtime_version,
)
from .base import (
    EXIT_OK,
    Context,
    parse_function_ref,
    resolve_pin,
)

STATUS_COLUMNS = (
    "ACCOUNT/REGION",
    "FUNCTION",
    "QUALIFIER",
    "PINNED RUNTIME",
    "AGE",
    "STAGE",
    "OWNER",
    "NEXT",
    "WHEN",
    "APPROVAL",
)
DETAIL_VALUE_LIMIT = 80


def _stage_label(pin: Pin, now: datetime) -> str:
    if pin.exemption and pin.exemption.until > now and pin.is_open:
        return f"{pin.stage} (exempt)"
    return str(pin.stage)


def pin_summary(
    pin: Pin, now: datetime, step: NextStep | None, approval: dict[str, Any] | None
) -> dict[str, Any]:
    """One pin as `status --output json` prints it."""
    return {
        "pin_id": pin.key.id,
        "account": pin.key.account,
        "region": pin.key.region,
        "function_name": pin.key.function_name,
        "function_arn": pin.key.function_arn,
        "qualifier": pin.key.qualifier,
        "pinned_runtime_version_arn": pin.pinned_runtime_version_arn,
        "pinned_runtime_version_name": pin.pinned_runtime_version_name or None,
        "first_seen": iso(pin.first_seen),
        "age_seconds": max(0, int((now - pin.first_seen).total_seconds())),
        "stage": str(pin.stage),
        "is_open": pin.is_open,
        "owner": pin.owner or None,
        "team": pin.team or None,
        "snoozed_until": iso(pin.snooze.until) if pin.snooze else None,
        "exempt_until": iso(pin.exemption.until) if pin.exemption else None,
        "next": step.to_dict() if step else None,
        "approval_id": approval.get("approval_id") if approval else None,
        "approval_expires_at": approval.get("expires_at") if approval else None,
    }


# ------------------------------------------------------------------------ status


def run_status(args: argparse.Namespace, context: Context) -> int:
    pins = context.ledger.list_pins(open_only=not args.all)
    pins.sort(key=lambda pin: (pin.first_seen, pin.key.id))
    now = context.now()
    # Reading the policy and the approvals costs calls (one on Lambda's shared 15 req/s
    # control-plane bucket): only when some pin is open and needs a next step.
    any_open = any(pin.is_open for pin in pins)
    policy = context.policy if any_open else Policy.default()
    pending = newest_pending_by_pin(context.approvals.pending()) if any_open else {}
    rows, summaries = [], []
    for pin in pins:
        approval = pending.get(pin.key.id) if pin.is_open else None
        step = next_step(pin, policy, now, approval.get("expires_at") if approval else None)
        summaries.append(pin_summary(pin, now, step, approval))
        rows.append(
            [
                f"{pin.key.account}/{pin.key.region}",
                pin.key.function_name,
                pin.key.qualifier,
                short_runtime_version(
                    pin.pinned_runtime_version_arn, pin.pinned_runtime_version_name
                ),
                format_age(now - pin.first_seen),
                _stage_label(pin, now),
                pin.owner,
                step.label if step else "",
                when(step, now),
                approval.get("approval_id", "") if approval else "",
            ]
        )
    summary = _summary(pins, now, pending)
    text = (
        summary["line"]
        if not pins
        else f"{format_table(STATUS_COLUMNS, rows)}\n\n{summary['line']}"
    )
    context.out.result({"now": iso(now), "pins": summaries, "summary": summary}, text)
    return EXIT_OK


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def _summary(pins: list[Pin], now: datetime, pending: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`3 open pins (2 tracking, 1 awaiting_approval); oldest orders 16d 3h; 1 approval
    pending` — and, with `--all`, how many closed pins were listed too."""
    open_pins = [pin for pin in pins if pin.is_open]
    closed = len(pins) - len(open_pins)
    oldest = min(open_pins, key=lambda pin: pin.first_seen) if open_pins else None
    if oldest is None:
        line = "No open pins."
    else:
        stages = Counter(str(pin.stage) for pin in open_pins)
        counts = ", ".join(f"{count} {stage}" for stage, count in sorted(stages.items()))
        line = (
            f"{_plural(len(open_pins), 'open pin')} ({counts}); "
            f"oldest {oldest.key.function_name} {format_age(now - oldest.first_seen)}; "
            f"{_plural(len(pending), 'approval')} pending"
            + (" (rollforward approve ID --reason ...)." if pending else ".")
        )
    if closed:
        line += f" {closed} closed."
    return {
        "line": line,
        "open": len(open_pins),
        "closed_listed": closed,
        "by_stage": dict(sorted(Counter(str(pin.stage) for pin in pins).items())),
        "oldest_age_seconds": int((now - oldest.first_seen).total_seconds()) if oldest else None,
        "pending_approvals": len(pending),
    }


# ------------------------------------------------------------------------ show


@dataclass(frozen=True)
class PinDetail:
    """Everything `show` and the console's pin page read about one pin."""

    pin: Pin
    now: datetime
    approval: dict[str, Any] | None  # the pin's current approval record, without the token
    step: NextStep | None
    timeline: list[AuditRecord]
    attempts: Attempts
    progress: CanaryProgress | None

    @property
    def fields(self) -> list[tuple[str, str]]:
        return pin_fields(
            self.pin, self.now, self.step, self.approval, self.attempts, self.progress
        )


def read_detail(context: Context, pin: Pin) -> PinDetail:
    """One pin in full: its approval, next step, audit timeline, attempts, running canary."""
    now = context.now()
    approval = None
    if pin.approval_id:
        record = context.approvals.get(pin.approval_id)
        approval = {k: v for k, v in (record or {}).items() if k != "task_token"} or None
    pending = approval if approval and approval.get("status") == "pending" else None
    policy = context.policy
    step = next_step(pin, policy, now, pending.get("expires_at") if pending else None)
    timeline = (
        context.audit.read(pin_id=pin.key.id) if context.discovery.get("audit_log_group") else []
    )
    progress = running_canary(pin, policy, timeline, now)
    return PinDetail(pin, now, approval, step, timeline, Attempts.of(pin.evidence), progress)


def run_show(args: argparse.Namespace, context: Context) -> int:
    ref = parse_function_ref(args.function, args.qualifier)
    detail = read_detail(context, resolve_pin(context, ref, open_only=False))
    pin, now, approval, step = detail.pin, detail.now, detail.approval, detail.step
    attempts, progress, timeline = detail.attempts, detail.progress, detail.timeline
    data = {
        "pin": jsonable(pin.to_item()),
        "age_seconds": max(0, int((now - pin.first_seen).total_seconds())),
        "next": step.to_dict() if step else None,
        "approval": jsonable(approval),
        "round": round_label(pin.round),
        "target_runtime": target_runtime(pin, attempts) if pin.is_open else None,
        "attempts": {
            "count": attempts.count,
            "kept": [attempt.to_item() for attempt in attempts.items],
        },
        "canary_running": progress.to_dict() if progress else None,
        "timeline": [_record_dict(record) for record in timeline],
    }
    context.out.result(data, _show_text(pin, detail.fields, timeline))
    return EXIT_OK


def _record_dict(record: AuditRecord) -> dict[str, Any]:
    return {
        "at": iso(record.at),
        "event": record.event,
        "actor": record.actor,
        "details": jsonable(record.details),
        "id": record.id,
    }


def _show_text(pin: Pin, fields: list[tuple[str, str]], timeline: list[AuditRecord]) -> str:
    fields = [(label.lower(), value) for label, value in fields]
    if pin.outcome:
        fields.append(("outcome", _details(pin.outcome)))
    if pin.evidence:
        fields.append(("evidence", ", ".join(sorted(pin.evidence))))
    lines = [f"{pin.key.function_name} {pin.key.qualifier}: {pin.stage}", format_fields(fields), ""]
    if not timeline:
        lines.append("Timeline: no audit records for this pin.")
    else:
        lines.append(f"Timeline ({len(timeline)} audit records)")
        rows = [[iso(r.at), r.event, r.actor, _details(r.details)] for r in timeline]
        table = format_table(("AT", "EVENT", "ACTOR", "DETAILS"), rows)
        lines.extend("  " + line for line in table.splitlines())
    return "\n".join(lines)


# ------------------------------------------------------------------------ approvals

APPROVALS_COLUMNS = (
    "APPROVAL",
    "FUNCTION",
    "QUALIFIER",
    "ROUND",
    "REQUESTED",
    "EXPIRES",
    "ATTEMPTS",
    "LAST ATTEMPT",
)


def run_approvals(args: argparse.Namespace, context: Context) -> int:
    """Pending approvals, soonest expiry first: what each one is about, which round it is,
    what earlier canaries did, and the runtime an approval moves the function to."""
    now = context.now()
    pending = sorted(
        newest_pending_by_pin(context.approvals.pending()).values(),
        key=lambda item: str(item.get("expires_at", "")),
    )
    rows, entries, plans = [], [], []
    for item in pending:
        pin_id = str(item.get("pin_id", ""))
        try:
            pin = context.ledger.get(PinKey.from_id(pin_id))
        except ValueError:
            pin = None
        attempts = Attempts.of(pin.evidence if pin else {})
        last = attempts.last
        requested = _moment_text(item.get("requested_at"), now)
        expires = _moment_text(item.get("expires_at"), now)
        name, qualifier = (pin.key.function_name, pin.key.qualifier) if pin else (pin_id, "")
        rows.append(
            [
                str(item.get("approval_id", "")),
                name,
                qualifier,
                round_label(item.get("round")),
                requested,
                expires,
                attempts_summary(attempts),
                attempt_text(last, now) if last else "",
            ]
        )
        entries.append(
            {
                "approval_id": item.get("approval_id"),
                "pin_id": pin_id,
                "round": round_label(item.get("round")),
                "requested_at": item.get("requested_at"),
                "expires_at": item.get("expires_at"),
                "pinned_by": item.get("pinned_by"),
                "target_runtime": target_runtime(pin, attempts) if pin else None,
                "attempts": {
                    "count": attempts.count,
                    "kept": [attempt.to_item() for attempt in attempts.items],
                },
                "canary_plan": pin.evidence.get("canary_plan") if pin else None,
            }
        )
        plan = canary_plan_text(pin) if pin else ""
        if plan:
            plans.append(f"{item.get('approval_id', '')} canary plan: {plan}")
    line = f"{len(pending)} approval{'s' if len(pending) != 1 else ''} pending" + (
        " (rollforward approve ID --reason ...)." if pending else "."
    )
    listed = "\n".join([format_table(APPROVALS_COLUMNS, rows), *plans])
    text = line if not pending else f"{listed}\n\n{line}"
    context.out.result({"now": iso(now), "approvals": entries}, text)
    return EXIT_OK


def _moment_text(value: object, now: datetime) -> str:
    text = str(value or "")
    try:
        return f"{text} ({format_relative(parse_iso(text), now)})" if text else ""
    except ValueError:
        return text


def _details(details: dict[str, Any]) -> str:
    parts = []
    for key, value in sorted(details.items()):
        text = value if isinstance(value, str) else json.dumps(jsonable(value), sort_keys=True)
        if len(text) > DETAIL_VALUE_LIMIT:
            text = text[: DETAIL_VALUE_LIMIT - 1] + "…"
        parts.append(f"{key}={text}")
    return ", ".join(parts)


# ------------------------------------------------------------------------ parsers


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    status = subparsers.add_parser(
        "status",
        parents=parents,
        help="pinned functions, oldest first, with their next escalation",
        description="Every function version pinned to a Manual runtime version: how long, at "
        "which stage, who owns it, what happens next and when, and any pending approval id.",
    )
    status.add_argument(
        "--all", action="store_true", help="include closed pins (resolved, lifted, deleted, failed)"
    )
    status.set_defaults(handler=run_status)

    show = subparsers.add_parser(
        "show",
        parents=parents,
        help="one pin and its timeline from the audit trail",
        description="One pin in full, and every audit record for it in time order.",
    )
    show.add_argument(
        "function",
        metavar="FUNCTION",
        help="function name, name:version, function ARN (qualified or not) or pin id ARN#QUALIFIER",
    )
    show.add_argument(
        "--qualifier", help="$LATEST (or LATEST) or a version number, when several are pinned"
    )
    show.set_defaults(handler=run_show)

    approvals = subparsers.add_parser(
        "approvals",
        parents=parents,
        help="pending approvals: round, earlier canary attempts, target runtime",
        description="Every pending approval, soonest expiry first: the function, which round "
        "of requests it is, how earlier canaries of the pin ended, and what approving moves it to.",
    )
    approvals.set_defaults(handler=run_approvals)
