"""The embedded AWS refuses what AWS refuses: requests are checked against botocore's model.

Clients are built with `parameter_validation=False` wherever botocore itself would refuse the
request first: the emulator must refuse it on the server side, as AWS does (the AWS CLI, curl and
other SDKs never run botocore's validator). Rows: docs/parity/validation.md.
"""

from __future__ import annotations

import io
import json
import logging
import unicodedata
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator import validation
from emulator.inprocess import EmbeddedAws
from emulator.server import EmulatorServer

REGION = "us-east-1"
ACCOUNT = "123456789012"
UNVALIDATED = Config(parameter_validation=False)
CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": REGION,
}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _create_function(lam: Any, iam: Any, name: str) -> str:
    try:
        role = iam.get_role(RoleName="validation-test")["Role"]["Arn"]
    except ClientError:
        role = iam.create_role(
            RoleName="validation-test", AssumeRolePolicyDocument=json.dumps({"Statement": []})
        )["Role"]["Arn"]
    created = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": _zip()},
    )
    return str(created["FunctionArn"])


def _refusal(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return dict(raised.value.response)


def _code_status_message(response: dict[str, Any]) -> tuple[str, int, str]:
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


@pytest.fixture
def lam(aws: EmbeddedAws) -> Any:
    return boto3.client("lambda", config=UNVALIDATED)


@pytest.fixture
def function_arn(aws: EmbeddedAws, lam: Any) -> str:
    return _create_function(lam, boto3.client("iam"), "checkout")


# ----------------------------------------------------------------------------- in process


def test_list_tags_by_function_name_is_refused_naming_the_member_and_pattern(lam, function_arn):
    code, status, message = _code_status_message(_refusal(lam.list_tags, Resource="checkout"))
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(
        "1 validation error detected: Value 'checkout' at 'resource' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:"
    )
    assert lam.list_tags(Resource=function_arn)["Tags"] == {}


def test_a_tag_value_with_a_comma_is_refused(lam, function_arn):
    code, status, message = _code_status_message(
        _refusal(lam.tag_resource, Resource=function_arn, Tags={"alarms": "a,b"})
    )
    assert (code, status) == ("ValidationException", 400)
    assert "Value '{alarms=a,b}' at 'tags' failed to satisfy constraint: Map value must" in message
    assert "Member must satisfy regular expression pattern: ([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)" in (
        message
    )
    assert lam.list_tags(Resource=function_arn)["Tags"] == {}  # nothing changed


def test_unicode_letters_satisfy_java_letter_classes(lam, function_arn):
    lam.tag_resource(Resource=function_arn, Tags={"équipe": "Zürich 東京 ٣"})
    assert lam.list_tags(Resource=function_arn)["Tags"] == {"équipe": "Zürich 東京 ٣"}


def test_a_missing_required_member_is_refused(aws):
    sns = boto3.client("sns", config=UNVALIDATED)
    topic = sns.create_topic(Name="t")["TopicArn"]
    code, status, message = _code_status_message(_refusal(sns.publish, TopicArn=topic))
    assert (code, status) == ("ValidationError", 400)
    assert message == (
        "1 validation error detected: Value null at 'message' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_an_enum_value_outside_the_set_is_refused(aws):
    cloudwatch = boto3.client("cloudwatch", config=UNVALIDATED)
    code, status, message = _code_status_message(
        _refusal(cloudwatch.describe_alarms, StateValue="INVALID")
    )
    assert (code, status) == ("ValidationError", 400)  # query-compatible: x-amzn-query-error
    assert message.startswith(
        "1 validation error detected: Value 'INVALID' at 'stateValue' failed to satisfy "
        "constraint: Member must satisfy enum value set: ["
    )


def test_logs_answers_invalid_parameter_exception_for_a_pattern(aws):
    logs = boto3.client("logs", config=UNVALIDATED)
    code, status, message = _code_status_message(
        _refusal(logs.create_log_group, logGroupName="no spaces allowed")
    )
    assert (code, status) == ("InvalidParameterException", 400)
    assert "at 'logGroupName' failed to satisfy constraint: Member must satisfy regular" in message


def test_lengths_are_counted_in_utf16_units_as_java_counts_them(lam, function_arn):
    # TagValue max 256: 128 characters outside the BMP are 256 UTF-16 units, 129 are 258.
    lam.tag_resource(Resource=function_arn, Tags={"k": "\U0001d400" * 128})
    code, _, message = _code_status_message(
        _refusal(lam.tag_resource, Resource=function_arn, Tags={"k": "\U0001d400" * 129})
    )
    assert code == "ValidationException" and "Map value must satisfy constraint" in message


def test_a_range_on_a_query_string_member_is_enforced(lam):
    code, status, message = _code_status_message(_refusal(lam.list_functions, MaxItems=0))
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_list_members_are_named_by_position(aws):
    events = boto3.client("events", config=UNVALIDATED)
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["x"]}))
    code, _, message = _code_status_message(
        _refusal(
            events.put_targets,
            Rule="r",
            Targets=[{"Id": "bad id!", "Arn": "arn:aws:sqs:us-east-1:123456789012:q"}],
        )
    )
    assert code == "ValidationException"
    assert "Value 'bad id!' at 'targets.1.member.id' failed to satisfy constraint" in message


