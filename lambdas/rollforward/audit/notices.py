"""The messages people act on: one builder, every channel's body from the same facts.

A notice always says which function (account, region, qualifier), since when and for how
long it has been pinned, to which runtime version, by whom, what happens next and when, and
what the reader can do about it — as command lines to paste, never as a plain GET link
(mail scanners prefetch links; approvals go through the CLI or the IAM-authenticated
console). Owners and teams are told how to fix, snooze or exempt; on-call is told how to
approve or reject.

`build_notice` is pure. Publishing is the caller's: `Notice.sns_publish_kwargs()` gives the
SNS Publish arguments with one body per protocol (plain text for email, the AWS Chatbot
custom-notification JSON for its HTTPS endpoint, the whole notice as JSON for Lambda/SQS
forwarders such as a PagerDuty relay); `message_attributes` let subscriptions filter by
audience, stage and function.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from rollforward.escalation.progress import round_label
from rollforward.model import LATEST, PinKey
from rollforward.policy import Audience, StagePlan, format_duration

SUBJECT_MAX = 99  # SNS: "less than 100 characters"
PAGERDUTY_SUMMARY_MAX = 1024
_SUBJECT_PREFIX = "[rollforward] "
_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]+")


class NoticeKind(StrEnum):
    DETECTED = "detected"
    REMINDER = "reminder"
    TEAM = "team"
    APPROVAL_REQUEST = "approval_request"
    APPROVAL_DECIDED = "approval_decided"
    SNOOZED = "snoozed"
    CANARY_STARTED = "canary_started"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    LIFTED = "lifted"
    STOPPED = "stopped"
    OPTED_OUT = "opted_out"
    ROLLBACK_STUCK = "rollback_stuck"  # Rollback keeps failing: on-call, while it retries


# Notices that belong to a rung of the escalation ladder (they need its StagePlan).
LADDER_KINDS = frozenset(
    {NoticeKind.DETECTED, NoticeKind.REMINDER, NoticeKind.TEAM, NoticeKind.APPROVAL_REQUEST}
)

# Who hears about events off the ladder.
_AUDIENCES: Mapping[NoticeKind, tuple[Audience, ...]] = {
    NoticeKind.APPROVAL_DECIDED: (Audience.OWNER, Audience.ONCALL),
    NoticeKind.SNOOZED: (Audience.OWNER,),
    NoticeKind.CANARY_STARTED: (Audience.OWNER,),
    NoticeKind.PROMOTED: (Audience.OWNER,),
    NoticeKind.ROLLED_BACK: (Audience.OWNER, Audience.ONCALL),
    NoticeKind.LIFTED: (Audience.OWNER,),
    NoticeKind.STOPPED: (Audience.OWNER,),
    NoticeKind.OPTED_OUT: (Audience.OWNER,),
    NoticeKind.ROLLBACK_STUCK: (Audience.ONCALL,),
}

_SEVERITY: Mapping[NoticeKind, str] = {
    NoticeKind.APPROVAL_REQUEST: "warning",
    NoticeKind.ROLLED_BACK: "error",
    NoticeKind.STOPPED: "warning",
    NoticeKind.ROLLBACK_STUCK: "error",
}


def ladder_kind(plan: StagePlan) -> NoticeKind:
    """The notice kind for a rung: the approval rung requests approval, the very first
    notice is "detected", team rungs are "team", the rest are reminders."""
    if plan.stage.requests_approval:
        return NoticeKind.APPROVAL_REQUEST
    if plan.round == 0 and plan.index == 0:
        return NoticeKind.DETECTED
    if plan.stage.audience is Audience.TEAM:
        return NoticeKind.TEAM
    return NoticeKind.REMINDER


@dataclass(frozen=True, slots=True)
class PinSummary:
    """What a notice tells about one pin (the ledger maps its item onto this).

    `runtime_version` is the readable name from INIT_START (`python:3.12.v27`) when known;
    `pinned_by` the principal ARN from CloudTrail, None when the scan found the pin.
    """

    key: PinKey
    pinned_since: datetime
    runtime_version_arn: str | None = None
    runtime_version: str | None = None
    pinned_by: str | None = None
    pin_reason: str | None = None
    owner: str | None = None
    team: str | None = None
    # Said before anything changes, e.g. "CloudFormation stack S pins this function..." (posture).
    warnings: tuple[str, ...] = ()
    # Not a pin: a function in Function update mode left behind the newest runtime version
    # (a ledger item of kind function_update). Its ladder notices say so, not "pinned".
    left_behind: bool = False
    # The canary's plan from the function's own traffic, in one sentence (said in the approval
    # request before anyone approves: the expected duration, or why it cannot decide in time).
    canary_plan: str | None = None

    def __post_init__(self) -> None:
        if self.pinned_since.tzinfo is None:
            raise ValueError("pinned_since must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Links:
    """How the reader acts: the approvals console page for this pin (IAM-authenticated,
    so safe to link), a runbook, and the single-use approval id for approval requests."""

    console_url: str | None = None
    runbook_url: str | None = None
    approval_id: str | None = None


@dataclass(frozen=True)
class Notice:
    """One message, rendered for every channel. Publish to each of `channels`."""

    kind: NoticeKind
    audience: tuple[Audience, ...]
    channels: tuple[str, ...]
    dedup_key: str
    subject: str
    text: str
    chatbot: Mapping[str, Any] = field(hash=False)
    pagerduty: Mapping[str, Any] = field(hash=False)
    message_attributes: Mapping[str, Mapping[str, str]] = field(hash=False)

    def forwarder_payload(self) -> dict[str, Any]:
        """The whole notice as JSON-safe data, for Lambda/SQS subscribers."""
        return {
            "kind": self.kind.value,
            "audience": [a.value for a in self.audience],
            "channels": list(self.channels),
            "dedup_key": self.dedup_key,
            "subject": self.subject,
            "text": self.text,
            "chatbot": self.chatbot,
            "pagerduty": self.pagerduty,
        }

    def to_sns_message(self) -> str:
        """The SNS `Message` for `MessageStructure="json"`: one body per protocol."""
        forwarded = json.dumps(self.forwarder_payload())
        return json.dumps(
            {
                "default": self.text,
                "email": self.text,
                "https": json.dumps(self.chatbot),
                "lambda": forwarded,
                "sqs": forwarded,
            }
        )

    def sns_publish_kwargs(self) -> dict[str, Any]:
        """`sns.publish(TopicArn=..., **notice.sns_publish_kwargs())`."""
        return {
            "Subject": self.subject,
            "Message": self.to_sns_message(),
            "MessageStructure": "json",
            "MessageAttributes": {k: dict(v) for k, v in self.message_attributes.items()},
        }


def build_notice(
    kind: NoticeKind,
    pin: PinSummary,
    stage: StagePlan | None,
    now: datetime,
    next_step: str,
    links: Links,
    *,
    facts: Mapping[str, str] | None = None,
) -> Notice:
    """Render one notice.

    `stage` is the ladder rung for ladder kinds (detected, reminder, team, approval_request)
    and, for approval_decided, the rung whose request was decided (so the PagerDuty incident
    with the same dedup key is resolved); it is None for the other kinds. `next_step` says
    what happens next and when, in one sentence. `facts` are extra labelled lines: the
    decision and its reason, the snooze end, canary evidence, why preflight refused, ...
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if (kind in LADDER_KINDS or kind is NoticeKind.APPROVAL_DECIDED) and stage is None:
        raise ValueError(f"a {kind.value} notice needs the StagePlan of its rung")
    now = now.astimezone(UTC)
    facts = {_line(k, 60): _line(v, 500) for k, v in (facts or {}).items()}
    next_step = _line(next_step, 500)

    if kind in LADDER_KINDS and stage is not None:
        audience: tuple[Audience, ...] = (stage.stage.audience,)
        channels: tuple[str, ...] = (stage.stage.channel,)
    else:
        audience = _AUDIENCES[kind]
        channels = tuple(a.value for a in audience)
    key = pin.key
    dedup_key = stage.dedup_key(key) if stage is not None else f"{key.id}#{kind.value}"
    name = _display_name(key)
    age = format_duration(max(now - pin.pinned_since.astimezone(UTC), timedelta(0)), max_units=2)

    headline = _headline(kind, pin, name, age)
    details = _details(pin, stage, age) + list(facts.items())
    if kind is NoticeKind.APPROVAL_REQUEST and pin.canary_plan:
        details.append(("Canary plan", _line(pin.canary_plan, 500)))
    actions = _actions(kind, audience, key, now, links)

    subject = _subject(kind, name, age, pin.left_behind)
    text = _text(headline, details, next_step, actions)
    chatbot = _chatbot(kind, subject, headline, details, next_step, actions, key, stage, links)
    pagerduty = _pagerduty(kind, subject, key, dedup_key, now, details, next_step, links)
    attributes = {
        "audience": {
            "DataType": "String.Array",
            "StringValue": json.dumps([a.value for a in audience]),
        },
        "kind": {"DataType": "String", "StringValue": kind.value},
        "stage": {"DataType": "String", "StringValue": stage.key if stage else kind.value},
        "function": {"DataType": "String", "StringValue": key.function_arn},
        "account": {"DataType": "String", "StringValue": key.account},
    }
    return Notice(
        kind=kind,
        audience=audience,
        channels=channels,
        dedup_key=dedup_key,
        subject=subject,
        text=text,
        chatbot=chatbot,
        pagerduty=pagerduty,
        message_attributes=attributes,
    )


