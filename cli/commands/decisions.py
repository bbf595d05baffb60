"""`approve`, `reject`, `snooze`, `exempt`: decisions through the decision API.

Decisions are never written to DynamoDB or Step Functions from the CLI: they go through the
API Gateway endpoint (IAM auth), signed with the caller's own credentials, so the deployed
rules — single-use ids, expiry, allowed approvers, separation of duties, snooze limits — and
the audit record apply the same to every client. Arguments are checked here first (exit 2,
nothing sent); what the API refuses is printed with its reason (exit 1, nothing changed).
"""

from __future__ import annotations

import argparse
from typing import Any

from rollforward.approvals import is_approval_id

from ..errors import DecisionAnswer, post_decision
from ..render import format_fields
from .base import (
    EXIT_FAILED,
    EXIT_OK,
    ActionFailed,
    Context,
    Unreachable,
    UsageError,
    check_reason,
    check_until,
    parse_function_ref,
    resolve_pin,
)


def check_approval_id(text: str) -> str:
    value = (text or "").strip()
    if not is_approval_id(value):
        raise UsageError(
            f"{text!r} is not an approval id; they look like apr-<32 hex digits> "
            "(see the APPROVAL column of `rollforward status`)"
        )
    return value


def _post(context: Context, **fields: Any) -> DecisionAnswer:
    answer = post_decision(context.decisions, **fields)
    if answer.unreachable:
        raise Unreachable(answer.reason)
    if answer.kind == "unknown":
        raise ActionFailed(answer.reason)
    return answer


def _report(context: Context, action: str, answer: DecisionAnswer, text: str) -> int:
    if answer.ok:
        context.out.result(answer.body, text)
        return EXIT_OK
    if context.out.is_json:
        context.out.result({"status": answer.status, **answer.body}, "")
    context.out.error(f"{action} {answer.kind} ({answer.status}): {answer.reason}")
    return EXIT_FAILED


def run_decide(args: argparse.Namespace, context: Context) -> int:
    action = args.action
    approval_id = check_approval_id(args.approval_id)
    reason = check_reason(args.reason)
    answer = _post(context, action=action, approval_id=approval_id, reason=reason)
    body = answer.body
    past = "approved" if action == "approve" else "rejected"
    text = f"{past} {approval_id}\n" + format_fields(
        [
            ("pin", str(body.get("pin_id", ""))),
            ("by", str(body.get("approver", ""))),
            ("reason", str(body.get("reason", reason))),
            (
                "next",
                "the rollforward proceeds to the canary"
                if action == "approve"
                else "the pin is snoozed for approval.reject_snooze, then on-call is asked again",
            ),
        ]
    )
    return _report(context, action, answer, text)


def run_hold(args: argparse.Namespace, context: Context) -> int:
    action = args.action
    until = check_until(args.until)
    reason = check_reason(args.reason)
    ref = parse_function_ref(args.function, args.qualifier)
    pin = resolve_pin(context, ref, open_only=True)
    answer = _post(context, action=action, pin_id=pin.key.id, until=until, reason=reason)
    body = answer.body
    held = body.get(action)
    hold: dict[str, Any] = held if isinstance(held, dict) else {}
    past = "snoozed" if action == "snooze" else "exempted"
    text = f"{past} {pin.key.id}\n" + format_fields(
        [
            ("until", str(hold.get("until", until))),
            ("by", str(hold.get("by", ""))),
            ("reason", str(hold.get("reason", reason))),
        ]
    )
    return _report(context, action, answer, text)


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    for action, summary in (
        ("approve", "approve a pending rollforward (canary, then Auto)"),
        ("reject", "reject a pending rollforward (the pin is snoozed, then asked again)"),
    ):
        parser = subparsers.add_parser(
            action,
            parents=parents,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}. The decision is signed with your "
            "AWS credentials: you are the approver on record. Approval ids are single-use.",
        )
        parser.add_argument("approval_id", metavar="ID", help="the approval id (apr-...)")
        parser.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
        parser.set_defaults(handler=run_decide, action=action)

    for action, summary in (
        ("snooze", "pause escalation of a pin until a time (within approval.max_snooze)"),
        ("exempt", "exempt a pin from escalation until a time"),
    ):
        parser = subparsers.add_parser(
            action,
            parents=parents,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}. Signed with your AWS credentials "
            "and recorded in the audit trail.",
        )
        parser.add_argument(
            "function",
            metavar="FUNCTION",
            help="function name, name:version, function ARN or pin id ARN#QUALIFIER",
        )
        parser.add_argument("--qualifier", help="$LATEST (or LATEST) or a version number")
        parser.add_argument(
            "--until",
            required=True,
            help="a duration from now (3d, 12h, 1d12h, P3D) or an ISO date/time "
            "(2026-12-24, 2026-12-24T09:00:00Z)",
        )
        parser.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
        parser.set_defaults(handler=run_hold, action=action)
