"""The policy document, durations, approver rules and the escalation ladder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rollforward.model import PinKey
from rollforward.policy import (
    Audience,
    Policy,
    PolicyError,
    StagePlan,
    arn_like,
    format_duration,
    next_stage,
    parse_duration,
    resolve_until,
    same_person,
    stage_key,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def problems_of(document: object) -> str:
    with pytest.raises(PolicyError) as caught:
        Policy.from_json(document)  # type: ignore[arg-type]
    return str(caught.value)


def ladder(*stages: tuple[str, str, str], **escalation: object) -> dict[str, object]:
    return {
        "escalation": {
            "stages": [{"name": n, "offset": o, "audience": a} for n, o, a in stages],
            **escalation,
        }
    }


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3d", 3 * DAY),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2w", timedelta(weeks=2)),
        ("0s", timedelta(0)),
        ("P3D", 3 * DAY),
        ("PT12H", timedelta(hours=12)),
        ("P1DT12H30M", timedelta(days=1, hours=12, minutes=30)),
        ("P2W", timedelta(weeks=2)),
        (" 3d ", 3 * DAY),
    ],
)
def test_parse_duration_accepts_compact_and_iso(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "3", "d", "3 days", "3D", "1.5h", "-3d", "12h3d", "3d3d", "P", "PT", "P1DT", "P1M", "P1Y",
     "PT1.5H", "p3d", "3dd", "9999999999d", "1e3s"],
)  # fmt: skip
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration|too long"):
        parse_duration(text)


def test_months_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="months and years have no fixed length"):
        parse_duration("P1M")


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10_000)))
def test_format_then_parse_round_trips_whole_seconds(value: timedelta) -> None:
    whole = timedelta(days=value.days, seconds=value.seconds)
    assert parse_duration(format_duration(value)) == whole


@given(st.text(max_size=12))
def test_parse_duration_never_raises_anything_but_value_error(text: str) -> None:
    try:
        result = parse_duration(text)
    except ValueError:
        return
    assert result >= timedelta(0)


def test_format_duration_for_people() -> None:
    age = timedelta(days=16, hours=3, minutes=27, seconds=5)
    assert format_duration(age) == "16d3h27m5s"
    assert format_duration(age, max_units=2) == "16d3h"
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(timedelta(0)) == "0s"
    with pytest.raises(ValueError):
        format_duration(timedelta(seconds=-1))


# --------------------------------------------------------------------------- the document


def test_defaults_are_the_documented_policy() -> None:
    policy = Policy.default()
    stages = policy.escalation.stages
    assert [(s.name, s.offset, s.audience, s.requests_approval) for s in stages] == [
        ("detected", timedelta(0), Audience.OWNER, False),
        ("reminder", 3 * DAY, Audience.OWNER, False),
        ("team", 7 * DAY, Audience.TEAM, False),
        ("approval", 14 * DAY, Audience.ONCALL, True),
    ]
    assert [s.channel for s in stages] == ["owner", "owner", "team", "oncall"]
    assert policy.approval.approval_timeout == timedelta(hours=24)
    assert policy.approval.separation_of_duties is True
    assert policy.approval.reject_snooze == 3 * DAY
    assert policy.approval.max_snooze == 30 * DAY
    assert policy.canary.steps == (0.05, 0.25, 0.5)
    assert policy.canary.bake == timedelta(minutes=10)
    assert policy.canary.post_promotion_bake == timedelta(minutes=15)
    assert policy.canary.max_extensions == 2
    assert policy.canary.min_invocations == 500
    assert policy.tags.owner == ("rollforward:owner", "owner")
    assert policy.tags.team == ("rollforward:team", "team")
    assert policy.tags.alarms == "rollforward:alarms"
    assert policy.tags.test_events == "rollforward:test-events"
    assert Policy.from_json("{}") == Policy.from_json({}) == policy
    assert policy.channels() == {"owner", "team", "oncall"}


def test_to_json_spells_everything_out_and_round_trips() -> None:
    document = json.loads(Policy.default().to_json())
    assert document["escalation"]["stages"][1]["offset"] == "3d"
    assert document["approval"]["approval_timeout"] == "1d"
    assert Policy.from_json(json.dumps(document)) == Policy.default()
    assert Policy.from_json(json.dumps(document).encode()) == Policy.default()


def test_policy_is_immutable() -> None:
    policy = Policy.default()
    with pytest.raises(ValueError):
        policy.canary.bake = timedelta(0)  # type: ignore[misc,unused-ignore]  # frozen (pydantic)


def test_last_stage_requests_approval_unless_stated() -> None:
    policy = Policy.from_json(
        ladder(("hello", "P0D", "owner"), ("page", "PT36H", "oncall")) | {"canary": {}}
    )
    assert [s.requests_approval for s in policy.escalation.stages] == [False, True]
    assert policy.escalation.stages[1].offset == timedelta(hours=36)


def test_custom_channel_is_kept() -> None:
    doc = ladder(("a", "0d", "owner"))
    doc["escalation"]["stages"][0]["channel"] = "pager-ops"  # type: ignore[index]
    # (plus the default FunctionUpdate ladder's channels: posture.function_update_escalation)
    assert Policy.from_json(doc).channels() == {"pager-ops", "owner", "team", "oncall"}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            ladder(("a", "0d", "owner"), ("b", "3 days", "team")),
            'escalation.stages[1].offset: "3 days" is not a duration like "3d" or "P3D"',
        ),
        (
            ladder(("a", "0d", "owner"), ("b", "3d", "team"), ("c", "2d", "oncall")),
            "escalation.stages[2].offset: 2d must be later than escalation.stages[1].offset (3d)",
        ),
        (
            {"escalation": {"stages": [{"name": "a", "ofset": "0d", "audience": "owner"}]}},
            'escalation.stages[0].ofset: unknown key; did you mean "offset"?',
        ),
        ({"canary": {"stepz": [0.5]}}, 'canary.stepz: unknown key; did you mean "steps"?'),
        ({"approvals": {}}, 'approvals: unknown key; did you mean "approval"?'),
        ({"x": 1}, "x: unknown key (allowed: version, escalation, approval, canary, tags, posture)"),
        (
            ladder(("a", "0d", "boss")),
            "escalation.stages[0].audience: Input should be 'owner', 'team' or 'oncall'",
        ),
        (ladder(("Bad Name", "0d", "owner")), "escalation.stages[0].name: \"Bad Name\" must be"),
        (ladder(("a", "0d", "owner"), ("a", "1d", "team")), "'a' is used by an earlier stage"),
        ({"approval": {"separation_of_duties": "yes"}}, 'separation_of_duties: Input should be a valid boolean, got "yes"'),
        ({"canary": {"min_invocations": "500"}}, "canary.min_invocations: Input should be a valid integer"),
        ({"canary": {"steps": [0.5, 0.25]}}, "canary.steps[1]: 0.25 must be larger than canary.steps[0] (0.5)"),
        ({"canary": {"steps": [0.5, 1.0]}}, "canary.steps[1]: 1.0 must be between 0 and 1"),
        ({"canary": {"steps": [0]}}, "canary.steps[0]: 0.0 must be between 0 and 1"),
        ({"canary": {"bake": "0m"}}, "canary.bake: must be longer than zero"),
        ({"approval": {"reject_snooze": "40d"}}, "approval.reject_snooze: 40d exceeds approval.max_snooze (30d)"),
        ({"approval": {"allowed_approvers": ["OnCall*"]}}, 'approval.allowed_approvers[0]: "OnCall*" is not an ARN pattern'),
        ({"approval": {"allowed_approvers": "arn:aws:iam::*:role/x"}}, "approval.allowed_approvers: Input should be a valid array"),
        ({"escalation": {"restart_from": "nope"}}, "escalation.restart_from: 'nope' is not a stage name"),
        ({"escalation": {"stages": []}}, "escalation.stages: Tuple should have at least 1 item"),
        ({"version": 2}, "version: Input should be 1"),
        ("[1]", "(document): Input should be an object"),
        ("{oops", "(document): not valid JSON"),
        ({"when": datetime(2026, 1, 1)}, "(document): not a JSON document"),
    ],
)  # fmt: skip
def test_invalid_documents_name_the_path_and_the_problem(document: object, expected: str) -> None:
    assert expected in problems_of(document)


@pytest.mark.parametrize(
    ("flags", "found"),
    [((True, False, True), "stages[0], stages[2]"), ((False, True, False), "stages[1]"),
     ((False, False, False), "none")],
)  # fmt: skip
def test_exactly_one_approval_stage_and_it_is_last(flags: tuple[bool, ...], found: str) -> None:
    doc = ladder(("a", "0d", "owner"), ("b", "1d", "team"), ("c", "2d", "oncall"))
    for stage, flag in zip(doc["escalation"]["stages"], flags, strict=True):  # type: ignore[index]
        stage["requests_approval"] = flag
    assert f"exactly one stage, the last, must have requests_approval: true (found: {found})" in (
        problems_of(doc)
    )


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.from_json(
            {"canary": {"steps": [0.5, 0.25], "bake": "0s"}, "approval": {"reject_snooze": "40d"}}
        )
    assert len(caught.value.problems) == 3


def test_typed_values_are_not_coerced() -> None:
    assert "offset: 3 is not a duration" in problems_of(ladder(("a", 3, "owner")))  # type: ignore[arg-type]
    assert "requests_approval: Input should be a valid boolean" in problems_of(
        {"escalation": {"stages": [{"name": "a", "offset": "0d", "audience": "owner",
                                    "requests_approval": 1}]}}
    )  # fmt: skip


durations = st.integers(min_value=1, max_value=60 * 24 * 30).map(lambda m: timedelta(minutes=m))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    gaps = draw(st.lists(durations, min_size=1, max_size=6))
    first = draw(st.sampled_from([timedelta(0), timedelta(hours=1)]))
    offsets = [first]
    for gap in gaps[1:]:
        offsets.append(offsets[-1] + gap)
    audiences = draw(
        st.lists(st.sampled_from(list(Audience)), min_size=len(offsets), max_size=len(offsets))
    )
    names = [f"s{i}" for i in range(len(offsets))]
    max_snooze = draw(durations) + timedelta(days=1)
    weights = sorted(draw(st.sets(st.integers(1, 99), min_size=1, max_size=5)))
    document = {
        "escalation": {
            "stages": [
                {"name": n, "offset": format_duration(o), "audience": a.value}
                for n, o, a in zip(names, offsets, audiences, strict=True)
            ],
            "restart_from": draw(st.sampled_from([None, *names])),
            "max_rounds": draw(st.sampled_from([None, 1, 2, 5])),
        },
        "approval": {
            "approval_timeout": format_duration(draw(durations)),
            "max_snooze": format_duration(max_snooze),
            "reject_snooze": format_duration(min(draw(durations), max_snooze)),
            "allowed_approvers": draw(st.sampled_from([[], ["arn:aws:iam::*:role/OnCall*"]])),
            "separation_of_duties": draw(st.booleans()),
        },
        "canary": {"steps": [w / 100 for w in weights], "max_extensions": draw(st.integers(0, 5))},
    }
    return Policy.from_json(document)


@given(policies())
def test_generated_policies_round_trip(policy: Policy) -> None:
    assert Policy.from_json(policy.to_json()) == policy
    assert Policy.from_json(json.loads(policy.to_json())) == policy


# --------------------------------------------------------------------------- principals


@pytest.mark.parametrize(
    ("pattern", "arn", "expected"),
    [
        ("arn:aws:iam::*:role/OnCall*", "arn:aws:iam::123456789012:role/OnCallAdmin", True),
        ("arn:aws:iam::*:role/OnCall*", "arn:aws:iam::123456789012:role/Dev", False),
        ("arn:aws:sts::*:assumed-role/OnCall/*", "arn:aws:sts::123456789012:assumed-role/OnCall/bob", True),
        ("arn:aws:sts::*:assumed-role/OnCall/*", "arn:aws:sts::123456789012:assumed-role/OnCallX/bob", False),
        ("arn:aws:sts::111111111111:assumed-role/OnCall/*", "arn:aws:sts::222222222222:assumed-role/OnCall/bob", False),
        # `*` stays within its segment: it cannot stand for the account and the resource.
        ("arn:aws:iam::*", "arn:aws:iam::123456789012:role/OnCall", False),
        ("arn:aws:iam::123456789012:role/On.all", "arn:aws:iam::123456789012:role/OnCall", False),
        ("arn:aws:iam::*:role/OnCall", "not-an-arn", False),
        # In the resource part `*` stays within one path element: no `/`, no `:`.
        ("arn:aws:iam::*:user/oncall-*", "arn:aws:iam::123456789012:user/oncall-bob", True),
        ("arn:aws:iam::*:user/oncall-*", "arn:aws:iam::123456789012:user/oncall-x/mallory2", False),
        ("arn:aws:iam::*:user/*", "arn:aws:iam::123456789012:user/ops/bob", False),
        ("arn:aws:iam::*:user/*/*", "arn:aws:iam::123456789012:user/ops/bob", True),
        ("arn:aws:sts::*:assumed-role/OnCall/*", "arn:aws:sts::123456789012:assumed-role/OnCall/a:b", False),
    ],
)  # fmt: skip
def test_arn_like(pattern: str, arn: str, expected: bool) -> None:
    assert arn_like(pattern, arn) is expected


ONCALL_BOB = "arn:aws:sts::123456789012:assumed-role/OnCall/bob"
SSO_BOB = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_OnCall_0a1b/bob"


@pytest.mark.parametrize(
    ("approver", "pinner", "same"),
    [
        (ONCALL_BOB, ONCALL_BOB, True),
        (ONCALL_BOB, "arn:aws:sts::123456789012:assumed-role/Dev/bob", True),  # SSO: same person
        # Plain AssumeRole: the caller chose the session name, so one role is one person.
        (ONCALL_BOB, "arn:aws:sts::123456789012:assumed-role/OnCall/alice", True),
        # IAM Identity Center sets the session name: two users of one permission set differ,
        # one user in two permission sets (or accounts) is one person.
        (SSO_BOB, "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_OnCall_0a1b/alice", False),
        (SSO_BOB, "arn:aws:sts::210987654321:assumed-role/AWSReservedSSO_Dev_9f8e/bob", True),
        (SSO_BOB, "source-identity:Bob", True),
        (SSO_BOB, "source-identity:alice", False),
        ("arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:root", True),
        (ONCALL_BOB, "arn:aws:iam::123456789012:role/OnCall", True),  # can't tell sessions apart
        (ONCALL_BOB, "arn:aws:iam::123456789012:role/Deployer", False),
        (ONCALL_BOB, "arn:aws:iam::123456789012:user/ops/Bob", True),
        ("arn:aws:iam::123456789012:user/alice", "cloudformation.amazonaws.com", False),
    ],
)  # fmt: skip
def test_same_person_errs_towards_yes(approver: str, pinner: str, same: bool) -> None:
    assert same_person(approver, pinner) is same
    assert same_person(pinner, approver) is same


def test_approver_refusal() -> None:
    approval = Policy.from_json(
        {"approval": {"allowed_approvers": ["arn:aws:sts::*:assumed-role/OnCall/*"]}}
    ).approval
    assert approval.approver_refusal(ONCALL_BOB, "arn:aws:sts::1:assumed-role/Dev/alice") is None
    # Nobody knows who pinned: separation of duties cannot be checked, refused by default.
    refusal = approval.approver_refusal(ONCALL_BOB, None)
    assert refusal and "unknown" in refusal
    assert approval.approver_refusal(ONCALL_BOB, "rollforward (reconciling scan)") == refusal
    accepting = Policy.from_json({"approval": {"unknown_pinner": "allow"}}).approval
    assert accepting.approver_refusal(ONCALL_BOB, None) is None
    # Every pinner of the episode counts (a re-pinner too); root never decides.
    refusal = approval.approver_refusal(
        ONCALL_BOB, ("arn:aws:iam::1:user/alice", "arn:aws:sts::1:assumed-role/Dev/bob")
    )
    assert refusal and refusal.startswith("separation of duties")
    refusal = Policy.default().approval.approver_refusal("arn:aws:iam::1:root", "x")
    assert refusal and "root" in refusal
    refusal = approval.approver_refusal("arn:aws:sts::1:assumed-role/Dev/carol", None)
    assert refusal and "matches none of approval.allowed_approvers" in refusal
    refusal = approval.approver_refusal(ONCALL_BOB, "arn:aws:sts::1:assumed-role/Dev/bob")
    assert refusal and refusal.startswith("separation of duties")
    relaxed = Policy.from_json({"approval": {"separation_of_duties": False}}).approval
    assert relaxed.approver_refusal(ONCALL_BOB, ONCALL_BOB) is None


@given(
    prefix=st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True),
    first=st.from_regex(r"[A-Za-z0-9+=,.@_-]{1,12}", fullmatch=True),
    rest=st.lists(
        st.from_regex(r"[A-Za-z0-9+=,.@_-]{1,12}", fullmatch=True), min_size=1, max_size=3
    ),
    account=st.from_regex(r"\d{12}", fullmatch=True),
)
def test_a_star_never_crosses_a_path_element(
    prefix: str, first: str, rest: list[str], account: str
) -> None:
    pattern = f"arn:aws:iam::*:user/{prefix}*"
    assert arn_like(pattern, f"arn:aws:iam::{account}:user/{prefix}{first}")
    nested = f"arn:aws:iam::{account}:user/{prefix}{first}/" + "/".join(rest)
    assert not arn_like(pattern, nested)
    assert not arn_like(pattern, f"arn:aws:iam::{account}:user/{prefix}{first}:" + rest[0])


@given(pattern=st.text(max_size=60), arn=st.text(max_size=80))
def test_arn_like_is_total(pattern: str, arn: str) -> None:
    assert arn_like(pattern, arn) in (True, False)


@given(
    role=st.from_regex(r"[A-Za-z0-9+=,.@_-]{1,20}", fullmatch=True).filter(
        lambda r: not r.startswith("AWSReservedSSO_")
    ),
    a=st.from_regex(r"[A-Za-z0-9+=,.@_-]{2,20}", fullmatch=True),
    b=st.from_regex(r"[A-Za-z0-9+=,.@_-]{2,20}", fullmatch=True),
)
def test_plain_assumed_role_sessions_compare_by_role(role: str, a: str, b: str) -> None:
    """The caller chooses a plain AssumeRole session name: any two sessions of one role may be
    one person; of an Identity Center role, only equal (IdP-set) names are."""
    account = "123456789012"
    assert same_person(
        f"arn:aws:sts::{account}:assumed-role/{role}/{a}",
        f"arn:aws:sts::{account}:assumed-role/{role}/{b}",
    )
    sso = f"arn:aws:sts::{account}:assumed-role/AWSReservedSSO_OnCall_1a2b"
    assert same_person(f"{sso}/{a}", f"{sso}/{b}") is (a.lower() == b.lower())


def test_extreme_ends_are_value_errors() -> None:
    for text in ("3000000d", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "x" * 65):
        with pytest.raises(ValueError):
            resolve_until(text, T0)
    assert resolve_until("0001-01-01", T0).year == 1  # in the past: the hold refuses it


def test_exemption_refusal() -> None:
    approval = Policy.default().approval
    assert approval.exemption_refusal(T0, T0 + 90 * DAY) is None
    assert "exceeds approval.max_exemption (90d)" in (
        approval.exemption_refusal(T0, T0 + 91 * DAY) or ""
    )
    with pytest.raises(PolicyError, match="max_exemption: at most 300d"):
        Policy.from_json({"approval": {"max_exemption": "400d"}})


def test_snooze_refusal() -> None:
    approval = Policy.default().approval
    assert approval.snooze_refusal(T0, T0 + 30 * DAY) is None
    assert "exceeds approval.max_snooze (30d)" in (approval.snooze_refusal(T0, T0 + 31 * DAY) or "")
    assert "is not in the future" in (approval.snooze_refusal(T0, T0) or "")
    with pytest.raises(ValueError, match="timezone-aware"):
        approval.snooze_refusal(T0, datetime(2026, 4, 1))


def test_owner_and_team_from_tags() -> None:
    tags = Policy.from_json({"tags": {"fallback_contact": "platform@example.com"}}).tags
    assert tags.owner_of({"owner": "b", "rollforward:owner": "a"}) == "a"
    assert tags.owner_of({"owner": "b", "rollforward:owner": "  "}) == "b"
    assert tags.owner_of({}) == "platform@example.com"
    assert tags.team_of({"team": "payments"}) == "payments"
    assert tags.team_of({}) is None


# --------------------------------------------------------------------------- the ladder


def run_ladder(
    policy: Policy, sent: dict[str, datetime], now: datetime, **holds: datetime | None
) -> StagePlan:
    plan = next_stage(policy, T0, sent, now, holds.get("snoozed"), holds.get("exempt"))
    assert plan is not None
    return plan


def send(plan: StagePlan, sent: dict[str, datetime], at: datetime | None = None) -> datetime:
    sent[plan.key] = at or plan.due
    return sent[plan.key]


def test_default_ladder_schedule() -> None:
    policy, now = Policy.default(), T0
    sent: dict[str, datetime] = {}
    schedule = []
    for _ in range(6):
        plan = run_ladder(policy, sent, now)
        schedule.append((plan.key, plan.due - T0))
        now = send(plan, sent)
    assert schedule == [
        ("detected", timedelta(0)),
        ("reminder", 3 * DAY),
        ("team", 7 * DAY),
        ("approval", 14 * DAY),
        ("approval#1", 15 * DAY),  # nobody answered within approval_timeout: ask again
        ("approval#2", 16 * DAY),
    ]


def test_plan_is_stable_until_the_notice_is_recorded() -> None:
    policy, sent = Policy.default(), {"detected": T0}
    first = run_ladder(policy, sent, T0 + DAY)
    assert run_ladder(policy, sent, T0 + 2 * DAY) == first
    assert not first.is_due(T0 + DAY) and first.is_due(T0 + 3 * DAY)


def test_snooze_delays_the_rest_of_the_ladder_without_a_burst() -> None:
    policy, sent = Policy.default(), {"detected": T0}
    snooze_end = T0 + 20 * DAY
    reminder = run_ladder(policy, sent, T0 + DAY, snoozed=snooze_end)
    assert (reminder.key, reminder.due) == ("reminder", snooze_end)
    send(reminder, sent)
    team = run_ladder(policy, sent, snooze_end, snoozed=snooze_end)
    assert (team.key, team.due) == ("team", snooze_end + 4 * DAY)  # the 3d→7d gap is kept


def test_exemption_holds_like_a_snooze_and_the_later_end_wins() -> None:
    policy = Policy.default()
    plan = run_ladder(policy, {}, T0, snoozed=T0 + DAY, exempt=T0 + 40 * DAY)
    assert (plan.key, plan.due) == ("detected", T0 + 40 * DAY)


def test_rejection_snooze_brings_the_approval_request_back_in_a_new_round() -> None:
    policy = Policy.default()
    asked = T0 + 14 * DAY
    sent = {"detected": T0, "reminder": T0 + 3 * DAY, "team": T0 + 7 * DAY, "approval": asked}
    rejected_until = asked + timedelta(hours=2) + policy.approval.reject_snooze
    plan = run_ladder(policy, sent, asked + DAY, snoozed=rejected_until)
    assert (plan.key, plan.round, plan.due) == ("approval#1", 1, rejected_until)
    assert plan.dedup_key(PinKey("arn:aws:lambda:us-east-1:123456789012:function:f")) == (
        "arn:aws:lambda:us-east-1:123456789012:function:f#$LATEST#approval#1"
    )


def test_restart_from_climbs_again_from_that_stage_keeping_gaps() -> None:
    policy = Policy.from_json({"escalation": {"restart_from": "team"}})
    asked = T0 + 14 * DAY
    sent = {"detected": T0, "reminder": T0 + 3 * DAY, "team": T0 + 7 * DAY, "approval": asked}
    snooze_end = asked + 3 * DAY
    team = run_ladder(policy, sent, asked, snoozed=snooze_end)
    assert (team.key, team.due) == ("team#1", snooze_end)
    send(team, sent)
    approval = run_ladder(policy, sent, snooze_end, snoozed=snooze_end)
    assert (approval.key, approval.due) == ("approval#1", snooze_end + 7 * DAY)


def test_max_rounds_ends_the_ladder() -> None:
    policy = Policy.from_json({"escalation": {"max_rounds": 2}})
    sent = {"detected": T0, "reminder": T0, "team": T0, "approval": T0}
    assert run_ladder(policy, sent, T0).key == "approval#1"
    sent["approval#1"] = T0 + DAY
    assert next_stage(policy, T0, sent, T0 + DAY, None, None) is None


def test_the_ladder_only_climbs_and_ignores_unknown_keys() -> None:
    policy = Policy.default()
    # "reminder" never recorded (say it was added to the policy later): not sent now.
    sent = {"detected": T0, "team": T0 + 7 * DAY, "renamed-stage": T0, "team#x": T0}
    assert run_ladder(policy, sent, T0 + 8 * DAY).key == "approval"


def test_send_times_from_the_future_are_clamped_to_now() -> None:
    policy, now = Policy.default(), T0 + DAY
    plan = run_ladder(policy, {"detected": T0 + 300 * DAY}, now)
    assert plan.due == now + 3 * DAY  # as if sent now, not 300 days from now


def test_naive_datetimes_are_refused() -> None:
    policy, naive = Policy.default(), datetime(2026, 3, 1)
    for args in [
        (naive, {}, T0, None, None),
        (T0, {}, naive, None, None),
        (T0, {"detected": naive}, T0, None, None),
        (T0, {}, T0, naive, None),
        (T0, {}, T0, None, naive),
    ]:
        with pytest.raises(ValueError, match="timezone-aware"):
            next_stage(policy, *args)


def test_results_are_utc_whatever_the_input_zone() -> None:
    tokyo = timezone(timedelta(hours=9))
    plan = run_ladder(Policy.default(), {}, T0, snoozed=datetime(2026, 3, 2, 9, tzinfo=tokyo))
    assert plan.due.tzinfo is UTC and plan.due == datetime(2026, 3, 2, 0, tzinfo=UTC)


def test_stage_plan_survives_step_functions_state() -> None:
    policy = Policy.default()
    plan = StagePlan(policy.stage("approval"), 3, 2, T0 + 15 * DAY)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["due"] == "2026-03-16T09:00:00Z" and data["key"] == "approval#2"
    assert StagePlan.from_dict(policy, data) == plan
    with pytest.raises(KeyError):
        StagePlan.from_dict(policy, {**data, "stage": "gone"})
    assert stage_key("team", 0) == "team"


@settings(max_examples=150, deadline=None)
@given(
    policy=policies(),
    delays=st.lists(st.integers(0, 60 * 24 * 10), min_size=12, max_size=12),
    snoozes=st.lists(st.one_of(st.none(), st.integers(1, 60 * 24 * 20)), min_size=12, max_size=12),
    exempt_minutes=st.one_of(st.none(), st.integers(0, 60 * 24 * 60)),
)
def test_ladder_properties(
    policy: Policy,
    delays: list[int],
    snoozes: list[int | None],
    exempt_minutes: int | None,
) -> None:
    """Simulate a worker that sends late by random amounts and owners/rejections that
    snooze at random; the plans it gets must behave."""
    sent: dict[str, datetime] = {}
    now = T0
    snoozed_until: datetime | None = None
    exempt = T0 + timedelta(minutes=exempt_minutes) if exempt_minutes is not None else None
    previous_due = T0
    seen: set[tuple[str, int]] = set()
    for delay, snooze in zip(delays, snoozes, strict=True):
        plan = next_stage(policy, T0, sent, now, snoozed_until, exempt)
        if plan is None:
            assert policy.escalation.max_rounds is not None
            assert (
                max(int(k.partition("#")[2] or 0) for k in sent) + 1 == policy.escalation.max_rounds
            )
            return
        assert plan.due.tzinfo is UTC
        assert plan.due >= T0 + policy.escalation.stages[0].offset
        assert plan.due >= previous_due  # monotone along the ladder
        if snoozed_until:
            assert plan.due >= snoozed_until
        if exempt:
            assert plan.due >= exempt
        assert (plan.stage.name, plan.round) not in seen  # each rung once per round
        seen.add((plan.stage.name, plan.round))
        assert plan.key not in sent
        if plan.round:
            assert plan.index >= policy.escalation.restart_index
        previous_due = plan.due
        now = max(now, plan.due) + timedelta(minutes=delay)
        sent[plan.key] = now
        if snooze is not None:
            snoozed_until = now + timedelta(minutes=snooze)
