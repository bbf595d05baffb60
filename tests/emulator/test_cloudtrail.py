"""CloudTrail → EventBridge delivery: the event's shape, rule matching, target input shaping,
and delivery to Step Functions (run by moto's interpreter), Lambda and SQS targets.

Delivery is asynchronous, as EventBridge's: tests wait for it with `STATE.drain()`."""

from __future__ import annotations

import importlib.util
import io
import json
import time
import zipfile
from datetime import timedelta
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator import cloudtrail
from emulator.cloudtrail import (
    ABSENT,
    cloudtrail_event,
    json_path,
    put_cloudtrail_event,
    render_input_template,
)
from emulator.inprocess import EmbeddedAws
from emulator.state import STATE, ApiCall
from tests.aws_fixtures import create_events_target_role

REGION = "us-east-1"
ACCOUNT = "123456789012"
PIN_PATTERN = {
    "source": ["aws.lambda"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {"eventName": [{"prefix": "PutRuntimeManagementConfig"}]},
}
PASS_MACHINE = {"StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": True}}}


def _pin_call(function_name: str = "orders") -> ApiCall:
    return ApiCall(
        event_source="lambda.amazonaws.com",
        event_name="PutRuntimeManagementConfig",
        account_id=ACCOUNT,
        region=REGION,
        request_parameters={
            "functionName": function_name,
            "qualifier": "$LATEST",
            "updateRuntimeOn": "Manual",
            "runtimeVersionArn": "arn:aws:lambda:us-east-1::runtime:" + "a" * 64,
        },
        response_elements={"updateRuntimeOn": "Manual"},
        user_identity={"type": "IAMUser", "userName": "alice", "accountId": ACCOUNT},
    )


@pytest.fixture
def role(aws: EmbeddedAws) -> str:
    return create_events_target_role(REGION)


@pytest.fixture
def trail(aws: EmbeddedAws) -> str:
    """The account's logging trail: EventBridge gets CloudTrail's events only through one."""
    from emulator.stack import ensure_management_trail

    return ensure_management_trail(REGION)


@pytest.fixture
def sfn(aws: EmbeddedAws) -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def machine(sfn: Any, role: str) -> str:
    created = sfn.create_state_machine(
        name="on-pin", roleArn=role, definition=json.dumps(PASS_MACHINE)
    )
    return str(created["stateMachineArn"])


def _rule(role: str, *targets: dict[str, Any], pattern: dict[str, Any] = PIN_PATTERN) -> None:
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name="pins", EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule="pins",
        Targets=[{"Id": str(n), "RoleArn": role, **t} for n, t in enumerate(targets)],
    )


def _executions(sfn: Any, machine: str) -> list[dict[str, Any]]:
    """Executions of `machine`, once delivered and finished by moto's interpreter (Pass is
    instant)."""
    STATE.drain()
    deadline = time.monotonic() + 5
    while True:
        listed = sfn.list_executions(stateMachineArn=machine)["executions"]
        described = [sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]
        if all(d["status"] != "RUNNING" for d in described) or time.monotonic() > deadline:
            return described
        time.sleep(0.02)


def test_event_is_shaped_like_cloudtrails(aws: EmbeddedAws) -> None:
    aws.state.clock.advance(timedelta(days=2))
    event = cloudtrail_event(_pin_call())
    now = aws.state.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    detail = event.pop("detail")
    assert event.pop("id") and detail.pop("requestID") and detail.pop("eventID")
    assert event == {
        "version": "0",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.lambda",
        "account": ACCOUNT,
        "time": now,
        "region": REGION,
        "resources": [],
    }
    assert detail == {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "userName": "alice", "accountId": ACCOUNT},
        "eventTime": now,
        "eventSource": "lambda.amazonaws.com",
        "eventName": "PutRuntimeManagementConfig",
        "awsRegion": REGION,
        "sourceIPAddress": "127.0.0.1",
        "userAgent": cloudtrail.USER_AGENT,
        "requestParameters": _pin_call().request_parameters,
        "responseElements": {"updateRuntimeOn": "Manual"},
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


def test_api_call_starts_the_state_machine_with_the_event(
    aws: EmbeddedAws, sfn: Any, machine: str, role: str, trail: str
) -> None:
    _rule(role, {"Arn": machine})

    aws.state.publish_api_call(_pin_call())

    [execution] = _executions(sfn, machine)
    assert execution["status"] == "SUCCEEDED"  # moto's interpreter ran it
    event = json.loads(execution["input"])
    assert event["detail-type"] == "AWS API Call via CloudTrail"
    assert event["detail"]["requestParameters"]["functionName"] == "orders"
    assert json.loads(execution["output"]) == event


