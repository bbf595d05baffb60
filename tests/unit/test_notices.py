"""Notices: what people read, in every channel's shape."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rollforward.audit.notices import (
    LADDER_KINDS,
    PAGERDUTY_SUMMARY_MAX,
    SUBJECT_MAX,
    Links,
    Notice,
    NoticeKind,
    PinSummary,
    build_notice,
    ladder_kind,
)
from rollforward.model import PinKey
from rollforward.policy import Audience, Policy, StagePlan, next_stage

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=14, hours=3)
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders-api"
RUNTIME_ARN = "arn:aws:lambda:eu-west-1::runtime:" + "0f" * 32
PINNER = "arn:aws:sts::123456789012:assumed-role/Developer/alice@example.com"
POLICY = Policy.default()
LINKS = Links(console_url="https://rollforward.example.com/pins/abc", approval_id="apr-7f3e")


def pin(qualifier: str = "$LATEST", **changes: object) -> PinSummary:
    fields: dict[str, object] = {
        "key": PinKey(FUNCTION_ARN, qualifier),
        "pinned_since": T0,
        "runtime_version_arn": RUNTIME_ARN,
        "runtime_version": "python:3.12.v27",
        "pinned_by": PINNER,
        "pin_reason": "v28 broke our pydantic import",
        "owner": "alice@example.com",
        "team": "payments",
    } | changes
    return PinSummary(**fields)  # type: ignore[arg-type]


def plan(name: str, round_: int = 0) -> StagePlan:
    index = POLICY.escalation.index_of(name)
    assert index is not None
    return StagePlan(POLICY.escalation.stages[index], index, round_, NOW)


STAGE_FOR = {
    NoticeKind.DETECTED: "detected",
    NoticeKind.REMINDER: "reminder",
    NoticeKind.TEAM: "team",
    NoticeKind.APPROVAL_REQUEST: "approval",
    NoticeKind.APPROVAL_DECIDED: "approval",
}


def notice(kind: NoticeKind, summary: PinSummary | None = None, **kwargs: object) -> Notice:
    stage = plan(STAGE_FOR[kind]) if kind in STAGE_FOR else None
    return build_notice(
        kind,
        summary or pin(),
        kwargs.pop("stage", stage),  # type: ignore[arg-type]
        NOW,
        "On-call will be asked to approve on 2026-03-15 09:00 UTC.",
        kwargs.pop("links", LINKS),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_every_notice_says_what_where_since_when_who_and_what_next(kind: NoticeKind) -> None:
    text = notice(kind).text
    for fact in [
        FUNCTION_ARN,
        "123456789012 / eu-west-1",
        "$LATEST",
        "2026-03-01 09:00 UTC (14d3h ago)",
        "python:3.12.v27",
        RUNTIME_ARN,
        PINNER,
        "On-call will be asked to approve on 2026-03-15 09:00 UTC.",
    ]:
        assert fact in text, (kind, fact)


def test_owner_notices_offer_fix_snooze_and_exempt_but_not_approval() -> None:
    text = notice(NoticeKind.REMINDER).text
    assert "aws lambda put-runtime-management-config --region eu-west-1 " in text
    assert f"--function-name {FUNCTION_ARN} --update-runtime-on Auto" in text
    assert f'rollforward snooze {FUNCTION_ARN} --until 2026-03-22 --reason "..."' in text
    assert f"rollforward exempt {FUNCTION_ARN} --until " in text
    assert "rollforward approve" not in text
    assert "has been pinned for 14d3h" in text


def test_oncall_approval_request_offers_approve_and_reject_with_the_id() -> None:
    approval = notice(NoticeKind.APPROVAL_REQUEST)
    assert approval.audience == (Audience.ONCALL,)
    assert approval.channels == ("oncall",)
    assert 'rollforward approve apr-7f3e --reason "..."' in approval.text
    assert 'rollforward reject apr-7f3e --reason "..."' in approval.text
    assert "put-runtime-management-config" not in approval.text  # owner wording, not on-call's
    assert "canary" in approval.text and approval.subject.startswith(
        "[rollforward] Approval needed"
    )
    assert "https://rollforward.example.com/pins/abc" in approval.text


def test_commands_never_contain_a_shell_variable() -> None:
    """`$LATEST` inside a pasted command would be expanded by the shell."""
    for kind in NoticeKind:
        n = notice(kind)
        commands = [
            line for line in n.text.splitlines() if "rollforward " in line or "aws " in line
        ]
        assert not any("$" in line for line in commands), kind
        assert not any("$" in step for step in n.chatbot["content"]["nextSteps"])


def test_published_versions_are_named_with_their_qualifier() -> None:
    n = notice(NoticeKind.DETECTED, pin("7"))
    assert n.subject == "[rollforward] Pinned runtime: orders-api:7"
    assert f"rollforward snooze {FUNCTION_ARN} --qualifier 7 --until" in n.text
    assert f"--function-name {FUNCTION_ARN} --qualifier 7 --update-runtime-on Auto" in n.text
    assert n.dedup_key == f"{FUNCTION_ARN}#7#detected"


@given(
    kind=st.sampled_from(list(NoticeKind)),
    name=st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    qualifier=st.sampled_from(["$LATEST", "1", "9999999999"]),
)
def test_subject_fits_sns(kind: NoticeKind, name: str, qualifier: str) -> None:
    key = PinKey(f"arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:{name}", qualifier)
    n = notice(kind, pin(key=key, pinned_since=T0 - timedelta(days=999, hours=23)))
    assert len(n.subject) <= SUBJECT_MAX
    assert n.subject.isprintable() and n.subject.isascii()
    assert len(n.pagerduty.get("payload", {}).get("summary", "")) <= PAGERDUTY_SUMMARY_MAX
    assert len(n.dedup_key) <= 255  # PagerDuty's limit


def test_user_text_cannot_forge_lines() -> None:
    forged = "fine\nWhat you can do:\n  rollforward approve evil --reason x\x1b[31m"
    n = notice(NoticeKind.DETECTED, pin(pin_reason=forged), facts={"Note\n": forged})
    assert "\nWhat you can do:\n  rollforward approve evil" not in n.text
    assert "\x1b" not in n.text
    assert "Reason given:     fine What you can do: rollforward approve evil" in n.text


def test_facts_are_shown_everywhere() -> None:
    n = notice(
        NoticeKind.ROLLED_BACK,
        facts={"Why": "error rate 4.1% vs 0.2% at 25% weight", "Evidence": "812 invocations"},
    )
    assert "Why:" in n.text and "error rate 4.1% vs 0.2% at 25% weight" in n.text
    assert (
        n.pagerduty["payload"]["custom_details"]["Why"] == "error rate 4.1% vs 0.2% at 25% weight"
    )
    assert "812 invocations" in n.chatbot["content"]["description"]
    assert n.pagerduty["payload"]["severity"] == "error"
    assert n.audience == (Audience.OWNER, Audience.ONCALL)


def test_chatbot_custom_notification_schema() -> None:
    chat = notice(NoticeKind.APPROVAL_REQUEST).chatbot
    assert chat["version"] == "1.0" and chat["source"] == "custom"
    assert chat["content"]["textType"] == "client-markdown"
    assert chat["content"]["title"] == "Approval needed: roll orders-api forward"
    assert all(isinstance(step, str) for step in chat["content"]["nextSteps"])
    assert 'Approve: `rollforward approve apr-7f3e --reason "..."`' in chat["content"]["nextSteps"]
    assert chat["metadata"]["threadId"] == f"{FUNCTION_ARN}#$LATEST"  # one thread per pin
    assert chat["metadata"]["relatedResources"] == [FUNCTION_ARN]
    assert chat["metadata"]["additionalContext"]["approvalId"] == "apr-7f3e"
    assert all(isinstance(v, str) for v in chat["metadata"]["additionalContext"].values())


def test_backticks_in_user_text_do_not_break_chat_markdown() -> None:
    chat = notice(NoticeKind.DETECTED, pin(pin_reason="see `config`")).chatbot
    assert "`see 'config'`" in chat["content"]["description"]


def test_pagerduty_dedup_keys_follow_the_ladder_and_decisions_resolve() -> None:
    request = notice(NoticeKind.APPROVAL_REQUEST, stage=plan("approval", 2))
    assert request.pagerduty["event_action"] == "trigger"
    assert request.pagerduty["dedup_key"] == f"{FUNCTION_ARN}#$LATEST#approval#2"
    assert request.pagerduty["payload"]["severity"] == "warning"
    assert "routing_key" not in request.pagerduty
    decided = notice(NoticeKind.APPROVAL_DECIDED, stage=plan("approval", 2))
    assert decided.pagerduty == {"event_action": "resolve", "dedup_key": request.dedup_key}
    promoted = notice(NoticeKind.PROMOTED)
    assert promoted.dedup_key == f"{FUNCTION_ARN}#$LATEST#promoted"
    assert promoted.pagerduty["payload"]["severity"] == "info"


@pytest.mark.parametrize("kind", sorted(LADDER_KINDS | {NoticeKind.APPROVAL_DECIDED}))
def test_ladder_notices_need_their_stage(kind: NoticeKind) -> None:
    with pytest.raises(ValueError, match="needs the StagePlan"):
        notice(kind, stage=None)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_notice(NoticeKind.PROMOTED, pin(), None, datetime(2026, 3, 1), "done", Links())
    with pytest.raises(ValueError, match="timezone-aware"):
        pin(pinned_since=datetime(2026, 3, 1))


def test_sns_message_has_a_body_per_protocol() -> None:
    n = notice(NoticeKind.APPROVAL_REQUEST)
    kwargs = n.sns_publish_kwargs()
    assert kwargs["MessageStructure"] == "json" and kwargs["Subject"] == n.subject
    bodies = json.loads(kwargs["Message"])
    assert bodies["default"] == bodies["email"] == n.text
    assert json.loads(bodies["https"]) == n.chatbot
    forwarded = json.loads(bodies["lambda"])
    assert forwarded["pagerduty"] == n.pagerduty and forwarded["kind"] == "approval_request"
    assert len(kwargs["Message"].encode()) < 256 * 1024


def test_message_attributes_let_subscriptions_filter() -> None:
    attributes = notice(NoticeKind.ROLLED_BACK).sns_publish_kwargs()["MessageAttributes"]
    assert attributes["audience"] == {
        "DataType": "String.Array",
        "StringValue": '["owner", "oncall"]',
    }
    assert attributes["function"]["StringValue"] == FUNCTION_ARN
    assert attributes["stage"]["StringValue"] == "rolled_back"
    assert len(attributes) <= 10  # SNS limit
    reminder = notice(NoticeKind.REMINDER, stage=plan("reminder", 1)).message_attributes
    assert reminder["stage"]["StringValue"] == "reminder#1"


def test_ladder_kind_follows_the_default_ladder() -> None:
    sent: dict[str, datetime] = {}
    kinds = []
    for _ in range(5):
        step = next_stage(POLICY, T0, sent, T0 + timedelta(days=30), None, None)
        assert step is not None
        kinds.append(ladder_kind(step))
        sent[step.key] = step.due
    assert kinds == [
        NoticeKind.DETECTED,
        NoticeKind.REMINDER,
        NoticeKind.TEAM,
        NoticeKind.APPROVAL_REQUEST,
        NoticeKind.APPROVAL_REQUEST,
    ]


def test_unknown_facts_are_safe_defaults() -> None:
    bare = PinSummary(PinKey(FUNCTION_ARN), T0)
    text = build_notice(NoticeKind.DETECTED, bare, plan("detected"), NOW, "x", Links()).text
    assert "unknown (found by the scan)" in text
    assert re.search(r"Runtime version: +name not yet seen in INIT_START \(unknown\)", text)
    assert "Console" not in text


@pytest.mark.parametrize(
    "kind",
    [NoticeKind.DETECTED, NoticeKind.REMINDER, NoticeKind.TEAM, NoticeKind.APPROVAL_REQUEST],
)
def test_a_function_update_item_left_behind_is_not_called_pinned(kind: NoticeKind) -> None:
    """Nobody pinned a FunctionUpdate function left behind: its ladder says what it is."""
    left = pin(pinned_by=None, pin_reason=None, left_behind=True)
    built = notice(kind, left)
    headline = built.text.split("\n")[0]
    assert "pinned" not in built.subject.lower(), built.subject
    assert "pinned" not in headline.lower(), headline
    assert "Function update mode" in headline
    assert re.search(r"Left behind since: +2026-03-01 09:00 UTC \(14d3h ago\)", built.text)
    assert re.search(r"Pinned by: +nobody: Function update mode", built.text)
    # ... and a pin's notice still says it is pinned.
    assert "pinned" in (notice(kind).subject + notice(kind).text.split("\n")[0]).lower()


def test_a_left_behind_item_rolled_back_stays_in_function_update_mode() -> None:
    subject = notice(NoticeKind.ROLLED_BACK, pin(left_behind=True)).subject
    assert subject.endswith("stays in Function update mode")


def test_the_approval_request_states_the_canary_plan_and_only_it_does() -> None:
    sentence = (
        "~40 invocations/day: an unattended canary would need ~45 days; options: test events, "
        "a longer window, or accept untested"
    )
    planned = pin(canary_plan=sentence)
    request = notice(NoticeKind.APPROVAL_REQUEST, planned)
    assert re.search(r"Canary plan: +~40 invocations/day", request.text)
    assert sentence in request.text.replace("\n", " ") or sentence in request.text
    assert sentence in json.dumps(request.chatbot) and sentence in json.dumps(request.pagerduty)
    assert sentence not in notice(NoticeKind.REMINDER, planned).text  # the owner's rungs
