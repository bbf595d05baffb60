"""Parsing the CloudTrail → EventBridge record of PutRuntimeManagementConfig."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rollforward.detection.events import (
    FailedCallEvent,
    MalformedEvent,
    RuntimeConfigChange,
    is_runtime_config_event,
    parse_runtime_config_event,
)
from rollforward.model import PinKey, UpdateMode

ACCOUNT = "123456789012"
REGION = "eu-west-1"
RUNTIME_ARN = "arn:aws:lambda:eu-west-1::runtime:" + "0f" * 32
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api"
SESSION_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/Developer/alice@example.com"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/Developer"


def cloudtrail_event(**request: Any) -> dict[str, Any]:
    """A record shaped like EventBridge delivers it (fields CloudTrail always sends)."""
    parameters = {
        "functionName": "orders-api",
        "updateRuntimeOn": "Manual",
        "runtimeVersionArn": RUNTIME_ARN,
    } | request
    return {
        "version": "0",
        "id": "c2f9a7c4-8c3d-2b6e-1f0a-5e6d7c8b9a01",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.lambda",
        "account": ACCOUNT,
        "time": "2026-03-01T09:00:05Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": "AROAEXAMPLEID:alice@example.com",
                "arn": SESSION_ARN,
                "accountId": ACCOUNT,
                "accessKeyId": "ASIAEXAMPLEKEY",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": "AROAEXAMPLEID",
                        "arn": ROLE_ARN,
                        "accountId": ACCOUNT,
                        "userName": "Developer",
                    },
                    "attributes": {
                        "creationDate": "2026-03-01T08:00:00Z",
                        "mfaAuthenticated": "false",
                    },
                },
            },
            "eventTime": "2026-03-01T09:00:01Z",
            "eventSource": "lambda.amazonaws.com",
            "eventName": "PutRuntimeManagementConfig",
            "awsRegion": REGION,
            "sourceIPAddress": "203.0.113.10",
            "userAgent": "aws-cli/2.22.0",
            "requestParameters": parameters,
            "responseElements": {
                "updateRuntimeOn": "Manual",
                "functionArn": f"{FUNCTION_ARN}:$LATEST",
                "runtimeVersionArn": RUNTIME_ARN,
            },
            "requestID": "5f0c1d2e-3a4b-5c6d-7e8f-9a0b1c2d3e4f",
            "eventID": "9d8c7b6a-5f4e-3d2c-1b0a-0a1b2c3d4e5f",
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
        },
    }


def parse(**request: Any) -> RuntimeConfigChange:
    return parse_runtime_config_event(cloudtrail_event(**request))


def reason_for(event: dict[str, Any]) -> str:
    with pytest.raises(MalformedEvent) as caught:
        parse_runtime_config_event(event)
    return str(caught.value.reason)


def test_a_pin_by_name() -> None:
    change = parse()
    assert change == RuntimeConfigChange(
        event_id="9d8c7b6a-5f4e-3d2c-1b0a-0a1b2c3d4e5f",
        event_time=datetime(2026, 3, 1, 9, 0, 1, tzinfo=UTC),
        account=ACCOUNT,
        region=REGION,
        function_arn=FUNCTION_ARN,
        qualifier="$LATEST",
        mode=UpdateMode.MANUAL,
        runtime_version_arn=RUNTIME_ARN,
        actor_arn=SESSION_ARN,
        actor={
            "type": "AssumedRole",
            "arn": SESSION_ARN,
            "principalId": "AROAEXAMPLEID:alice@example.com",
            "accountId": ACCOUNT,
            "sessionIssuerArn": ROLE_ARN,
        },
        source_ip="203.0.113.10",
        user_agent="aws-cli/2.22.0",
    )
    assert change.key == PinKey(FUNCTION_ARN, "$LATEST")
    assert change.pins
    assert "accessKeyId" not in change.actor


@pytest.mark.parametrize(
    ("function_name", "qualifier", "expected_arn", "expected_qualifier"),
    [
        ("orders-api", None, FUNCTION_ARN, "$LATEST"),
        ("orders-api:7", None, FUNCTION_ARN, "7"),
        ("orders-api:$LATEST", None, FUNCTION_ARN, "$LATEST"),
        ("orders-api", "12", FUNCTION_ARN, "12"),
        (f"{ACCOUNT}:function:orders-api", None, FUNCTION_ARN, "$LATEST"),
        (f"{ACCOUNT}:function:orders-api:3", "3", FUNCTION_ARN, "3"),
        (FUNCTION_ARN, None, FUNCTION_ARN, "$LATEST"),
        (f"{FUNCTION_ARN}:42", None, FUNCTION_ARN, "42"),
    ],
)  # fmt: skip
def test_function_name_forms(
    function_name: str, qualifier: str | None, expected_arn: str, expected_qualifier: str
) -> None:
    request: dict[str, Any] = {"functionName": function_name}
    if qualifier is not None:
        request["qualifier"] = qualifier
    change = parse(**request)
    assert (change.function_arn, change.qualifier) == (expected_arn, expected_qualifier)


@pytest.mark.parametrize(
    "function_name",
    [
        FUNCTION_ARN.replace(ACCOUNT, "999999999999"),
        "999999999999:function:orders-api",
        FUNCTION_ARN.replace("arn:aws:", "arn:aws-cn:"),
        FUNCTION_ARN.replace("arn:aws:", "arn:aws-us-gov:"),
        FUNCTION_ARN.replace(f":{REGION}:", ":ap-south-2:"),
    ],
)
def test_partition_account_and_region_come_from_the_envelope_never_the_request(
    function_name: str,
) -> None:
    with pytest.raises(MalformedEvent, match="but the call was made in"):
        parse(functionName=function_name)


@pytest.mark.parametrize(
    ("field", "value"), [("recipientAccountId", "999999999999"), ("awsRegion", "ap-south-2")]
)
def test_cloudtrail_recipient_must_agree_with_the_envelope(field: str, value: str) -> None:
    event = cloudtrail_event()
    event["detail"][field] = value
    with pytest.raises(MalformedEvent, match=field):
        parse_runtime_config_event(event)


@pytest.mark.parametrize(
    ("account", "region"),
    [("999999999999", REGION), (ACCOUNT, "ap-south-2"), ("999999999999", "ap-south-2")],
)
def test_an_event_from_outside_the_deployments_account_and_region_is_refused(
    account: str, region: str
) -> None:
    # Consistent in itself (envelope and CloudTrail detail agree), but from elsewhere.
    event = cloudtrail_event()
    event["account"] = event["detail"]["recipientAccountId"] = account
    event["region"] = event["detail"]["awsRegion"] = region
    with pytest.raises(MalformedEvent, match="this deployment watches"):
        parse_runtime_config_event(event, home=(ACCOUNT, REGION))
    assert parse_runtime_config_event(cloudtrail_event(), home=(ACCOUNT, REGION)).account == ACCOUNT


def test_partition_follows_the_region() -> None:
    event = cloudtrail_event()
    event["region"] = event["detail"]["awsRegion"] = "cn-north-1"
    assert parse_runtime_config_event(event).function_arn.startswith(
        "arn:aws-cn:lambda:cn-north-1:"
    )


@pytest.mark.parametrize(
    "event_name", ["PutRuntimeManagementConfig20211020", "PutRuntimeManagementConfig"]
)
def test_date_suffixed_event_names(event_name: str) -> None:
    event = cloudtrail_event()
    event["detail"]["eventName"] = event_name
    assert is_runtime_config_event(event)
    assert parse_runtime_config_event(event).function_arn == FUNCTION_ARN


@pytest.mark.parametrize(
    ("value", "mode"),
    [("Manual", UpdateMode.MANUAL), ("Auto", UpdateMode.AUTO),
     ("FunctionUpdate", UpdateMode.FUNCTION_UPDATE), ("Function update", UpdateMode.FUNCTION_UPDATE),
     ("auto", UpdateMode.AUTO), ("Sometimes", None), (3, None), (None, None)],
)  # fmt: skip
def test_mode_is_a_hint_unknown_means_none(value: object, mode: UpdateMode | None) -> None:
    assert parse(updateRuntimeOn=value).mode is mode


def test_missing_mode_and_bad_runtime_arn_are_none_not_errors() -> None:
    event = cloudtrail_event(runtimeVersionArn="arn:aws:lambda:eu-west-1::runtime:nothex")
    del event["detail"]["requestParameters"]["updateRuntimeOn"]
    change = parse_runtime_config_event(event)
    assert change.mode is None and change.runtime_version_arn is None and not change.pins


def test_a_refused_call_is_reported_as_such() -> None:
    event = cloudtrail_event()
    event["detail"]["errorCode"] = "ResourceConflictException"
    event["detail"]["errorMessage"] = "An update is in progress"
    with pytest.raises(FailedCallEvent) as caught:
        parse_runtime_config_event(event)
    assert caught.value.error_code == "ResourceConflictException"
    assert isinstance(caught.value, MalformedEvent)


@pytest.mark.parametrize(
    ("identity", "actor_arn"),
    [
        ({"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/bob", "userName": "bob"},
         f"arn:aws:iam::{ACCOUNT}:user/bob"),
        ({"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"},
         "cloudformation.amazonaws.com"),
        ({"type": "AssumedRole", "principalId": "AROA:x",
          "sessionContext": {"sessionIssuer": {"arn": ROLE_ARN}}}, ROLE_ARN),
    ],
)  # fmt: skip
def test_actor(identity: dict[str, Any], actor_arn: str) -> None:
    event = cloudtrail_event()
    event["detail"]["userIdentity"] = identity
    assert parse_runtime_config_event(event).actor_arn == actor_arn


def mutate(path: str, value: Any, *, delete: bool = False) -> dict[str, Any]:
    event = cloudtrail_event()
    *parents, last = path.split(".")
    target = event
    for key in parents:
        target = target[key]
    if delete:
        del target[last]
    else:
        target[last] = value
    return event


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (mutate("source", "aws.ec2"), "source is 'aws.ec2', not 'aws.lambda'"),
        (mutate("detail-type", "Scheduled Event"), "detail-type is 'Scheduled Event'"),
        (mutate("detail.eventSource", "s3.amazonaws.com"), "detail.eventSource is 's3.amazonaws.com'"),
        (mutate("detail.eventName", "GetRuntimeManagementConfig"), "is not PutRuntimeManagementConfig"),
        (mutate("detail.eventID", None, delete=True), "detail.eventID: Field required"),
        (mutate("detail", "{}"), "detail: Input should be a valid dictionary"),
        (mutate("account", "12345"), "account '12345' is not a 12-digit account id"),
        (mutate("region", "mars"), "region 'mars' is not an AWS region"),
        (mutate("detail.requestParameters", None), "detail.requestParameters is missing"),
        (mutate("detail.requestParameters.functionName", 5), "functionName is missing or not a string"),
        (mutate("detail.requestParameters.functionName", "a b"), "'a b' names no function"),
        (mutate("detail.requestParameters.functionName", "orders-api:live"), "qualifier 'live' is not $LATEST or a version number"),
        (mutate("detail.requestParameters.qualifier", "prod"), "(AWS refuses runtime config on aliases"),
        (mutate("detail.requestParameters.qualifier", 7), "requestParameters.qualifier is not a string"),
        (mutate("detail.requestParameters.functionName", "orders-api:3"), None),
        (mutate("detail.requestParameters.functionName", "arn:aws:lambda:us-east-1:123456789012:function:f"),
         "names region 'us-east-1', but the call was made in region eu-west-1"),
        (mutate("detail.eventTime", "2026-03-01T09:00:01"), "has no timezone"),
        (mutate("detail.eventTime", "yesterday"), "is not an ISO-8601 timestamp"),
        (mutate("detail.userIdentity", {"type": "Unknown"}), "names no principal"),
    ],
)  # fmt: skip
def test_malformed_events_say_why(event: dict[str, Any], reason: str | None) -> None:
    if reason is None:  # the control: the mutation alone is valid
        assert parse_runtime_config_event(event).qualifier == "3"
        return
    assert reason in reason_for(event)


def test_contradicting_qualifiers_are_malformed() -> None:
    event = cloudtrail_event(functionName="orders-api:3", qualifier="4")
    assert "contradicts the functionName suffix '3'" in reason_for(event)


def test_routing_check_is_cheap_and_total() -> None:
    assert not is_runtime_config_event({})
    assert not is_runtime_config_event({"source": "aws.lambda", "detail-type": "x", "detail": {}})
    assert is_runtime_config_event(cloudtrail_event())


# --------------------------------------------------------------------------- properties

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
event_keys = st.sampled_from(
    ["version", "id", "source", "detail-type", "account", "time", "region", "resources", "detail"]
)
detail_keys = st.sampled_from(
    ["eventSource", "eventName", "eventID", "eventTime", "userIdentity", "requestParameters",
     "errorCode", "sourceIPAddress", "userAgent"]
)  # fmt: skip
parameter_keys = st.sampled_from(
    ["functionName", "qualifier", "updateRuntimeOn", "runtimeVersionArn"]
)


def parses_or_is_malformed(event: Any) -> None:
    try:
        change = parse_runtime_config_event(event)
    except MalformedEvent as error:
        assert error.reason
        return
    assert change.event_time.tzinfo is UTC
    assert change.key.function_arn == change.function_arn


@given(st.dictionaries(st.text(max_size=12) | event_keys, json_values, max_size=8))
def test_arbitrary_objects_only_ever_raise_malformed_event(event: dict[str, Any]) -> None:
    parses_or_is_malformed(event)


def mutation(path: tuple[str, ...], keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """(path to an object, key, None to delete it or a replacement JSON value)."""
    return st.tuples(st.just(path), keys, st.one_of(st.none(), json_values.map(lambda v: [v])))


mutations = st.lists(
    mutation((), event_keys)
    | mutation(("detail",), detail_keys)
    | mutation(("detail", "requestParameters"), parameter_keys),
    min_size=1,
    max_size=3,
)


@given(mutations)
def test_mutated_real_events_only_ever_raise_malformed_event(
    changes: list[tuple[tuple[str, ...], str, list[Any] | None]],
) -> None:
    event = cloudtrail_event()
    for path, key, replacement in changes:
        target: Any = event
        for part in path:
            target = target.get(part) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue  # an earlier mutation replaced the parent
        if replacement is None:
            target.pop(key, None)
        else:
            target[key] = replacement[0]
    parses_or_is_malformed(event)


names = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
qualifiers = st.one_of(st.just("$LATEST"), st.integers(1, 9_999_999).map(str))


@given(
    name=names,
    form=st.sampled_from(["name", "partial", "arn"]),
    qualifier=st.one_of(st.none(), qualifiers),
    placement=st.sampled_from(["parameter", "suffix", "both"]),
    date_suffix=st.sampled_from(["", "20211020", "20220601"]),
    mode=st.sampled_from(list(UpdateMode)),
)
def test_generated_valid_events_round_trip(
    name: str, form: str, qualifier: str | None, placement: str, date_suffix: str, mode: UpdateMode
) -> None:
    reference = {
        "name": name,
        "partial": f"{ACCOUNT}:function:{name}",
        "arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
    }[form]
    request: dict[str, Any] = {"functionName": reference, "updateRuntimeOn": mode.value}
    if qualifier is not None:
        if placement in ("suffix", "both"):
            request["functionName"] = f"{reference}:{qualifier}"
        if placement in ("parameter", "both"):
            request["qualifier"] = qualifier
    event = cloudtrail_event(**request)
    event["detail"]["eventName"] += date_suffix
    change = parse_runtime_config_event(event)
    assert change.function_arn == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    assert change.qualifier == (qualifier or "$LATEST")
    assert change.mode is mode
    assert change.key.function_name == name