# --------------------------------------------------------------------------- wording


def _headline(kind: NoticeKind, pin: PinSummary, name: str, age: str) -> str:
    where = f"{name} in account {pin.key.account} ({pin.key.region})"
    why_it_matters = (
        "While pinned, Lambda applies no runtime updates to it, security patches included."
    )
    fix = (
        "Please make it work on the current runtime and set its runtime update mode back to "
        "Auto, or snooze this with a reason."
    )
    owner = _line(pin.owner or pin.team or "its owner", 200)
    if pin.left_behind and kind in _LEFT_BEHIND_HEADLINES:
        return _LEFT_BEHIND_HEADLINES[kind].format(where=where, age=age, owner=owner)
    match kind:
        case NoticeKind.DETECTED:
            return f"{where} is pinned to a Manual runtime version. {why_it_matters} {fix}"
        case NoticeKind.REMINDER:
            return f"Reminder: {where} has been pinned for {age}. {why_it_matters} {fix}"
        case NoticeKind.TEAM:
            return (
                f"{where} has been pinned for {age} and {owner} has not acted on the reminders. "
                f"{why_it_matters} Please help get it back to Auto, or snooze it with a reason."
            )
        case NoticeKind.APPROVAL_REQUEST:
            return (
                f"Approval needed: {where} has been pinned for {age}. rollforward asks to roll "
                "it forward to Auto behind a canary: traffic shifts in steps, the new runtime "
                "is judged against the pinned one, and any failure rolls it back automatically. "
                "Approve to start, or reject with a reason to snooze it."
            )
        case NoticeKind.APPROVAL_DECIDED:
            return f"The rollforward approval request for {where} has been decided."
        case NoticeKind.SNOOZED:
            return f"Escalation for {where} is snoozed; the pin itself stays in place."
        case NoticeKind.CANARY_STARTED:
            return (
                f"A canary started rolling {where} forward to the newest runtime. "
                "Watch your dashboards; failures roll back automatically."
            )
        case NoticeKind.PROMOTED:
            return (
                f"{where} now runs the newest runtime and its runtime update mode is Auto. "
                "The pin is resolved."
            )
        case NoticeKind.ROLLED_BACK:
            return (
                f"The canary for {where} failed and was rolled back: the function is exactly "
                "as before, pinned to its original runtime version. Escalation resumes."
            )
        case NoticeKind.LIFTED:
            return (
                f"{where} is no longer pinned to a Manual runtime version (changed outside "
                "rollforward). Tracking has stopped; nothing more to do."
            )
        case NoticeKind.STOPPED:
            return (
                f"rollforward did not roll {where} forward: a preflight check refused. "
                "Nothing was changed."
            )
        case NoticeKind.OPTED_OUT:
            return (
                f"{where} carries the opt-out tag: rollforward will never change it, and "
                "stopped tracking its pin. Remove the tag to have it tracked again."
            )
        case NoticeKind.ROLLBACK_STUCK:
            return (
                f"rollforward cannot finish rolling {where} back: every attempt failed so far. "
                "It keeps trying, with longer waits; the function may be half-moved until then."
            )


