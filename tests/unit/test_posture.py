"""The posture core: rows, statuses and since-when; template pins; image notices; gauges."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rollforward.model import UpdateMode
from rollforward.posture import (
    FunctionFacts,
    PinFacts,
    PosturePolicy,
    Row,
    Status,
    assess,
    assess_fleet,
    image_notice,
    newest_seen,
    parse_template,
    summarize,
    template_pins,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OLD = "arn:aws:lambda:us-east-1::runtime:" + "a" * 64
NEW = "arn:aws:lambda:us-east-1::runtime:" + "b" * 64
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
POLICY = PosturePolicy(function_update_max_age=timedelta(days=30), image_max_age=timedelta(days=90))


def facts(name: str, mode: UpdateMode | None, *, days: float = 1, arn: str = OLD, **extra: object):
    fields: dict[str, object] = {
        "function_arn": ARN + name,
        "qualifier": "$LATEST",
        "package_type": "Zip",
        "last_modified": NOW - timedelta(days=days),
        "runtime": "python3.12",
        "region": "us-east-1",
        "update_runtime_on": mode,
        "runtime_version_arn": arn,
    }
    fields.update(extra)
    return FunctionFacts(**fields)  # type: ignore[arg-type]


def image(name: str, *, pushed_days: float | None, modified_days: float = 1) -> FunctionFacts:
    return FunctionFacts(
        function_arn=ARN + name,
        qualifier="$LATEST",
        package_type="Image",
        last_modified=NOW - timedelta(days=modified_days),
        image_uri=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}:v1",
        resolved_image_uri=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}@sha256:{'c' * 64}",
        image_pushed_at=None if pushed_days is None else NOW - timedelta(days=pushed_days),
        owner="team-a@example.com",
    )


def test_auto_is_met() -> None:
    verdict = assess(facts("a", UpdateMode.AUTO), newest={}, policy=POLICY, now=NOW)
    assert (verdict.row, verdict.status) == (Row.AUTO, Status.MET)


def test_function_update_behind_and_idle_past_the_policy_is_unmet_since_the_deadline() -> None:
    fleet = [
        facts("fresh", UpdateMode.AUTO, days=0.5, arn=NEW),
        facts("stale", UpdateMode.FUNCTION_UPDATE, days=40, arn=OLD),
    ]
    by_name = {a.function_name: a for a in assess_fleet(fleet, policy=POLICY, now=NOW)}

    stale = by_name["stale"]
    assert (stale.row, stale.status) == (Row.FUNCTION_UPDATE, Status.UNMET)
    assert stale.since == NOW - timedelta(days=10)
    assert stale.unmet_for(NOW) == timedelta(days=10)
    assert "not updated for 40 days" in stale.reason
    assert stale.evidence["newest_seen"] == NEW


def test_function_update_behind_within_the_grace_is_due() -> None:
    fleet = [facts("fresh", UpdateMode.AUTO, arn=NEW, days=0.1)]
    fleet.append(facts("recent", UpdateMode.FUNCTION_UPDATE, days=5, arn=OLD))
    [_, recent] = assess_fleet(fleet, policy=POLICY, now=NOW)
    assert recent.status is Status.DUE
    assert recent.unmet_for(NOW) is None


def test_function_update_on_the_newest_is_met_however_old() -> None:
    fleet = [facts("fu", UpdateMode.FUNCTION_UPDATE, days=300, arn=NEW)]
    assert (
        assess_fleet(
            fleet, policy=POLICY, now=NOW, newest={("python3.12", "us-east-1", "x86_64"): NEW}
        )[0].status
        is Status.MET
    )


def test_function_update_with_no_newest_seen_is_unknown_not_met() -> None:
    verdict = assess(facts("fu", UpdateMode.FUNCTION_UPDATE), newest={}, policy=POLICY, now=NOW)
    assert verdict.status is Status.UNKNOWN


def test_newest_seen_is_the_most_recently_modified_auto_or_function_update_version() -> None:
    fleet = [
        facts("older", UpdateMode.AUTO, days=10, arn=OLD),
        facts("newer", UpdateMode.FUNCTION_UPDATE, days=1, arn=NEW),
        facts("pinned", UpdateMode.MANUAL, days=0, arn=OLD),  # a pin says nothing about newest
        facts("arm", UpdateMode.AUTO, days=0, arn=OLD, architecture="arm64"),
    ]
    assert newest_seen(fleet) == {
        ("python3.12", "us-east-1", "x86_64"): NEW,
        ("python3.12", "us-east-1", "arm64"): OLD,
    }


def test_manual_is_unmet_since_the_ledger_first_seen() -> None:
    pin = PinFacts(first_seen=NOW - timedelta(days=16), stage="approval", pin_id="p")
    verdict = assess(facts("m", UpdateMode.MANUAL, pin=pin), newest={}, policy=POLICY, now=NOW)
    assert (verdict.row, verdict.status) == (Row.MANUAL, Status.UNMET)
    assert verdict.unmet_for(NOW) == timedelta(days=16)
    untracked = assess(facts("m", UpdateMode.MANUAL, days=3), newest={}, policy=POLICY, now=NOW)
    assert untracked.since == NOW - timedelta(days=3)
    assert "not tracked" in untracked.reason


def test_image_age_is_the_ecr_push_date_of_the_resolved_digest() -> None:
    old = assess(image("old", pushed_days=120, modified_days=2), newest={}, policy=POLICY, now=NOW)
    assert (old.row, old.status) == (Row.CONTAINER_IMAGE, Status.UNMET)
    assert old.since == NOW - timedelta(days=30)
    assert "120 days old" in old.reason
    young = assess(
        image("young", pushed_days=10, modified_days=200), newest={}, policy=POLICY, now=NOW
    )
    assert young.status is Status.MET


def test_image_outside_ecr_ages_from_last_modified() -> None:
    verdict = assess(
        image("x", pushed_days=None, modified_days=100), newest={}, policy=POLICY, now=NOW
    )
    assert verdict.status is Status.UNMET
    assert "LastModified" in verdict.evidence["image_age_source"]


def test_an_unreadable_mode_is_unknown() -> None:
    verdict = assess(facts("u", None), newest={}, policy=POLICY, now=NOW)
    assert verdict.status is Status.UNKNOWN


def test_policy_refuses_non_positive_ages() -> None:
    with pytest.raises(ValueError, match="image_max_age"):
        PosturePolicy(image_max_age=timedelta(0))


# --- image notices ------------------------------------------------------------------------


def test_image_notice_names_the_image_its_age_and_the_action() -> None:
    verdict = assess(image("reports", pushed_days=120), newest={}, policy=POLICY, now=NOW)
    notice = image_notice(verdict, NOW)
    assert notice is not None
    assert "reports@sha256:" in notice.text
    assert "120 days old" in notice.subject
    assert "Rebuild the image from the latest version of its base image" in notice.text
    assert "update-function-code --function-name reports" in notice.text
    assert notice.audience == "owner" and notice.owner == "team-a@example.com"
    assert notice.dedup_key.endswith("#image#sha256:" + "c" * 64)
    assert len(notice.sns_publish_kwargs("arn:topic")["Subject"]) < 100


def test_no_notice_for_a_young_image_or_another_row() -> None:
    young = assess(image("y", pushed_days=1), newest={}, policy=POLICY, now=NOW)
    manual = assess(facts("m", UpdateMode.MANUAL), newest={}, policy=POLICY, now=NOW)
    assert image_notice(young, NOW) is None
    assert image_notice(manual, NOW) is None


# --- templates ------------------------------------------------------------------------------

PIN = {"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": OLD}


def _template(function_properties: dict[str, object], **resources: object) -> dict[str, object]:
    return {
        "Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": function_properties},
            **resources,
        }
    }


def test_a_function_runtime_management_config_manual_pins() -> None:
    pins = template_pins("stack", _template({"RuntimeManagementConfig": PIN}))
    pin = pins["Fn"]
    assert pin.property_path == "Resources.Fn.Properties.RuntimeManagementConfig"
    assert pin.runtime_version_arn == OLD
    assert "stack stack pins this function to Manual" in pin.sentence


def test_a_version_runtime_policy_pins_its_function() -> None:
    version = {
        "Type": "AWS::Lambda::Version",
        "Properties": {"FunctionName": {"Ref": "Fn"}, "RuntimePolicy": PIN},
    }
    pins = template_pins("stack", _template({}, Ver=version))
    assert pins["Fn"].property_path == "Resources.Ver.Properties.RuntimePolicy"


def test_auto_and_function_update_do_not_pin_an_intrinsic_may() -> None:
    assert (
        template_pins("s", _template({"RuntimeManagementConfig": {"UpdateRuntimeOn": "Auto"}}))
        == {}
    )
    may = template_pins(
        "s", _template({"RuntimeManagementConfig": {"UpdateRuntimeOn": {"Ref": "Mode"}}})
    )
    assert may["Fn"].update_runtime_on == "<intrinsic>"
    assert "may pin" in may["Fn"].sentence


def test_yaml_templates_with_short_form_intrinsics() -> None:
    text = """
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Role: !GetAtt Role.Arn
      RuntimeManagementConfig:
        UpdateRuntimeOn: Manual
        RuntimeVersionArn: !Ref PinnedVersion
