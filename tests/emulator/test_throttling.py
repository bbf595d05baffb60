"""Lambda's control-plane throttling in the embedded AWS: buckets, 429s, and what is exempt."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hypothesis import given
from hypothesis import strategies as st

from emulator.state import STATE
from emulator.throttling import Bucket, TokenBucket, classify, reset_throttle_stats, throttle_stats

# `max_attempts` counts retries after the first try; `total_max_attempts` counts every try.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.mark.parametrize(
    ("method", "path", "bucket"),
    [
        ("GET", "/2015-03-31/functions/fn", Bucket.GET_FUNCTION),
        ("GET", "/2015-03-31/functions/fn/", Bucket.GET_FUNCTION),
        ("GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Afn", Bucket.GET_FUNCTION),
        ("get", "/2015-03-31/functions/fn%3A3", Bucket.GET_FUNCTION),
        ("POST", "/2015-03-31/functions/fn/invocations", Bucket.UNTHROTTLED),
        ("POST", "/2014-11-13/functions/fn/invoke-async/", Bucket.UNTHROTTLED),
        ("POST", "/2021-11-15/functions/fn/response-streaming-invocations", Bucket.UNTHROTTLED),
        ("GET", "/2015-03-31/functions/", Bucket.SHARED),  # ListFunctions
        ("GET", "/2015-03-31/functions/fn/configuration", Bucket.SHARED),
        ("PUT", "/2015-03-31/functions/fn/configuration", Bucket.SHARED),
        ("DELETE", "/2015-03-31/functions/fn", Bucket.SHARED),  # DeleteFunction, not GetFunction
        ("POST", "/2015-03-31/functions", Bucket.SHARED),  # CreateFunction
        ("GET", "/2021-07-20/functions/fn/runtime-management-config", Bucket.SHARED),
        ("PUT", "/2021-07-20/functions/fn/runtime-management-config", Bucket.SHARED),
        ("POST", "/2015-03-31/functions/fn/versions", Bucket.SHARED),
        ("PUT", "/2015-03-31/functions/fn/aliases/live", Bucket.SHARED),
        ("GET", "/2015-03-31/functions/fn/invocations", Bucket.SHARED),  # not an Invoke
        ("GET", "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Afn", Bucket.SHARED),
    ],
)  # fmt: skip
def test_classify(method: str, path: str, bucket: Bucket) -> None:
    assert classify(method, path) is bucket


def test_token_bucket_bursts_then_refills_at_the_rate() -> None:
    bucket = TokenBucket(15.0, now=0.0)

    assert [bucket.take(15.0, 0.0) for _ in range(15)] == [0.0] * 15
    assert bucket.take(15.0, 0.0) == pytest.approx(1 / 15)
    assert bucket.take(15.0, 1 / 15) == 0.0
    # An idle minute refills one second's worth, not sixty.
    assert sum(bucket.take(15.0, 60.0) == 0.0 for _ in range(30)) == 15


def test_token_bucket_below_one_request_per_second() -> None:
    bucket = TokenBucket(0.5, now=0.0)

    assert bucket.take(0.5, 0.0) == 0.0
    assert bucket.take(0.5, 0.0) == pytest.approx(2.0)
    assert bucket.take(0.5, 2.0) == 0.0


@given(
    rate=st.floats(min_value=0.5, max_value=200.0),
    gaps=st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=1, max_size=300),
)
def test_token_bucket_never_admits_more_than_burst_plus_rate(
    rate: float, gaps: list[float]
) -> None:
    bucket = TokenBucket(rate, now=0.0)
    now = 0.0
    admitted = 0
    for gap in gaps:
        now += gap
        wait = bucket.take(rate, now)
        if wait == 0.0:
            admitted += 1
        else:
            assert wait > 0.0
            # The promised wait is honest: a token is there when it has passed.
            assert _copy(bucket).take(rate, now + wait + 1e-9) == 0.0
    assert admitted <= max(1.0, rate) + rate * now + 1e-6


def _copy(bucket: TokenBucket) -> TokenBucket:
    clone = TokenBucket(1.0, bucket.updated)
    clone.tokens = bucket.tokens
    return clone


# ---------------------------------------------------------------------------------------------
# Through boto3
# ---------------------------------------------------------------------------------------------


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return 'ok'\n")
    return buffer.getvalue()


def _create_function(region: str = "us-east-1") -> Any:
    """Create `fn` with throttling off, then return a client that does not retry 429s."""
    enabled, STATE.throttle.enabled = STATE.throttle.enabled, False
    iam = boto3.client("iam", region_name=region)
    role = iam.create_role(RoleName=f"role-{region}", AssumeRolePolicyDocument=json.dumps({}))
    lam = boto3.client("lambda", region_name=region, config=NO_RETRIES)
    lam.create_function(
        FunctionName="fn",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="index.handler",
        Code={"ZipFile": _zip()},
    )
    STATE.throttle.enabled = enabled
    reset_throttle_stats()
    return lam


def _exhaust_shared_bucket(lam: Any) -> None:
    for _ in range(100):
        try:
            lam.get_function_configuration(FunctionName="fn")
        except lam.exceptions.TooManyRequestsException:
            return
    pytest.fail("the shared bucket never ran dry")


def test_back_to_back_calls_get_429s_like_aws(throttled_aws: Any) -> None:
    lam = _create_function()
    bodies: list[dict[str, Any]] = []
    lam.meta.events.register(
        "before-parse.lambda.*",
        lambda response_dict, **_: bodies.append(json.loads(response_dict["body"])),
    )
    errors = []

    for _ in range(200):
        try:
            lam.get_runtime_management_config(FunctionName="fn")
        except lam.exceptions.TooManyRequestsException as error:
            errors.append(error.response)

    stats = throttle_stats()
    assert errors, "200 back-to-back calls against 15 req/s must be throttled"
    assert stats.throttled[Bucket.SHARED] == len(errors)
    assert stats.allowed[Bucket.SHARED] == 200 - len(errors)
    assert 15 <= stats.allowed[Bucket.SHARED] < 200
    first = errors[0]
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert first["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"
    assert (
        first["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "TooManyRequestsException"
    )
    assert first["Error"]["Message"] == "Rate exceeded"
    assert first["Reason"] == "CallerRateLimitExceeded"
    assert {
        "Type": "User",
        "message": "Rate exceeded",
        "Reason": "CallerRateLimitExceeded",
        "retryAfterSeconds": "1",
    } in bodies


def test_retry_after_reflects_the_rate(throttled_aws: Any) -> None:
    lam = _create_function()
    STATE.throttle.shared_rate = 0.5

    lam.get_function_configuration(FunctionName="fn")
    with pytest.raises(lam.exceptions.TooManyRequestsException) as raised:
        lam.get_function_configuration(FunctionName="fn")

    assert raised.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "2"


def test_get_function_has_its_own_bucket(throttled_aws: Any) -> None:
    lam = _create_function()
    _exhaust_shared_bucket(lam)

    for _ in range(50):
        lam.get_function(FunctionName="fn")

    assert throttle_stats().allowed[Bucket.GET_FUNCTION] == 50
    assert Bucket.GET_FUNCTION not in throttle_stats().throttled


def test_get_function_bucket_runs_dry_at_its_own_rate(throttled_aws: Any) -> None:
    lam = _create_function()
    STATE.throttle.get_function_rate = 5.0

    with pytest.raises(lam.exceptions.TooManyRequestsException):
        for _ in range(20):
            lam.get_function(FunctionName="fn")

    lam.list_functions()  # the shared bucket is untouched


def test_invoke_is_never_throttled(throttled_aws: Any) -> None:
    lam = _create_function()
    _exhaust_shared_bucket(lam)

    for _ in range(30):
        assert lam.invoke(FunctionName="fn", Payload=b"{}")["StatusCode"] == 200

    assert Bucket.UNTHROTTLED not in throttle_stats().throttled


def test_buckets_are_per_region(throttled_aws: Any) -> None:
    lam = _create_function()
    elsewhere = _create_function("eu-west-1")
    _exhaust_shared_bucket(lam)

    elsewhere.get_function_configuration(FunctionName="fn")

    assert throttle_stats(region="eu-west-1").allowed[Bucket.SHARED] == 1
    assert throttle_stats(region="eu-west-1").throttled == {}
    assert throttle_stats(region="us-east-1").throttled[Bucket.SHARED] == 1


def test_disabled_throttling_admits_everything_and_still_counts(aws: Any) -> None:
    lam = _create_function()

    for _ in range(100):
        lam.get_function_configuration(FunctionName="fn")

    stats = throttle_stats()
    assert stats.allowed[Bucket.SHARED] == 100
    assert stats.throttled == {}