def test_without_a_logging_trail_eventbridge_gets_no_cloudtrail_event(
    aws: EmbeddedAws, sfn: Any, machine: str, role: str
) -> None:
    """EventBridge User Guide, "AWS service events delivered via AWS CloudTrail": "a CloudTrail
    trail with logging enabled is required". No trail, then a trail that stopped logging, then
    a single-region trail of another region: nothing; logging again: delivered."""
    _rule(role, {"Arn": machine})
    aws.state.publish_api_call(_pin_call())
    cloudtrail_client = boto3.client("cloudtrail", region_name=REGION)
    from emulator.stack import TRAIL_NAME, ensure_management_trail

    ensure_management_trail(REGION)
    cloudtrail_client.stop_logging(Name=TRAIL_NAME)
    aws.state.publish_api_call(_pin_call())
    cloudtrail_client.update_trail(Name=TRAIL_NAME, IsMultiRegionTrail=False)
    other = boto3.client("cloudtrail", region_name="eu-west-1")
    other.create_trail(Name="elsewhere", S3BucketName=f"aws-cloudtrail-logs-123456789012-{REGION}")
    other.start_logging(Name="elsewhere")
    aws.state.publish_api_call(_pin_call())
    STATE.drain(timeout=30)
    assert _executions(sfn, machine) == []

    cloudtrail_client.start_logging(Name=TRAIL_NAME)
    aws.state.publish_api_call(_pin_call())
    STATE.drain(timeout=30)
    assert len(_executions(sfn, machine)) == 1


def test_targets_get_input_path_transformer_or_constant_input(
    sfn: Any, machine: str, role: str
) -> None:
    transformer = {
        "InputPathsMap": {
            "fn": "$.detail.requestParameters.functionName",
            "who": "$.detail.userIdentity.userName",
            "absent": "$.detail.nothing.here",
        },
        "InputTemplate": (
            '{"function": <fn>, "note": "<fn> pinned by \\"<who>\\"", "absent": <absent>,'
            ' "rule": <aws.events.rule-name>}'
        ),
    }
    _rule(
        role,
        {"Arn": machine, "InputPath": "$.detail.requestParameters"},
        {"Arn": machine, "InputTransformer": transformer},
        {"Arn": machine, "Input": '{"constant": true}'},
    )

    assert put_cloudtrail_event(cloudtrail_event(_pin_call())) == 3

    inputs = [json.loads(e["input"]) for e in _executions(sfn, machine)]
    assert sorted(inputs, key=json.dumps) == sorted(
        [
            _pin_call().request_parameters,
            {
                "function": "orders",
                "note": 'orders pinned by "alice"',
                "absent": None,
                "rule": "pins",
            },
            {"constant": True},
        ],
        key=json.dumps,
    )


def test_only_enabled_rules_whose_pattern_matches_deliver(
    sfn: Any, machine: str, role: str
) -> None:
    _rule(role, {"Arn": machine})
    other = cloudtrail_event(_pin_call())
    other["detail"]["eventName"] = "UpdateAlias20150331"

    assert put_cloudtrail_event(other) == 0
    boto3.client("events", region_name=REGION).disable_rule(Name="pins")
    assert put_cloudtrail_event(cloudtrail_event(_pin_call())) == 0
    assert _executions(sfn, machine) == []


def test_a_replayed_event_starts_one_execution_per_delivery(
    sfn: Any, machine: str, role: str
) -> None:
    _rule(role, {"Arn": machine})
    event = cloudtrail_event(_pin_call())

    assert [put_cloudtrail_event(event) for _ in range(5)] == [1] * 5

    executions = _executions(sfn, machine)
    assert len({e["executionArn"] for e in executions}) == 5
    assert {json.loads(e["input"])["id"] for e in executions} == {event["id"]}


def test_a_malformed_detail_is_delivered_but_a_broken_envelope_is_refused(
    sfn: Any, machine: str, role: str
) -> None:
    _rule(role, {"Arn": machine})
    malformed = {
        "source": "aws.lambda",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {"eventName": "PutRuntimeManagementConfig", "requestParameters": "garbage"},
    }

    assert put_cloudtrail_event(malformed) == 1
    [execution] = _executions(sfn, machine)
    assert json.loads(execution["input"])["detail"]["requestParameters"] == "garbage"
    for broken in (
        {"source": "aws.lambda"},
        {**malformed, "detail": "text"},
        {**malformed, "source": ""},
    ):
        with pytest.raises(ValueError):
            put_cloudtrail_event(broken)


