"""IAM and SigV4 in the embedded AWS: what AWS refuses, refused here (docs/parity/iam.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.inprocess import EmbeddedAws
from emulator.server import EmulatorServer

REGION = "us-east-1"
ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def _user(iam: Any, name: str, policy: dict[str, Any] | None = None) -> dict[str, str]:
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {
        "aws_access_key_id": key["AccessKeyId"],
        "aws_secret_access_key": key["SecretAccessKey"],
    }


def _function(name: str) -> str:
    iam = boto3.client("iam")
    try:
        role = iam.get_role(RoleName="fleet")["Role"]["Arn"]
    except ClientError:
        role = iam.create_role(RoleName="fleet", AssumeRolePolicyDocument=json.dumps(ROLE_POLICY))[
            "Role"
        ]["Arn"]
    return str(
        boto3.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        )["FunctionArn"]
    )


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded


def test_a_user_without_policies_may_not_list_functions(aws: EmbeddedAws) -> None:
    keys = _user(boto3.client("iam"), "nobody")
    client = boto3.client("lambda", region_name=REGION, **keys)
    with pytest.raises(ClientError) as refused:
        client.list_functions()
    assert _code(refused.value) == "AccessDeniedException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_refusal_carries_its_request_id_as_every_aws_answer_does(aws: EmbeddedAws) -> None:
    """Clients read the request id of an error back: Step Functions' Lambda integration puts
    it in the task's cause, and crashed the execution (KeyError) when a refusal had none."""
    keys = _user(boto3.client("iam"), "nobody")
    seen = []
    for service, call in (
        ("lambda", lambda c: c.list_functions()),  # rest-json
        ("sqs", lambda c: c.list_queues()),  # json
        ("sns", lambda c: c.list_topics()),  # query
    ):
        with pytest.raises(ClientError) as refused:
            call(boto3.client(service, region_name=REGION, **keys))
        request_id = refused.value.response["ResponseMetadata"].get("RequestId", "")
        assert len(request_id) == 36, (service, refused.value.response)
        seen.append(request_id)
    assert len(set(seen)) == len(seen)  # one per request


def test_a_resource_scoped_allow_admits_that_function_only(aws: EmbeddedAws) -> None:
    allowed, other = _function("allowed"), _function("other")
    keys = _user(
        boto3.client("iam"),
        "scoped",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "lambda:GetFunction", "Resource": allowed}],
        },
    )
    client = boto3.client("lambda", region_name=REGION, **keys)
    assert client.get_function(FunctionName=allowed)["Configuration"]["FunctionArn"] == allowed
    with pytest.raises(ClientError) as refused:
        client.get_function(FunctionName=other)
    assert _code(refused.value) == "AccessDeniedException"


def test_an_explicit_deny_wins_over_an_allow(aws: EmbeddedAws) -> None:
    arn = _function("guarded")
    keys = _user(
        boto3.client("iam"),
        "denied",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "lambda:GetFunction", "Resource": arn},
            ],
        },
    )
    with pytest.raises(ClientError) as refused:
        boto3.client("lambda", region_name=REGION, **keys).get_function(FunctionName=arn)
    assert _code(refused.value) == "AccessDeniedException"


def test_a_wrong_secret_is_refused(aws: EmbeddedAws) -> None:
    keys = _user(boto3.client("iam"), "forger")
    keys["aws_secret_access_key"] = "not-the-secret"
    with pytest.raises(ClientError) as refused:
        boto3.client("lambda", region_name=REGION, **keys).list_functions()
    assert _code(refused.value) == "InvalidSignatureException"


def test_an_unknown_key_is_refused(aws: EmbeddedAws) -> None:
    client = boto3.client(
        "sts",
        region_name=REGION,
        aws_access_key_id="AKIAUNKNOWNUNKNOWN00",
        aws_secret_access_key="x",
    )
    with pytest.raises(ClientError) as refused:
        client.get_caller_identity()
    assert _code(refused.value) == "InvalidClientTokenId"


def test_a_signature_for_another_region_is_refused(aws: EmbeddedAws) -> None:
    # Signed for eu-west-1, sent to us-east-1's endpoint.
    client = boto3.client(
        "lambda", region_name="eu-west-1", endpoint_url="https://lambda.us-east-1.amazonaws.com"
    )
    with pytest.raises(ClientError) as refused:
        client.list_functions()
    assert _code(refused.value) == "InvalidSignatureException"
    assert "region" in refused.value.response["Error"]["Message"]


@pytest.mark.parametrize(("minutes", "words"), [(-6, "Signature expired"), (6, "not yet current")])
def test_a_signature_outside_five_minutes_of_the_servers_clock_is_refused(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch, minutes: int, words: str
) -> None:
    """SigV4: a request is valid within 5 minutes of its X-Amz-Date (the client's clock is
    skewed here; the emulator's is real time)."""
    import datetime

    import botocore.auth

    keys = _user(boto3.client("iam"), "skewed", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"}
    ]})  # fmt: skip
    client = boto3.client("lambda", region_name=REGION, **keys)
    skewed = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=minutes)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: skewed)
    with pytest.raises(ClientError) as refused:
        client.list_functions()
    assert _code(refused.value) == "InvalidSignatureException"
    assert words in refused.value.response["Error"]["Message"]
    monkeypatch.undo()
    assert client.list_functions()["Functions"] == []  # the same keys, signed on time


def test_the_account_root_may_do_anything(aws: EmbeddedAws) -> None:
    arn = _function("any")
    assert boto3.client("lambda").get_function(FunctionName=arn)["Configuration"]["FunctionArn"]
    # Root needs no policy for IAM itself either (as on AWS).
    assert boto3.client("iam").create_user(UserName="made-by-root")["User"]["Arn"]


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    running = EmulatorServer(port=0, throttling=False).start()
    try:
        yield running
    finally:
        running.stop()


def test_an_unsigned_request_is_refused(aws: EmbeddedAws) -> None:
    client = boto3.client("lambda", region_name=REGION, config=Config(signature_version=UNSIGNED))
    with pytest.raises(ClientError) as refused:
        client.list_functions()
    assert _code(refused.value).startswith("MissingAuthenticationToken")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_server_refuses_a_wrong_secret(
    server: EmulatorServer,
) -> None:
    root = boto3.client(
        "lambda",
        region_name=REGION,
        endpoint_url=server.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert "Functions" in root.list_functions()
    wrong = boto3.client(
        "lambda",
        region_name=REGION,
        endpoint_url=server.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="wrong",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as refused:
        wrong.list_functions()
    assert _code(refused.value) == "InvalidSignatureException"
