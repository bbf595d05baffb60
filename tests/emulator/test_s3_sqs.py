"""S3 names and SQS's error shape, as AWS answers them (docs/parity/validation.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator import s3
from emulator.inprocess import EmbeddedAws

REGION = "us-east-1"


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded


def _s3() -> Any:
    # Path style: a reserved name like xn--… cannot even be a host name for the client.
    return boto3.client("s3", region_name=REGION, config=Config(s3={"addressing_style": "path"}))


def _error(call: Any) -> tuple[str, int, dict[str, str]]:
    with pytest.raises(ClientError) as refused:
        call()
    response = refused.value.response
    meta = response["ResponseMetadata"]
    return str(response["Error"]["Code"]), int(meta["HTTPStatusCode"]), dict(meta["HTTPHeaders"])


@pytest.mark.parametrize(
    "name",
    [
        "Upper-Case",
        "under_score",
        "192.168.1.1",
        "two..dots",
        "ends-with-hyphen-",
        ".starts-with-dot",
        "xn--reserved-prefix",
        "sthree-reserved",
        "bucket-s3alias",
        "bucket--ol-s3",
        "ab",
        "a" * 64,
    ],
)
def test_a_bucket_name_aws_refuses_is_invalid(aws: EmbeddedAws, name: str) -> None:
    client = _s3()
    code, status, _ = _error(lambda: client.create_bucket(Bucket=name))
    assert (code, status) == ("InvalidBucketName", 400)
    assert name not in {b["Name"] for b in client.list_buckets()["Buckets"]}


def test_a_valid_bucket_name_is_created(aws: EmbeddedAws) -> None:
    client = _s3()
    client.create_bucket(Bucket="rollforward.reports-2026")
    assert "rollforward.reports-2026" in {b["Name"] for b in client.list_buckets()["Buckets"]}


def test_a_key_over_1024_utf8_bytes_is_too_long(aws: EmbeddedAws) -> None:
    client = _s3()
    client.create_bucket(Bucket="keys-here")
    client.put_object(Bucket="keys-here", Key="é" * 512, Body=b"x")  # exactly 1024 bytes
    code, status, _ = _error(
        lambda: client.put_object(Bucket="keys-here", Key="é" * 512 + "x", Body=b"x")
    )
    assert (code, status) == ("KeyTooLongError", 400)
    code, _, _ = _error(
        lambda: client.copy_object(
            Bucket="keys-here",
            Key="k" * 1025,
            CopySource={"Bucket": "keys-here", "Key": "é" * 512},
        )
    )
    assert code == "KeyTooLongError"


_RULES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_A", min_size=1, max_size=70)


@settings(max_examples=300, deadline=None)
@given(_RULES)
def test_bucket_names_follow_the_user_guide_rules(name: str) -> None:
    """An oracle written from the rules one by one, against the emulator's check."""
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789.-")
    labels = name.split(".")
    oracle_ok = (
        3 <= len(name) <= 63
        and set(name) <= allowed
        and name[0].isalnum()
        and name[-1].isalnum()
        and "" not in labels
        and not (len(labels) == 4 and all(label.isdigit() and len(label) <= 3 for label in labels))
        and not name.startswith(s3.RESERVED_PREFIXES)
        and not name.endswith(s3.RESERVED_SUFFIXES)
    )
    assert (s3.bucket_name_problem(name) is None) == oracle_ok


def test_sqs_answers_a_missing_queue_in_its_json_shape(aws: EmbeddedAws) -> None:
    """The documented shape: `x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;
    Sender`, `__type` com.amazonaws.sqs#QueueDoesNotExist, 400 (botocore then names the query
    code)."""
    client = boto3.client("sqs", region_name=REGION)
    code, status, headers = _error(lambda: client.get_queue_url(QueueName="no-such-queue"))
    assert (code, status) == ("AWS.SimpleQueueService.NonExistentQueue", 400)
    assert headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"


def test_sqs_answers_a_bad_parameter_value_with_the_query_code(aws: EmbeddedAws) -> None:
    client = boto3.client("sqs", region_name=REGION)
    url = client.create_queue(QueueName="bounded")["QueueUrl"]
    code, status, headers = _error(
        lambda: client.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    )
    assert (code, status) == ("InvalidParameterValue", 400)
    assert headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    code, _, _ = _error(lambda: client.create_queue(QueueName="no spaces allowed"))
    assert code == "InvalidParameterValue"


def test_an_object_keeps_the_body_it_was_put_with(aws: Any) -> None:
    """botocore streams a PutObject body (aws-chunked, with its default checksums); the
    emulator's router read that stream to route the request and left it consumed, so every
    object was stored empty (the Map's ResultWriter files among them)."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="kept-bodies")
    s3.put_object(Bucket="kept-bodies", Key="a.json", Body=b'{"kept": true}')
    stored = s3.get_object(Bucket="kept-bodies", Key="a.json")
    assert stored["ContentLength"] == 14
    assert stored["Body"].read() == b'{"kept": true}'