_LEFT_BEHIND_WHY = (
    "In Function update mode Lambda applies a new runtime version, security patches included, "
    "only when the function is deployed."
)
_LEFT_BEHIND_FIX = (
    "Please deploy it (any code or configuration update applies the newest runtime version) or "
    "switch its runtime update mode to Auto, or snooze this with a reason."
)
_LEFT_BEHIND_HEADLINES: Mapping[NoticeKind, str] = {
    NoticeKind.DETECTED: (
        "{where} is in Function update mode, behind the newest runtime version and not "
        f"deployed for longer than the policy allows. {_LEFT_BEHIND_WHY} {_LEFT_BEHIND_FIX}"
    ),
    NoticeKind.REMINDER: (
        "Reminder: {where} has been left behind the newest runtime version for {age}. "
        f"{_LEFT_BEHIND_WHY} {_LEFT_BEHIND_FIX}"
    ),
    NoticeKind.TEAM: (
        "{where} has been left behind the newest runtime version for {age} and {owner} has not "
        f"acted on the reminders. {_LEFT_BEHIND_WHY} Please help deploy it or switch it to "
        "Auto, or snooze it with a reason."
    ),
    NoticeKind.APPROVAL_REQUEST: (
        "Approval needed: {where} has been left behind the newest runtime version for {age}. "
        "rollforward asks to switch it to Auto behind a canary: traffic shifts in steps, the "
        "new runtime is judged against the current one, and any failure restores Function "
        "update mode exactly. Approve to start, or reject with a reason to snooze it."
    ),
}

