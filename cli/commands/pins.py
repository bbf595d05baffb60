"""`rollforward status` and `rollforward show`: what is pinned, for how long, and what next.

Read-only. Ages and "next escalation" are computed against the target's clock (the emulator's
virtual clock when pointed at one) with the policy in force and the same `next_stage` the
workflow uses, so what the CLI predicts is what the state machine will do.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollforward.audit import AuditRecord
from rollforward.clock import iso, parse_iso
from rollforward.ledger import Pin, Stage
from rollforward.policy import Policy, next_stage

from ..render import (
    EMPTY,
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


@dataclass(frozen=True)
class NextStep:
    """What happens next to a pin and when (None: not on a timer)."""

    label: str
    due: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "due_at": iso(self.due) if self.due else None}


def next_step(
    pin: Pin, policy: Policy, now: datetime, approval: dict[str, Any] | None
) -> NextStep | None:
    """The next rung of the ladder, the pending decision, or the canary in progress."""
    if not pin.is_open:
        return None
    if pin.stage is Stage.AWAITING_APPROVAL:
        expires = _parse_time(approval.get("expires_at")) if approval else None
        return NextStep("decision (request expires)", expires)
    if pin.stage in (Stage.APPROVED, Stage.CANARY):
        return NextStep("canary", None)
    sent = {key: at for key, text in pin.notices.items() if (at := _parse_time(text))}
    plan = next_stage(
        policy,
        pin.first_seen,
        sent,
        now,
        pin.snooze.until if pin.snooze else None,
        pin.exemption.until if pin.exemption else None,
    )
    if plan is None:
        return NextStep("none (escalation.max_rounds reached)", None)
    return NextStep(f"{plan.key} -> {plan.stage.audience.value}", plan.due)


def _parse_time(text: object) -> datetime | None:
    try:
        return parse_iso(str(text)) if text else None
    except ValueError:
        return None


def _stage_label(pin: Pin, now: datetime) -> str:
    if pin.exemption and pin.exemption.until > now and pin.is_open:
        return f"{pin.stage} (exempt)"
    return str(pin.stage)


def _when(step: NextStep | None, now: datetime) -> str:
    if step is None or step.due is None:
        return EMPTY
    return format_relative(step.due, now).replace(" ago", " overdue")


def _pending_by_pin(context: Context) -> dict[str, dict[str, Any]]:
    """The newest pending approval per pin (task tokens are never read into the CLI)."""
    latest: dict[str, dict[str, Any]] = {}
    for item in context.approvals.pending():
        pin_id = str(item.get("pin_id", ""))
        if pin_id not in latest or str(item.get("requested_at", "")) > str(
            latest[pin_id].get("requested_at", "")
        ):
            latest[pin_id] = item
    return latest


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
    pending = _pending_by_pin(context) if any_open else {}
    rows, summaries = [], []
    for pin in pins:
        approval = pending.get(pin.key.id) if pin.is_open else None
        step = next_step(pin, policy, now, approval)
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
                _when(step, now),
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


def run_show(args: argparse.Namespace, context: Context) -> int:
    ref = parse_function_ref(args.function, args.qualifier)
    pin = resolve_pin(context, ref, open_only=False)
    now = context.now()
    approval = None
    if pin.approval_id:
        record = context.approvals.get(pin.approval_id)
        approval = {k: v for k, v in (record or {}).items() if k != "task_token"} or None
    step = next_step(
        pin,
        context.policy,
        now,
        approval if approval and approval.get("status") == "pending" else None,
    )
    timeline = (
        context.audit.read(pin_id=pin.key.id) if context.discovery.get("audit_log_group") else []
    )
    data = {
        "pin": jsonable(pin.to_item()),
        "age_seconds": max(0, int((now - pin.first_seen).total_seconds())),
        "next": step.to_dict() if step else None,
        "approval": jsonable(approval),
        "timeline": [_record_dict(record) for record in timeline],
    }
    context.out.result(data, _show_text(pin, now, step, approval, timeline))
    return EXIT_OK


def _record_dict(record: AuditRecord) -> dict[str, Any]:
    return {
        "at": iso(record.at),
        "event": record.event,
        "actor": record.actor,
        "details": jsonable(record.details),
        "id": record.id,
    }


def _hold_text(hold: Any) -> str:
    return f"until {iso(hold.until)} by {hold.by}: {hold.reason}" if hold else ""


def _show_text(
    pin: Pin,
    now: datetime,
    step: NextStep | None,
    approval: dict[str, Any] | None,
    timeline: list[AuditRecord],
) -> str:
    runtime = pin.pinned_runtime_version_arn
    if pin.pinned_runtime_version_name:
        runtime = f"{pin.pinned_runtime_version_name} ({runtime})"
    fields = [
        ("pin id", pin.key.id),
        ("account/region", f"{pin.key.account}/{pin.key.region}"),
        ("pinned runtime", runtime),
        ("pinned by", pin.pinned_by),
        ("reason", pin.reason),
        ("first seen", f"{iso(pin.first_seen)} ({format_age(now - pin.first_seen)} ago)"),
        ("owner", pin.owner),
        ("team", pin.team),
        ("episode", f"generation {pin.generation}, round {pin.round}"),
        ("snoozed", _hold_text(pin.snooze)),
        ("exempt", _hold_text(pin.exemption)),
    ]
    if step:
        due = f", {iso(step.due)} ({format_relative(step.due, now)})" if step.due else ""
        fields.append(("next", f"{step.label}{due}"))
    if approval:
        fields.append(
            (
                "approval",
                f"{approval.get('approval_id')} {approval.get('status', '')}, "
                f"expires {approval.get('expires_at', '?')}"
                + (f", decided by {approval['decided_by']}" if approval.get("decided_by") else ""),
            )
        )
    fields.append(("execution", pin.execution_arn))
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