"""
    document = parse_template(text)
    assert document is not None
    pin = template_pins("s", document)["Fn"]
    assert (pin.update_runtime_on, pin.runtime_version_arn) == ("Manual", "<intrinsic>")


def test_json_text_templates_parse() -> None:
    assert parse_template(json.dumps(_template({}))) == _template({})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)


@given(json_values)
def test_any_json_document_is_read_without_raising(document: object) -> None:
    parsed = parse_template(json.dumps(document))
    if parsed is not None:
        template_pins("s", parsed)


@given(st.text(max_size=300))
def test_any_text_is_read_without_raising(text: str) -> None:
    parsed = parse_template(text)
    if parsed is not None:
        template_pins("s", parsed)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_any_function_properties_are_read_without_raising(properties: dict[str, object]) -> None:
    template_pins("s", _template(properties))


# --- gauges -------------------------------------------------------------------------------


def test_the_summary_has_every_row_even_empty() -> None:
    fleet = [
        facts("a", UpdateMode.AUTO, arn=NEW, days=0),
        facts("fu", UpdateMode.FUNCTION_UPDATE, days=40),
        image("img", pushed_days=120),
    ]
    assessments = assess_fleet(fleet, policy=POLICY, now=NOW)
    counts = {c.row: c for c in summarize(assessments, NOW)}
    assert counts[Row.FUNCTION_UPDATE].unmet == 1
    assert counts[Row.CONTAINER_IMAGE].oldest_unmet == timedelta(days=30)
    assert counts[Row.MANUAL].functions == 0
    assert set(counts) == set(Row)


# --- drift --------------------------------------------------------------------------------


def test_a_cloudformation_repin_after_a_promotion_is_drift_with_stack_and_property() -> None:
    from rollforward.posture.drift import classify_repin

    pin = template_pins("billing-stack", _template({"RuntimeManagementConfig": PIN}))["Fn"]
    identity = {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::123456789012:assumed-role/deployer/AWSCloudFormation",
        "invokedBy": "cloudformation.amazonaws.com",
    }
    drift = classify_repin(
        previously_promoted=True,
        user_identity=identity,
        stack_name="billing-stack",
        template_pin=pin,
        runtime_version_arn=OLD,
        at=NOW,
    )
    assert drift is not None
    assert drift.entry()["stack"] == "billing-stack"
    assert drift.entry()["property"] == "Resources.Fn.Properties.RuntimeManagementConfig"


def test_a_human_repin_or_a_first_pin_is_not_drift() -> None:
    from rollforward.posture.drift import classify_repin

    human = {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/dana"}
    cfn = {"invokedBy": "cloudformation.amazonaws.com"}
    common = {"stack_name": "s", "template_pin": None, "runtime_version_arn": OLD, "at": NOW}
    assert classify_repin(previously_promoted=True, user_identity=human, **common) is None  # type: ignore[arg-type]
    assert classify_repin(previously_promoted=False, user_identity=cfn, **common) is None  # type: ignore[arg-type]