_LEFT_BEHIND_SUBJECTS: Mapping[NoticeKind, str] = {
    NoticeKind.DETECTED: "Runtime left behind: {name} (Function update mode)",
    NoticeKind.REMINDER: "Reminder: {name} left behind for {age}",
    NoticeKind.TEAM: "Escalated to team: {name} left behind for {age}",
    NoticeKind.APPROVAL_REQUEST: "Approval needed: switch {name} to Auto",
    NoticeKind.ROLLED_BACK: "Rolled back: {name} stays in Function update mode",
}

_SUBJECTS: Mapping[NoticeKind, str] = {
    NoticeKind.DETECTED: "Pinned runtime: {name}",
    NoticeKind.REMINDER: "Reminder: {name} pinned for {age}",
    NoticeKind.TEAM: "Escalated to team: {name} pinned for {age}",
    NoticeKind.APPROVAL_REQUEST: "Approval needed: roll {name} forward",
    NoticeKind.APPROVAL_DECIDED: "Approval decided: {name}",
    NoticeKind.SNOOZED: "Snoozed: {name}",
    NoticeKind.CANARY_STARTED: "Canary started: {name}",
    NoticeKind.PROMOTED: "Rolled forward: {name} is on Auto",
    NoticeKind.ROLLED_BACK: "Rolled back: {name} stays pinned",
    NoticeKind.LIFTED: "Pin lifted: {name}",
    NoticeKind.STOPPED: "Rollforward stopped: {name}",
    NoticeKind.OPTED_OUT: "Opted out: {name} stays pinned",
    NoticeKind.ROLLBACK_STUCK: "Rollback stuck: {name} is not restored yet",
}