def test_every_violation_is_reported_in_one_message(aws):
    events = boto3.client("events", config=UNVALIDATED)
    _, _, message = _code_status_message(_refusal(events.put_rule, Name="x" * 65 + " "))
    assert message.startswith("2 validation errors detected: ")
    assert "Member must have length less than or equal to 64" in message
    assert "Member must satisfy regular expression pattern" in message


def test_a_json_value_of_the_wrong_type_is_a_serialization_exception(aws):
    sfn = boto3.client("stepfunctions", config=UNVALIDATED)
    code, status, _ = _code_status_message(_refusal(sfn.list_state_machines, maxResults="ten"))
    assert (code, status) == ("SerializationException", 400)


def test_lenient_mode_accepts_what_aws_refuses():
    with EmbeddedAws(validation=False):
        lam = boto3.client("lambda", config=UNVALIDATED)
        _create_function(lam, boto3.client("iam"), "checkout")
        assert lam.list_tags(Resource="checkout")["Tags"] == {}


# ----------------------------------------------------------------------------- Lambda ARNs


def test_a_function_arn_of_another_region_is_not_reachable(lam, function_arn):
    elsewhere = function_arn.replace(":us-east-1:", ":eu-west-1:")
    code, status, message = _code_status_message(_refusal(lam.get_function, FunctionName=elsewhere))
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message == "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"


def test_a_function_arn_of_another_account_is_access_denied(lam, function_arn):
    elsewhere = function_arn.replace(f":{ACCOUNT}:", ":210987654321:")
    for call, kwargs in (
        (lam.get_function, {"FunctionName": elsewhere}),
        (lam.get_runtime_management_config, {"FunctionName": elsewhere}),
        (lam.list_tags, {"Resource": elsewhere}),
    ):
        code, status, _ = _code_status_message(_refusal(call, **kwargs))
        assert (code, status) == ("AccessDeniedException", 403)


def test_a_function_arn_of_another_partition_does_not_resolve(lam, function_arn):
    elsewhere = function_arn.replace("arn:aws:", "arn:aws-us-gov:")
    code, status, _ = _code_status_message(_refusal(lam.get_function, FunctionName=elsewhere))
    assert (code, status) == ("ResourceNotFoundException", 404)


def test_every_lambda_operation_resolves_a_local_arn(lam, function_arn):
    version = lam.publish_version(FunctionName=function_arn)["Version"]
    lam.create_alias(FunctionName=function_arn, Name="live", FunctionVersion=version)
    aliases = lam.list_aliases(FunctionName=function_arn)["Aliases"]
    assert [a["Name"] for a in aliases] == ["live"]
    assert lam.get_alias(FunctionName=function_arn, Name="live")["FunctionVersion"] == version
    assert lam.get_function(FunctionName=f"{function_arn}:{version}")["Configuration"][
        "Version"
    ] == (version)


def test_list_functions_pages_at_most_fifty_and_honours_max_items(aws, lam):
    iam = boto3.client("iam")
    names = {f"fn-{index:03d}" for index in range(120)}
    for name in names:
        _create_function(lam, iam, name)
    assert len(lam.list_functions(MaxItems=7)["Functions"]) == 7
    seen: list[str] = []
    pages = 0
    kwargs: dict[str, Any] = {"MaxItems": 1000}
    while True:
        page = lam.list_functions(**kwargs)
        pages += 1
        assert len(page["Functions"]) <= 50
        seen += [f["FunctionName"] for f in page["Functions"]]
        if "NextMarker" not in page:
            break
        kwargs["Marker"] = page["NextMarker"]
    assert pages == 3
    assert sorted(seen) == sorted(names) and len(seen) == len(names)


def test_list_functions_refuses_a_marker_it_did_not_issue(lam):
    code, status, _ = _code_status_message(_refusal(lam.list_functions, Marker="not-a-marker"))
    assert (code, status) == ("InvalidParameterValueException", 400)


