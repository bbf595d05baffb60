"""EventBridge `PutEvents`: accepted (never a 500) and delivered to every target type the
project uses — Step Functions, Lambda, SQS, SNS, CloudWatch Logs — exactly as the CloudTrail
path delivers (Input, InputPath, InputTransformer), after the call has returned."""

from __future__ import annotations

import io
import json
import sys
import threading
import types
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from emulator.cloudtrail import cloudtrail_event, put_cloudtrail_event
from emulator.inprocess import EmbeddedAws
from emulator.state import ApiCall
from tests.aws_fixtures import create_events_target_role

REGION = "us-east-1"
ACCOUNT = "123456789012"
PIN_PATTERN = {
    "source": ["aws.lambda"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {"eventName": [{"prefix": "PutRuntimeManagementConfig"}]},
}
PASS_MACHINE = {"StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": True}}}
PROBE_MODULE = "rollforward.handlers.events_probe"


def _pin_event() -> dict[str, Any]:
    call = ApiCall(
        event_source="lambda.amazonaws.com",
        event_name="PutRuntimeManagementConfig",
        account_id=ACCOUNT,
        region=REGION,
        request_parameters={"functionName": "orders", "updateRuntimeOn": "Manual"},
        response_elements={"updateRuntimeOn": "Manual"},
        user_identity={"type": "IAMUser", "userName": "alice", "accountId": ACCOUNT},
    )
    return cloudtrail_event(call)


