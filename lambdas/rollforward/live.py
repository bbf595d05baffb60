"""Function ARN helpers, and the names live reads had before they moved behind the ports.

What is true now is read through `rollforward.ports.LambdaControl` (AWS implementation:
`rollforward.adapters.lambda_control.AwsLambdaControl`). The names below that need botocore are
resolved lazily, only for callers not yet on the ports (canary, scan): importing this module
imports no AWS library.
"""

from __future__ import annotations

from typing import Any

from rollforward.model import LATEST, RuntimeSetting
from rollforward.transient import TRANSIENT_CODES, Transient

# The old name of `rollforward.transient.Transient` (same class).
TransientAwsError = Transient

# Kept for callers not yet on the ports; resolved on first use (they import botocore).
_MOVED = {
    "read_runtime_setting": "rollforward.adapters.lambda_control",
    "read_tags": "rollforward.adapters.lambda_control",
    "error_code": "rollforward.adapters.aws_errors",
}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


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
