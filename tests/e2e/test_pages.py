"""On-call is paged only for endings rollforward did not intend (issue 9 must-show).

The embedded AWS does not emit "Step Functions Execution Status Change" events nor the
`AWS/States` metrics, so the page is decided here the way AWS decides it: the event is built
from DescribeExecution in the shape AWS documents, and matched with an EventBridge pattern
matcher (moto's) against the rule *as deployed*; the alarm's metrics are read from the same
synthesized template.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from moto.events.models import EventPattern

from emulator.stack import STACK_NAME, synthesize
from tests.e2e.harness import Lifecycle, Principal, wait_for


def status_change_event(described: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event AWS sends when an execution ends (Step Functions user guide,
    "Step Functions Execution Status Change"): `error` and `cause` are null when absent."""
    return {
        "version": "0",
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "executionArn": described["executionArn"],
            "stateMachineArn": described["stateMachineArn"],
            "name": described["name"],
            "status": described["status"],
            "startDate": int(described["startDate"].timestamp() * 1000),
            "stopDate": int(described["stopDate"].timestamp() * 1000),
            "input": None,
            "output": None,
            "error": described.get("error") or None,
            "cause": described.get("cause") or None,
        },
    }


def deployed_paging_rule() -> EventPattern:
    rule = boto3.client("events").describe_rule(Name=f"{STACK_NAME}-ExecutionEndedBadly")
    return EventPattern.load(rule["EventPattern"])


def alarm_metric_names() -> set[str]:
    (alarm,) = [
        spec["Properties"]
        for logical, spec in synthesize()["Resources"].items()
        if spec["Type"] == "AWS::CloudWatch::Alarm"
        and logical.startswith("ObservabilityFailedExecutions")
    ]
    return {q["MetricStat"]["Metric"]["MetricName"] for q in alarm["Metrics"] if "MetricStat" in q}


def test_a_human_lift_ends_the_execution_without_an_alarm_or_a_page(lifecycle: Lifecycle):
    lifecycle.create_function("orders")
    lifecycle.pin("orders")
    wait_for(lambda: lifecycle.pin_record("orders"), what="the ledger item")
    lifecycle.advance(4)
    lifecycle.lift("orders", by=Principal("dev-erin"))

    (execution,) = wait_for(lambda: lifecycle.executions("ABORTED"), what="the stopped execution")
    described = lifecycle.sfn.describe_execution(executionArn=execution["executionArn"])
    event = status_change_event(described)
    assert event["detail"]["status"] == "ABORTED"
    # The alarm counts failed and timed-out executions only: an abort is not in its metric.
    assert "ExecutionsAborted" not in alarm_metric_names()
    assert {"ExecutionsFailed", "ExecutionsTimedOut"} <= alarm_metric_names()
    # The rule, as deployed, does not match rollforward's own stop...
    rule = deployed_paging_rule()
    assert not rule.matches_event(event), json.dumps(event["detail"], indent=1)
    # ...and does match the same execution stopped by somebody else, or failing.
    foreign_stop = json.loads(json.dumps(event))
    foreign_stop["detail"]["error"] = foreign_stop["detail"]["cause"] = None
    assert rule.matches_event(foreign_stop)
    failed = json.loads(json.dumps(event))
    failed["detail"].update(status="FAILED", error="rollforward.Failed")
    assert rule.matches_event(failed)