# ----------------------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    running = EmulatorServer(port=0, throttling=False).start()
    try:
        yield running
    finally:
        running.stop()


def _server_client(server: EmulatorServer, service: str, **kwargs: Any) -> Any:
    return boto3.client(service, endpoint_url=server.endpoint_url, **CREDENTIALS, **kwargs)


@pytest.fixture(scope="module")
def served_function(server: EmulatorServer) -> str:
    return _create_function(
        _server_client(server, "lambda"), _server_client(server, "iam"), "served-checkout"
    )


def test_server_refuses_list_tags_by_name(server, served_function):
    lam = _server_client(server, "lambda")
    code, status, message = _code_status_message(
        _refusal(lam.list_tags, Resource="served-checkout")
    )
    assert (code, status) == ("ValidationException", 400)
    assert "at 'resource' failed to satisfy constraint: Member must satisfy regular" in message
    assert lam.list_tags(Resource=served_function)["Tags"] == {}


def test_server_refuses_a_tag_value_with_a_comma(server, served_function):
    lam = _server_client(server, "lambda", config=UNVALIDATED)
    code, status, message = _code_status_message(
        _refusal(lam.tag_resource, Resource=served_function, Tags={"alarms": "a,b"})
    )
    assert (code, status) == ("ValidationException", 400)
    assert "at 'tags' failed to satisfy constraint: Map value must satisfy constraint" in message


def test_server_refuses_a_request_no_sdk_validated(server, served_function):
    """curl's view (`curl --aws-sigv4`): a signed raw REST call, no SDK validation at all."""
    url = f"{server.endpoint_url}/2017-03-31/tags/served-checkout"
    signed = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("testing", "testing"), "lambda", REGION).add_auth(signed)
    answer = requests.get(url, headers=dict(signed.headers), timeout=10)
    assert answer.status_code == 400
    assert answer.headers["x-amzn-ErrorType"] == "ValidationException"
    assert answer.json()["Type"] == "User"
    assert "Value 'served-checkout' at 'resource'" in answer.json()["message"]


def test_server_refuses_a_query_protocol_request_missing_a_member(server):
    sns = _server_client(server, "sns", config=UNVALIDATED)
    topic = sns.create_topic(Name="served")["TopicArn"]
    code, status, message = _code_status_message(_refusal(sns.publish, TopicArn=topic))
    assert (code, status) == ("ValidationError", 400)
    assert "Value null at 'message'" in message


def test_server_refuses_a_foreign_region_arn(server, served_function):
    lam = _server_client(server, "lambda")
    elsewhere = served_function.replace(":us-east-1:", ":ap-south-1:")
    code, status, _ = _code_status_message(_refusal(lam.get_function, FunctionName=elsewhere))
    assert (code, status) == ("ResourceNotFoundException", 404)


# ----------------------------------------------------------------------------- the validator


TAG_PATTERN = r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)"


def _tag_oracle(text: str) -> bool:
    """Java's reading of TAG_PATTERN, from Unicode categories directly."""
    return all(unicodedata.category(char)[0] in "LZN" or char in "_.:/=+-@" for char in text)


@settings(max_examples=300, deadline=None)
@given(
    # Characters every Unicode version involved agrees on: Python's unicodedata is older than
    # the regex engine's tables (and Java's), so unassigned-here code points are left out.
    st.text(st.characters(exclude_categories=("Cn", "Cs")), max_size=20)
)
def test_the_tag_pattern_matches_exactly_what_java_would(text):
    assert validation.matches(TAG_PATTERN, text) == _tag_oracle(text)


@pytest.mark.parametrize(
    ("pattern", "accepted", "refused"),
    [
        # Surrogate-pair ranges (XML's Char production) admit characters outside the BMP.
        ("[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*", "a😀b", "a\x01"),
        # Java's POSIX classes are ASCII-only.
        ("^(\\p{Punct}| )+$", "!? ~", "é"),
        ("[\\p{Alnum}]+", "abc123", "é1"),
        ("[a-z\\x{0022}]+", 'a"b', "a'b"),
        ("^(\\p{LD}|-)+$", "ab-٣", "a_b"),
    ],
)
def test_java_constructs_translate(pattern, accepted, refused):
    assert validation.matches(pattern, accepted)
    assert not validation.matches(pattern, refused)


def test_compiled_patterns_are_cached():
    assert validation.compiled(TAG_PATTERN) is validation.compiled(TAG_PATTERN)
