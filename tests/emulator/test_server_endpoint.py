"""The server's one endpoint answers as AWS's endpoints do when a request is unsigned or signed
for another service (docs/parity/iam.md): the service is what the request is, not what its
signature says, and the answer is that service's error in its protocol."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from emulator import endpoint
from emulator.server import EmulatorServer

REGION = "us-east-1"
ROOT = Credentials("testing", "testing")


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    running = EmulatorServer(port=0, throttling=False).start()
    try:
        yield running
    finally:
        running.stop()


def _unsigned(server: EmulatorServer, service: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=server.endpoint_url,
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
    )


def _refused(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as refused:
        call()
    error = refused.value.response
    return (
        str(error["Error"]["Code"]),
        int(error["ResponseMetadata"]["HTTPStatusCode"]),
        str(error["Error"].get("Message", "")),
    )


@pytest.mark.parametrize(
    ("service", "operation", "code", "status"),
    [
        ("lambda", "list_functions", "MissingAuthenticationTokenException", 403),
        ("stepfunctions", "list_state_machines", "MissingAuthenticationTokenException", 400),
        ("dynamodb", "list_tables", "MissingAuthenticationTokenException", 400),
        ("sns", "list_topics", "MissingAuthenticationToken", 403),
        ("iam", "list_users", "MissingAuthenticationToken", 403),
        ("sts", "get_caller_identity", "MissingAuthenticationToken", 403),
        ("s3", "list_buckets", "AccessDenied", 403),
        ("cloudwatch", "describe_alarms", "MissingAuthenticationToken", 403),  # JSON, query codes
        ("sqs", "list_queues", "MissingAuthenticationToken", 403),
    ],
)
def test_an_unsigned_request_gets_its_services_refusal(
    server: EmulatorServer, service: str, operation: str, code: str, status: int
) -> None:
    client = _unsigned(server, service)
    assert _refused(getattr(client, operation))[:2] == (code, status)


def _signed_for(
    server: EmulatorServer, scope_service: str, method: str, path: str, **request: Any
) -> requests.Response:
    url = server.endpoint_url + path
    prepared = AWSRequest(method=method, url=url, **request)
    SigV4Auth(ROOT, scope_service, REGION).add_auth(prepared)
    return requests.request(
        method, url, headers=dict(prepared.headers.items()), data=prepared.body, timeout=10
    )


def test_a_lambda_call_signed_for_another_service_is_refused_not_routed_there(
    server: EmulatorServer,
) -> None:
    answer = _signed_for(server, "sqs", "GET", "/2015-03-31/functions/")
    assert answer.status_code == 403
    assert answer.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert "scoped to correct service: 'lambda'" in answer.json()["message"]
    # The same request signed for Lambda is served.
    assert _signed_for(server, "lambda", "GET", "/2015-03-31/functions/").status_code == 200


def test_a_json_call_signed_for_another_service_is_refused(server: EmulatorServer) -> None:
    answer = _signed_for(
        server,
        "sns",
        "POST",
        "/",
        data=b"{}",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    assert answer.status_code == 400
    assert answer.json()["__type"] == "InvalidSignatureException"
    assert "'dynamodb'" in answer.json()["message"]


def test_a_query_call_signed_for_another_service_is_refused(server: EmulatorServer) -> None:
    answer = _signed_for(
        server,
        "lambda",
        "POST",
        "/",
        data=b"Action=ListTopics&Version=2010-03-31",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert answer.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in answer.text
    assert "'sns'" in answer.text


def test_an_authorization_header_that_is_not_sigv4_is_incomplete(server: EmulatorServer) -> None:
    answer = requests.get(
        server.endpoint_url + "/2015-03-31/functions/",
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101"},
        timeout=10,
    )
    assert answer.status_code == 403
    assert answer.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"


def test_calls_aws_serves_unsigned_are_not_refused_for_it(server: EmulatorServer) -> None:
    try:
        _unsigned(server, "sts").assume_role_with_web_identity(
            RoleArn="arn:aws:iam::123456789012:role/nobody",
            RoleSessionName="session",
            WebIdentityToken="x" * 20,
        )
    except ClientError as error:  # moto may refuse the role; never for a missing signature
        assert not str(error.response["Error"]["Code"]).startswith("MissingAuthentication")


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "service"),
    [
        ("GET", "/2015-03-31/functions/f/configuration", {}, b"", "lambda"),
        ("PUT", "/2021-07-20/functions/f/runtime-management-config", {}, b"", "lambda"),
        ("GET", "/restapis", {}, b"", "apigateway"),
        ("POST", "/", {"X-Amz-Target": "AWSStepFunctions.StartExecution"}, b"{}", "states"),
        ("POST", "/", {"X-Amz-Target": "Logs_20140328.PutLogEvents"}, b"{}", "logs"),
        (
            "POST",
            "/",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"Action=GetCallerIdentity&Version=2011-06-15",
            "sts",
        ),
        (
            "POST",
            "/",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"Action=DescribeAlarms&Version=2010-08-01",
            "monitoring",
        ),
        ("GET", "/some-bucket/some/key", {}, b"", "s3"),
    ],
)
def test_the_service_is_what_the_request_is(
    method: str, path: str, headers: dict[str, str], body: bytes, service: str
) -> None:
    intended = endpoint.intended_service(method, f"http://127.0.0.1:5600{path}", headers, body)
    assert intended.info.signing_name == service