def test_lambda_and_sqs_targets_receive_the_event(aws: EmbeddedAws, role: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return None\n")
    lam = boto3.client("lambda", region_name=REGION)
    function_arn = lam.create_function(
        FunctionName="listener",
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": buffer.getvalue()},
    )["FunctionArn"]
    # EventBridge invokes it as a service: the function policy must allow that.
    lam.add_permission(
        FunctionName=function_arn,
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
    )
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="pins")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    _rule(role, {"Arn": function_arn}, {"Arn": queue_arn})

    event = cloudtrail_event(_pin_call())
    assert put_cloudtrail_event(event) == 2
    aws.state.drain()

    [message] = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    assert json.loads(message["Body"]) == event
    # The fleet function was invoked once (as an Event invocation).
    invocations = boto3.client("cloudwatch", region_name=REGION).get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Invocations",
        Dimensions=[{"Name": "FunctionName", "Value": "listener"}],
        StartTime=aws.state.clock.now() - timedelta(minutes=5),
        EndTime=aws.state.clock.now() + timedelta(minutes=5),
        Period=600,
        Statistics=["Sum"],
    )["Datapoints"]
    assert [point["Sum"] for point in invocations] == [1.0]


def test_a_failing_target_does_not_stop_the_others_and_an_unsupported_one_does_not_count(
    sfn: Any, machine: str, role: str
) -> None:
    missing = machine.replace(":on-pin", ":does-not-exist")
    _rule(
        role,
        {"Arn": missing},
        {"Arn": "arn:aws:kinesis:us-east-1:123456789012:stream/s"},
        {"Arn": machine},
    )

    assert put_cloudtrail_event(cloudtrail_event(_pin_call())) == 2  # Kinesis is not delivered
    assert len(_executions(sfn, machine)) == 1


@pytest.mark.skipif(
    importlib.util.find_spec("emulator.lambda_api") is None, reason="needs emulator.lambda_api"
)
def test_a_real_put_runtime_management_config_reaches_the_state_machine(
    sfn: Any, machine: str, role: str, trail: str
) -> None:
    lam = boto3.client("lambda", region_name=REGION)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return None\n")
    lam.create_function(
        FunctionName="orders",
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": buffer.getvalue()},
    )
    arn = lam.get_function(FunctionName="orders")["Configuration"]["RuntimeVersionConfig"][
        "RuntimeVersionArn"
    ]
    _rule(role, {"Arn": machine})

    lam.put_runtime_management_config(
        FunctionName="orders", UpdateRuntimeOn="Manual", RuntimeVersionArn=arn
    )

    [execution] = _executions(sfn, machine)
    detail = json.loads(execution["input"])["detail"]
    assert detail["eventName"].startswith("PutRuntimeManagementConfig")
    assert detail["requestParameters"]["functionName"] == "orders"
    assert detail["requestParameters"]["runtimeVersionArn"] == arn


# --- the EventBridge input language -------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
keys = st.text(alphabet=st.characters(categories=["L", "N"], include_characters="-_"), min_size=1)


@given(json_values)
def test_a_placeholder_outside_strings_takes_the_value_as_json(value: Any) -> None:
    rendered = render_input_template('{"v": <x>, "w": [<x>]}', {"x": value})
    assert json.loads(rendered) == {"v": value, "w": [value]}


@given(st.text(alphabet=st.characters(exclude_characters='"\\', categories=["L", "N", "Zs"])))
def test_a_placeholder_inside_a_string_takes_the_bare_text(text: str) -> None:
    rendered = render_input_template('{"v": "a <x> \\"<x>\\""}', {"x": text})
    assert json.loads(rendered) == {"v": f'a {text} "{text}"'}


def test_plain_text_templates_and_unknown_placeholders() -> None:
    variables = {"instance": "i-1", "state": "RUNNING", "n": 3}
    assert (
        render_input_template("<instance> is <state> <n> <br>", variables)
        == "i-1 is RUNNING 3 <br>"
    )
    assert render_input_template('"<instance> is <state>"', variables) == '"i-1 is RUNNING"'


@given(st.lists(keys, min_size=1, max_size=4), json_values)
def test_json_path_finds_what_dot_notation_names(path: list[str], value: Any) -> None:
    document: Any = value
    for key in reversed(path):
        document = {key: document}
    assert json_path(document, "$." + ".".join(path)) == value
    assert json_path(document, "$") == document


def test_json_path_indices_absences_and_refusals() -> None:
    event = {"resources": ["a", "b"], "detail": {"x": None}}
    assert json_path(event, "$.resources[1]") == "b"
    assert json_path(event, "$.detail.x") is None
    assert json_path(event, "$.resources[2]") is ABSENT
    assert json_path(event, "$.detail.y") is ABSENT
    for unsupported in ("detail", "$.detail.*", "$['detail']"):
        with pytest.raises(ValueError):
            json_path(event, unsupported)
