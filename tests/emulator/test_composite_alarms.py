"""CloudWatch composite alarms in the embedded AWS (emulator/cloudwatch.py): PutCompositeAlarm,
DescribeAlarms' AlarmTypes, the rule's evaluation and its propagation. Rows in
docs/parity/logs-cloudwatch.md."""

from __future__ import annotations

import contextlib
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from emulator.cloudwatch import RuleError, evaluate, parse_rule
from emulator.inprocess import EmbeddedAws

REGION = "us-east-1"
BOTH = ["MetricAlarm", "CompositeAlarm"]


@pytest.fixture
def cw(aws: EmbeddedAws) -> Any:
    return boto3.client("cloudwatch", region_name=REGION)


def _metric_alarm(cw: Any, name: str, state: str = "OK") -> None:
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")


def _state(cw: Any, name: str) -> str:
    alarms = cw.describe_alarms(AlarmNames=[name], AlarmTypes=BOTH)
    [alarm] = alarms["MetricAlarms"] + alarms["CompositeAlarms"]
    return str(alarm["StateValue"])


def test_describe_alarms_without_alarm_types_returns_metric_alarms_only(cw: Any) -> None:
    _metric_alarm(cw, "errors")
    cw.put_composite_alarm(AlarmName="any", AlarmRule='ALARM("errors")')
    plain = cw.describe_alarms(AlarmNames=["errors", "any"])
    assert [a["AlarmName"] for a in plain["MetricAlarms"]] == ["errors"]
    assert plain.get("CompositeAlarms", []) == []
    composite_only = cw.describe_alarms(AlarmNames=["errors", "any"], AlarmTypes=["CompositeAlarm"])
    assert composite_only.get("MetricAlarms", []) == []
    assert [a["AlarmName"] for a in composite_only["CompositeAlarms"]] == ["any"]
    assert composite_only["CompositeAlarms"][0]["AlarmRule"] == 'ALARM("errors")'


def test_composite_state_follows_its_members(cw: Any) -> None:
    _metric_alarm(cw, "errors")
    _metric_alarm(cw, "latency")
    cw.put_composite_alarm(AlarmName="both", AlarmRule="ALARM(errors) AND ALARM(latency)")
    cw.put_composite_alarm(AlarmName="outer", AlarmRule='NOT OK("both")')  # composite of composite
    assert _state(cw, "both") == "OK" and _state(cw, "outer") == "OK"
    cw.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="test")
    assert _state(cw, "both") == "OK"
    cw.set_alarm_state(AlarmName="latency", StateValue="ALARM", StateReason="test")
    assert _state(cw, "both") == "ALARM" and _state(cw, "outer") == "ALARM"
    cw.set_alarm_state(AlarmName="latency", StateValue="INSUFFICIENT_DATA", StateReason="test")
    assert _state(cw, "both") == "OK" and _state(cw, "outer") == "OK"


def test_a_new_composite_is_evaluated_at_once_and_an_arn_names_a_member(cw: Any) -> None:
    _metric_alarm(cw, "errors", "ALARM")
    arn = cw.describe_alarms(AlarmNames=["errors"])["MetricAlarms"][0]["AlarmArn"]
    cw.put_composite_alarm(AlarmName="by-arn", AlarmRule=f'ALARM("{arn}")')
    assert _state(cw, "by-arn") == "ALARM"
    cw.put_composite_alarm(AlarmName="constant", AlarmRule="FALSE OR (TRUE AND NOT FALSE)")
    assert _state(cw, "constant") == "ALARM"


@pytest.mark.parametrize(
    "rule",
    [" ", "ALARM(errors", "ALARM(errors) AND", "ALARM()", "WARN(errors)", "ALARM(errors) ALARM(x)"],
)
def test_a_malformed_rule_is_refused_and_changes_nothing(cw: Any, rule: str) -> None:
    _metric_alarm(cw, "errors")
    with pytest.raises(ClientError) as refused:
        cw.put_composite_alarm(AlarmName="bad", AlarmRule=rule)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert cw.describe_alarms(AlarmTypes=["CompositeAlarm"]).get("CompositeAlarms", []) == []