def _subject(kind: NoticeKind, name: str, age: str, left_behind: bool = False) -> str:
    subjects = _LEFT_BEHIND_SUBJECTS if left_behind and kind in _LEFT_BEHIND_SUBJECTS else _SUBJECTS
    template = _SUBJECT_PREFIX + subjects[kind]
    room = SUBJECT_MAX - len(template.format(name="", age=age))
    if len(name) > room:
        name = name[: max(room - 3, 0)] + "..."
    return template.format(name=name, age=age)[:SUBJECT_MAX]


def _details(pin: PinSummary, stage: StagePlan | None, age: str) -> list[tuple[str, str]]:
    key = pin.key
    since = pin.pinned_since.astimezone(UTC)
    version = pin.runtime_version or "name not yet seen in INIT_START"
    arn = pin.runtime_version_arn or "unknown"
    rows = [
        ("Function", key.function_arn),
        ("Qualifier", key.qualifier),
        ("Account / region", f"{key.account} / {key.region}"),
        ("Pinned since", f"{_stamp(since)} ({age} ago)"),
        ("Runtime version", f"{_line(version, 100)} ({_line(arn, 120)})"),
        ("Pinned by", _line(pin.pinned_by or "unknown (found by the scan)", 300)),
    ]
    if pin.left_behind:
        rows[3] = ("Left behind since", f"{_stamp(since)} ({age} ago)")
        rows[5] = ("Pinned by", "nobody: Function update mode")
    if pin.pin_reason:
        rows.append(("Reason given", _line(pin.pin_reason, 500)))
    if pin.owner:
        rows.append(("Owner", _line(pin.owner, 200)))
    if pin.team:
        rows.append(("Team", _line(pin.team, 200)))
    rows.extend(("Warning", _line(warning, 500)) for warning in pin.warnings)
    if stage is not None:
        round_ = f", {round_label(stage.round)}" if stage.round else ""
        rows.append(("Stage", f"{stage.stage.name}{round_}"))
    return rows


def _actions(
    kind: NoticeKind, audience: tuple[Audience, ...], key: PinKey, now: datetime, links: Links
) -> list[tuple[str, str]]:
    """(label, command line) pairs for what this reader can do now."""
    target = key.function_arn + ("" if key.qualifier == LATEST else f" --qualifier {key.qualifier}")
    snooze_until = (now + timedelta(days=7)).strftime("%Y-%m-%d")
    exempt_until = (now + timedelta(days=90)).strftime("%Y-%m-%d")
    actions: list[tuple[str, str]] = []
    if kind is NoticeKind.APPROVAL_REQUEST:
        approval = links.approval_id or "<approval-id from the console>"
        actions += [
            ("Approve", f'rollforward approve {approval} --reason "..."'),
            ("Reject (snoozes it)", f'rollforward reject {approval} --reason "..."'),
        ]
    acts_on_pin = kind in LADDER_KINDS or kind in (
        NoticeKind.ROLLED_BACK,
        NoticeKind.STOPPED,
        NoticeKind.SNOOZED,
    )
    if acts_on_pin and (Audience.OWNER in audience or Audience.TEAM in audience):
        qualifier = "" if key.qualifier == LATEST else f" --qualifier {key.qualifier}"
        actions += [
            (
                "Lift the pin yourself",
                f"aws lambda put-runtime-management-config --region {key.region} "
                f"--function-name {key.function_arn}{qualifier} --update-runtime-on Auto",
            ),
            ("Snooze", f'rollforward snooze {target} --until {snooze_until} --reason "..."'),
            (
                "Exempt (known incompatibility)",
                f'rollforward exempt {target} --until {exempt_until} --reason "..."',
            ),
        ]
    elif kind is NoticeKind.APPROVAL_REQUEST:
        actions.append(
            ("Snooze", f'rollforward snooze {target} --until {snooze_until} --reason "..."')
        )
    if links.console_url:
        actions.append(("Console", links.console_url))
    if links.runbook_url:
        actions.append(("Runbook", links.runbook_url))
    return actions