def _entry(event: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The PutEvents entry a CloudTrail-shaped event is put as."""
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        **extra,
    }


@pytest.fixture
def role(aws: EmbeddedAws) -> str:
    return create_events_target_role(REGION)


@pytest.fixture
def events(aws: EmbeddedAws) -> Any:
    return boto3.client("events", region_name=REGION)


@pytest.fixture
def sfn(aws: EmbeddedAws) -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def machine(sfn: Any, role: str) -> str:
    created = sfn.create_state_machine(
        name="on-pin", roleArn=role, definition=json.dumps(PASS_MACHINE)
    )
    return str(created["stateMachineArn"])


def _rule(events: Any, role: str, *targets: dict[str, Any], bus: str = "default") -> None:
    events.put_rule(Name="pins", EventPattern=json.dumps(PIN_PATTERN), EventBusName=bus)
    events.put_targets(
        Rule="pins",
        EventBusName=bus,
        Targets=[{"Id": str(n), "RoleArn": role, **t} for n, t in enumerate(targets)],
    )


def _inputs(aws: EmbeddedAws, sfn: Any, machine: str) -> list[Any]:
    aws.state.drain()
    listed = sfn.list_executions(stateMachineArn=machine)["executions"]
    return [
        json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in listed
    ]


def test_put_events_of_a_cloudtrail_shaped_event_starts_the_state_machine(
    aws: EmbeddedAws, events: Any, sfn: Any, machine: str, role: str
) -> None:
    _rule(events, role, {"Arn": machine})
    event = _pin_event()
    moment = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)

    answer = events.put_events(Entries=[_entry(event, Time=moment, Resources=["arn:x"])])

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["FailedEntryCount"] == 0
    [delivered] = _inputs(aws, sfn, machine)
    # As EventBridge delivers it: the envelope with an ISO time, the detail as put.
    assert delivered["detail"] == event["detail"]
    assert delivered["source"] == "aws.lambda" and delivered["account"] == ACCOUNT
    assert delivered["time"] == "2026-12-01T12:30:00Z"
    assert delivered["resources"] == ["arn:x"]
    assert delivered["id"] == answer["Entries"][0]["EventId"]
    assert "ingestion-time" not in delivered


def test_put_events_shapes_input_as_the_cloudtrail_path_does(
    aws: EmbeddedAws, events: Any, sfn: Any, machine: str, role: str
) -> None:
    transformer = {
        "InputPathsMap": {"fn": "$.detail.requestParameters.functionName"},
        "InputTemplate": '{"function": <fn>, "rule": <aws.events.rule-name>}',
    }
    _rule(
        events,
        role,
        {"Arn": machine, "InputPath": "$.detail.requestParameters"},
        {"Arn": machine, "InputTransformer": transformer},
        {"Arn": machine, "Input": '{"constant": true}'},
    )
    event = _pin_event()

    events.put_events(Entries=[_entry(event)])
    by_put_events = sorted(_inputs(aws, sfn, machine), key=json.dumps)
    assert put_cloudtrail_event(event) == 3
    both = sorted(_inputs(aws, sfn, machine), key=json.dumps)

    assert by_put_events == sorted(
        [
            event["detail"]["requestParameters"],
            {"function": "orders", "rule": "pins"},
            {"constant": True},
        ],
        key=json.dumps,
    )
    # The CloudTrail path delivered the same three inputs again.
    assert both == sorted(by_put_events * 2, key=json.dumps)


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


@pytest.fixture
def probe() -> Iterator[dict[str, Any]]:
    """A function the emulator runs in process (its handler is under rollforward.handlers):
    it records each event and can be held until the test releases it."""
    state: dict[str, Any] = {"events": [], "hold": threading.Event(), "entered": threading.Event()}
    state["hold"].set()

    def handler(event: dict[str, Any], context: Any) -> None:
        state["entered"].set()
        assert state["hold"].wait(30)
        state["events"].append(event)

    module = types.ModuleType(PROBE_MODULE)
    module.handler = handler  # type: ignore[attr-defined]
    sys.modules[PROBE_MODULE] = module
    try:
        yield state
    finally:
        state["hold"].set()
        sys.modules.pop(PROBE_MODULE, None)


def test_put_events_reaches_lambda_sqs_sns_and_logs_targets(
    aws: EmbeddedAws, events: Any, role: str, probe: dict[str, Any]
) -> None:
    lam = boto3.client("lambda", region_name=REGION)
    function_arn = lam.create_function(
        FunctionName="listener",
        Runtime="python3.12",
        Role=role,
        Handler=f"{PROBE_MODULE}.handler",
        Code={"ZipFile": _zip("# in process\n")},
    )["FunctionArn"]
    # EventBridge invokes it as a service: the function policy must allow that.
    lam.add_permission(
        FunctionName=function_arn,
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
    )
    sqs = boto3.client("sqs", region_name=REGION)
    direct = sqs.create_queue(QueueName="direct")["QueueUrl"]
    via_sns = sqs.create_queue(QueueName="via-sns")["QueueUrl"]

    def queue_arn(url: str) -> str:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="pins")["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn(via_sns),
        Attributes={"RawMessageDelivery": "true"},
    )
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="/aws/events/pins")
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/events/pins"
    _rule(
        events,
        role,
        {"Arn": function_arn},
        {"Arn": queue_arn(direct)},
        {"Arn": topic, "InputPath": "$.detail.requestParameters"},
        {"Arn": group_arn},
    )
    event = _pin_event()

    answer = events.put_events(Entries=[_entry(event)])
    assert answer["FailedEntryCount"] == 0
    aws.state.drain()

    [received] = probe["events"]
    assert received["detail"] == event["detail"]
    [message] = sqs.receive_message(QueueUrl=direct)["Messages"]
    assert json.loads(message["Body"])["detail"] == event["detail"]
    [published] = sqs.receive_message(QueueUrl=via_sns)["Messages"]
    assert json.loads(published["Body"]) == event["detail"]["requestParameters"]
    [logged] = logs.filter_log_events(logGroupName="/aws/events/pins")["events"]
    assert json.loads(logged["message"])["detail"] == event["detail"]


def test_put_events_returns_before_the_target_runs(
    aws: EmbeddedAws, events: Any, role: str, probe: dict[str, Any]
) -> None:
    """Delivery happens after PutEvents has answered, as EventBridge's does: a target that is
    still running does not hold the caller up."""
    lam = boto3.client("lambda", region_name=REGION)
    function_arn = lam.create_function(
        FunctionName="slow-listener",
        Runtime="python3.12",
        Role=role,
        Handler=f"{PROBE_MODULE}.handler",
        Code={"ZipFile": _zip("# in process\n")},
    )["FunctionArn"]
    # EventBridge invokes it as a service: the function policy must allow that.
    lam.add_permission(
        FunctionName=function_arn,
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
    )
    _rule(events, role, {"Arn": function_arn})
    probe["hold"].clear()

    events.put_events(Entries=[_entry(_pin_event())])

    assert probe["entered"].wait(10), "the delivery never ran"
    assert probe["events"] == []  # the target is still running; the call has returned
    probe["hold"].set()
    aws.state.drain()
    assert len(probe["events"]) == 1


def test_put_events_on_a_custom_bus_and_disabled_rules(
    aws: EmbeddedAws, events: Any, sfn: Any, machine: str, role: str
) -> None:
    events.create_event_bus(Name="audit")
    _rule(events, role, {"Arn": machine}, bus="audit")
    event = _pin_event()

    events.put_events(Entries=[_entry(event)])  # the default bus: no rule there
    assert _inputs(aws, sfn, machine) == []
    events.put_events(Entries=[_entry(event, EventBusName="audit")])
    assert len(_inputs(aws, sfn, machine)) == 1
    events.disable_rule(Name="pins", EventBusName="audit")
    events.put_events(Entries=[_entry(event, EventBusName="audit")])
    assert len(_inputs(aws, sfn, machine)) == 1


def test_a_malformed_entry_is_reported_in_the_answer_not_as_a_500(
    aws: EmbeddedAws, events: Any, sfn: Any, machine: str, role: str
) -> None:
    _rule(events, role, {"Arn": machine})

    answer = events.put_events(
        Entries=[
            {"Source": "aws.lambda", "DetailType": "x", "Detail": "{not json"},
            _entry(_pin_event()),
        ]
    )

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"][0]["ErrorCode"] == "MalformedDetail"
    assert len(_inputs(aws, sfn, machine)) == 1