def test_a_rule_naming_a_missing_alarm_is_refused(cw: Any) -> None:
    with pytest.raises(ClientError) as refused:
        cw.put_composite_alarm(AlarmName="ghostly", AlarmRule="ALARM(ghost)")
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "ghost" in refused.value.response["Error"]["Message"]


def test_a_member_of_a_composite_cannot_be_deleted(cw: Any) -> None:
    _metric_alarm(cw, "errors")
    cw.put_composite_alarm(AlarmName="any", AlarmRule="ALARM(errors)")
    with pytest.raises(ClientError) as refused:
        cw.delete_alarms(AlarmNames=["errors"])
    assert refused.value.response["Error"]["Code"] == "ResourceConflict"
    assert _state(cw, "errors") == "OK"
    cw.delete_alarms(AlarmNames=["any"])
    cw.delete_alarms(AlarmNames=["errors"])
    assert cw.describe_alarms(AlarmTypes=BOTH).get("MetricAlarms", []) == []


def test_an_update_keeps_the_state_then_reevaluates(cw: Any) -> None:
    _metric_alarm(cw, "errors", "ALARM")
    cw.put_composite_alarm(AlarmName="any", AlarmRule="ALARM(errors)")
    assert _state(cw, "any") == "ALARM"
    cw.put_composite_alarm(AlarmName="any", AlarmRule="OK(errors)")
    assert _state(cw, "any") == "OK"


# --- the rule grammar (hypothesis) -----------------------------------------------------------

_NAMES = st.sampled_from(["a", "b", "c"])
_STATES = st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA"])


def _rules() -> st.SearchStrategy[tuple[str, Any]]:
    """(rule text, python predicate over a states dict)."""
    leaf = st.one_of(
        st.tuples(_STATES, _NAMES).map(
            lambda p: (f'{p[0]}("{p[1]}")', lambda s, p=p: s.get(p[1]) == p[0])
        ),
        st.booleans().map(lambda b: ("TRUE" if b else "FALSE", lambda s, b=b: b)),
    )

    def extend(children: st.SearchStrategy[tuple[str, Any]]) -> st.SearchStrategy[tuple[str, Any]]:
        return st.one_of(
            children.map(lambda c: (f"NOT ({c[0]})", lambda s, c=c: not c[1](s))),
            st.tuples(children, children).map(
                lambda p: (f"({p[0][0]}) AND ({p[1][0]})", lambda s, p=p: p[0][1](s) and p[1][1](s))
            ),
            st.tuples(children, children).map(
                lambda p: (f"({p[0][0]}) OR ({p[1][0]})", lambda s, p=p: p[0][1](s) or p[1][1](s))
            ),
        )

    return st.recursive(leaf, extend, max_leaves=8)


@given(_rules(), st.dictionaries(_NAMES, _STATES))
def test_rule_evaluation_matches_its_meaning(rule: tuple[str, Any], states: dict[str, str]) -> None:
    text, meaning = rule
    assert evaluate(parse_rule(text), states) == meaning(states)


@given(st.text(max_size=60))
def test_the_rule_parser_never_crashes_on_arbitrary_text(text: str) -> None:
    with contextlib.suppress(RuleError):
        parse_rule(text)


def test_not_binds_tighter_than_and_and_and_tighter_than_or() -> None:
    states = {"a": "ALARM", "b": "OK"}
    assert evaluate(parse_rule("TRUE OR FALSE AND FALSE"), states) is True
    assert evaluate(parse_rule("NOT ALARM(a) AND FALSE OR TRUE"), states) is True
    assert evaluate(parse_rule("NOT (ALARM(a) OR OK(b))"), states) is False
