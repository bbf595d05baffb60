"""Function ARN helpers and old names of moved vocabulary.

What is true now is read through `rollforward.ports.LambdaControl` (AWS implementation:
`rollforward.adapters.lambda_control.AwsLambdaControl`).
"""

from __future__ import annotations

from rollforward.model import LATEST, RuntimeSetting
from rollforward.transient import TRANSIENT_CODES, Transient

# The old name of `rollforward.transient.Transient` (same class).
TransientAwsError = Transient


def unqualified_arn(function_arn: str) -> str:
    """`arn:aws:lambda:r:a:function:f:3` -> `arn:aws:lambda:r:a:function:f`."""
    parts = function_arn.split(":")
    return ":".join(parts[:7])


def qualifier_of(function_arn: str) -> str:
    parts = function_arn.split(":")
    return parts[7] if len(parts) > 7 else LATEST


__all__ = [
    "TRANSIENT_CODES",
    "RuntimeSetting",
    "TransientAwsError",
    "qualifier_of",
    "unqualified_arn",
]
