"""The canary against a function's LoggingConfig and its watched alarms (issue 8).

- A function logging JSON to a custom group writes `platform.initStart` there, never the text
  INIT_START in /aws/lambda/<name>: its canary must still prove the runtime that ran.
- A composite alarm in ALARM named by the function's `rollforward:alarms` tag stops the canary
  at preflight (DescribeAlarms without AlarmTypes would not even see it).
"""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
from rollforward.ledger import Stage

from emulator.traffic import generate_traffic
from tests.e2e.harness import Lifecycle, Principal, approve_pending, code_zip, wait_for

BAKE = timedelta(minutes=10)
LOG_GROUP = "/custom/checkout-json"


def _function(
    lifecycle: Lifecycle, name: str, *, tags: dict[str, str] | None = None, **extra
) -> str:
    """Pinned on $LATEST, serving through alias `live` on version 1."""
    lifecycle.lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=lifecycle.role,
        Code={"ZipFile": code_zip()},
        Tags={
            "rollforward:owner": "alice@example.com",
            "rollforward:team": "payments",
            **(tags or {}),
        },
        **extra,
    )
    lifecycle.pin(name)
    version = lifecycle.lam.publish_version(FunctionName=name)["Version"]
    lifecycle.lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    wait_for(lambda: lifecycle.pin_record(name), what="the ledger item")
    return str(version)


def _to_canary(lifecycle: Lifecycle, name: str) -> None:
    lifecycle.advance(14.2, settle=lambda: lifecycle.pending_approval(name))
    approve_pending(lifecycle, name, Principal("oncall-alice"))


def test_a_json_logging_function_with_a_custom_group_proves_its_runtime_and_is_promoted(
    lifecycle: Lifecycle,
):
    name = "checkout-json"
    _function(lifecycle, name, LoggingConfig={"LogFormat": "JSON", "LogGroup": LOG_GROUP})
    released = lifecycle.aws.state.catalog.release("python3.12", "us-east-1")
    _to_canary(lifecycle, name)

    for _ in range(12):
        lifecycle.settle()
        if not lifecycle.pin_record(name).is_open:
            break
        generate_traffic(name, "live", 100, BAKE)
    lifecycle.settle()

    pin = lifecycle.pin_record(name)
    assert pin.stage is Stage.RESOLVED, pin.evidence.get("last_canary")
    candidate = lifecycle.lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"]
    new_arn = pin.evidence["canary"]["candidate_runtime_arn"]
    assert new_arn in {v.arn for v in released}
    # The proof it found is a platform.initStart record of the candidate in the custom group.
    logs = boto3.client("logs")
    records = [
        json.loads(e["message"]) for e in logs.filter_log_events(logGroupName=LOG_GROUP)["events"]
    ]
    assert any(
        r["type"] == "platform.initStart"
        and r["record"]["functionVersion"] == candidate
        and r["record"]["runtimeVersionArn"] == new_arn
        for r in records
    )
    assert not logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"]


def test_a_composite_alarm_in_alarm_stops_the_canary_at_preflight(lifecycle: Lifecycle):
    cw = boto3.client("cloudwatch")
    for alarm in ("checkout-errors", "checkout-latency"):
        cw.put_metric_alarm(
            AlarmName=alarm,
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    cw.put_composite_alarm(
        AlarmName="checkout health",
        AlarmRule='ALARM("checkout-errors") OR ALARM("checkout-latency")',
    )
    baseline = _function(lifecycle, "checkout", tags={"rollforward:alarms": "checkout health"})
    cw.set_alarm_state(AlarmName="checkout-latency", StateValue="ALARM", StateReason="slow")
    lifecycle.aws.state.catalog.release("python3.12", "us-east-1")
    before = lifecycle.lam.list_versions_by_function(FunctionName="checkout")["Versions"]
    _to_canary(lifecycle, "checkout")

    pin = wait_for(
        lambda: (p := lifecycle.pin_record("checkout")) and "stopped" in p.evidence and p,
        what="the canary's stop",
    )
    assert "checkout health" in pin.evidence["stopped"]["reason"]
    assert "ALARM" in pin.evidence["stopped"]["reason"]
    assert lifecycle.lam.list_versions_by_function(FunctionName="checkout")["Versions"] == before
    assert (
        lifecycle.lam.get_alias(FunctionName="checkout", Name="live")["FunctionVersion"] == baseline
    )
    setting = lifecycle.lam.get_runtime_management_config(FunctionName="checkout")
    assert setting["UpdateRuntimeOn"] == "Manual"
