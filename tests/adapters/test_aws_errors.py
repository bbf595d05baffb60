"""What the adapters raise as `Transient`: botocore's own retry classification plus ours."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from rollforward.adapters.aws_errors import call, is_condition_failure, is_transient
from rollforward.transient import Transient


def client_error(code: str, status: int, operation: str = "PutItem") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        # DynamoDB's throttles: a throttled ledger write is retried, not a failed task.
        ("ProvisionedThroughputExceededException", 400),
        ("RequestLimitExceeded", 400),
        ("ThrottlingException", 400),
        ("InternalServerError", 500),  # DynamoDB's fault, by status
        ("Throttled", 429),  # SNS
        ("Throttling", 400),  # CloudWatch
        ("TooManyRequestsException", 429),  # Lambda
        ("ResourceConflictException", 409),  # Lambda's update in progress: clears by itself
        ("ServiceException", 500),
        ("ServiceUnavailable", 503),
    ],
)
def test_throttles_and_faults_are_transient(code: str, status: int) -> None:
    error = client_error(code, status)
    assert is_transient(error)
    with pytest.raises(Transient, match=code):
        call(lambda: (_ for _ in ()).throw(error))


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ConditionalCheckFailedException", 400),
        ("ValidationException", 400),
        ("ResourceNotFoundException", 404),
        ("AccessDeniedException", 403),
    ],
)
def test_refusals_are_not_transient(code: str, status: int) -> None:
    error = client_error(code, status)
    assert not is_transient(error)
    with pytest.raises(ClientError):
        call(lambda: (_ for _ in ()).throw(error))


def test_the_condition_failure_test_names_dynamodbs_code_only() -> None:
    assert is_condition_failure(client_error("ConditionalCheckFailedException", 400))
    assert not is_condition_failure(client_error("TransactionCanceledException", 400))
    assert not is_transient(ValueError("not an AWS error"))
