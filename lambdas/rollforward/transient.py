"""The two AWS outcomes the core decides on without knowing AWS: "try again later" and "another
writer won the condition".

The core (everything in `rollforward` except `adapters/` and `handlers/`) never sees a botocore
`ClientError`: the adapters translate it at the port, in exactly one place
(`rollforward.adapters.aws_errors`), into `Transient` or `ConditionFailed`; anything else they let
through unchanged (a bug or a refusal, not ours to retry). Which error codes count as transient
is plain data, kept here so that the core and the adapters read the same list.
"""

from __future__ import annotations

from typing import Final

# Throttling and service faults that outlived botocore's own retries: the state machine retries
# the task (`rollforward.Transient`), the scan stops for this run. The adapters add botocore's
# standard-mode classification (every service's throttling codes, HTTP 5xx) to these; the ones
# here are what botocore does not retry but clears by itself: ResourceConflictException is
# Lambda's "another update is in progress" (409), ServiceException its 500.
TRANSIENT_CODES: Final = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",  # CloudWatch's spelling (GetMetricData, DescribeAlarms)
        "Throttled",  # SNS's (HTTP 429; botocore's list spells its shape, ThrottledException)
        "ServiceException",
        "ResourceConflictException",
        "InternalFailure",
        "ServiceUnavailable",
    }
)
# DynamoDB's answer when a ConditionExpression is false.
CONDITION_FAILED_CODE: Final = "ConditionalCheckFailedException"


class Transient(Exception):
    """AWS throttled or failed: retry later. Handlers re-raise it as `rollforward.Transient`,
    which the state machine retries with backoff."""


class ConditionFailed(Exception):
    """A conditional write lost: the item is not in the state the writer assumed."""


def is_transient_code(code: str) -> bool:
    return code in TRANSIENT_CODES


__all__ = [
    "CONDITION_FAILED_CODE",
    "TRANSIENT_CODES",
    "ConditionFailed",
    "Transient",
    "is_transient_code",
]