# --------------------------------------------------------------------------- rendering


def _text(
    headline: str,
    details: list[tuple[str, str]],
    next_step: str,
    actions: list[tuple[str, str]],
) -> str:
    width = max(len(label) for label, _ in details) + 2
    lines = [headline, ""]
    lines += [f"{label + ':':<{width}}{value}" for label, value in details]
    lines += ["", "What happens next:", f"  {next_step}"]
    if actions:
        lines += ["", "What you can do:"]
        for label, command in actions:
            lines += [f"  {label}:", f"    {command}"]
    lines += ["", "-- rollforward (do not reply; this mailbox is not read)"]
    return "\n".join(lines) + "\n"


def _chatbot(
    kind: NoticeKind,
    subject: str,
    headline: str,
    details: list[tuple[str, str]],
    next_step: str,
    actions: list[tuple[str, str]],
    key: PinKey,
    stage: StagePlan | None,
    links: Links,
) -> dict[str, Any]:
    """AWS Chatbot (Amazon Q Developer in chat) custom notification, client-markdown."""
    description = "\n".join(
        [headline, ""]
        + [f"• {label}: {_code(value)}" for label, value in details]
        + ["", f"*Next:* {next_step}"]
    )
    context = {"pin": key.id, "kind": kind.value}
    if stage is not None:
        context["stage"] = stage.key
    if links.approval_id:
        context["approvalId"] = links.approval_id
    return {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": subject.removeprefix(_SUBJECT_PREFIX),
            "description": description,
            "nextSteps": [
                f"{label}: {value}" if value.startswith("https://") else f"{label}: {_code(value)}"
                for label, value in actions
            ],
            "keywords": [kind.value, key.account, key.region],
        },
        "metadata": {
            "threadId": key.id,
            "summary": subject,
            "eventType": kind.value,
            "relatedResources": [key.function_arn],
            "additionalContext": context,
        },
    }


def _pagerduty(
    kind: NoticeKind,
    subject: str,
    key: PinKey,
    dedup_key: str,
    now: datetime,
    details: list[tuple[str, str]],
    next_step: str,
    links: Links,
) -> dict[str, Any]:
    """PagerDuty Events API v2 body, without `routing_key` (the relay adds it). A decided
    approval resolves the incident its request opened (same dedup key)."""
    if kind is NoticeKind.APPROVAL_DECIDED:
        return {"event_action": "resolve", "dedup_key": dedup_key}
    body: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": f"{subject} ({key.account} {key.region})"[:PAGERDUTY_SUMMARY_MAX],
            "source": key.function_arn,
            "severity": _SEVERITY.get(kind, "info"),
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "component": key.function_name,
            "group": f"{key.account}/{key.region}",
            "class": kind.value,
            "custom_details": {**dict(details), "Next": next_step},
        },
    }
    page_links = [
        {"href": url, "text": text}
        for url, text in (
            (links.console_url, "rollforward console"),
            (links.runbook_url, "Runbook"),
        )
        if url
    ]
    if page_links:
        body["links"] = page_links
    return body


def _display_name(key: PinKey) -> str:
    """`my-fn` for $LATEST, `my-fn:7` for a published version (Lambda's qualified form)."""
    return key.function_name if key.qualifier == LATEST else f"{key.function_name}:{key.qualifier}"


def _code(value: str) -> str:
    """Inline code in chat markdown; a backtick in user text must not end it early."""
    return "`" + value.replace("`", "'") + "`"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _line(value: str, limit: int) -> str:
    """One line of user-supplied text, bounded: whitespace runs and control characters
    become one space, so nobody can forge extra lines in a mail or a chat message."""
    text = _CONTROL.sub(" ", str(value)).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
