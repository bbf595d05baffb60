"""Small shared vocabulary: runtime update modes, runtime version ARNs, pin keys, settings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

LATEST = "$LATEST"

# The `error` rollforward gives StopExecution when it ends an execution on purpose (a pin lifted
# or deleted outside the workflow): "rollforward.Lifted", "rollforward.Deleted". The failure
# alerting (infra/constructs/observability.py) does not page on stops with this prefix.
STOP_ERROR_PREFIX = "rollforward."

# arn:aws:lambda:<region>::runtime:<64 hex> — the account field is empty by design.
RUNTIME_VERSION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+)::runtime:(?P<digest>[0-9a-f]{64})$"
)
# Published version numbers or $LATEST; aliases are resolved before they reach a pin.
QUALIFIER = re.compile(r"^(\$LATEST|[1-9][0-9]{0,9})$")


class UpdateMode(StrEnum):
    """`UpdateRuntimeOn` wire values (the API has no space in FunctionUpdate)."""

    AUTO = "Auto"
    FUNCTION_UPDATE = "FunctionUpdate"
    MANUAL = "Manual"


def is_runtime_version_arn(value: object) -> bool:
    return isinstance(value, str) and RUNTIME_VERSION_ARN.match(value) is not None


@dataclass(frozen=True, slots=True)
class PinKey:
    """One ledger item: a function (unqualified ARN) and the version whose setting is pinned."""

    function_arn: str
    qualifier: str = LATEST

    def __post_init__(self) -> None:
        if not QUALIFIER.match(self.qualifier):
            raise ValueError(
                f"qualifier must be $LATEST or a version number, not {self.qualifier!r}"
            )
        if ":function:" not in self.function_arn or self.function_arn.count(":") != 6:
            raise ValueError(f"not an unqualified function ARN: {self.function_arn!r}")

    @property
    def function_name(self) -> str:
        return self.function_arn.rsplit(":", 1)[1]

    @property
    def region(self) -> str:
        return self.function_arn.split(":")[3]

    @property
    def account(self) -> str:
        return self.function_arn.split(":")[4]

    @property
    def id(self) -> str:
        """Stable text form, also the PagerDuty dedup-key prefix: `<function-arn>#<qualifier>`."""
        return f"{self.function_arn}#{self.qualifier}"

    @classmethod
    def from_id(cls, text: str) -> PinKey:
        arn, sep, qualifier = text.rpartition("#")
        if not sep:
            raise ValueError(f"not a pin id: {text!r}")
        return cls(arn, qualifier)


@dataclass(frozen=True, slots=True)
class RuntimeSetting:
    """One version's runtime management setting, as GetRuntimeManagementConfig returns it."""

    key: PinKey
    mode: UpdateMode
    pinned_runtime_version_arn: str | None

    @property
    def is_pinned(self) -> bool:
        return self.mode is UpdateMode.MANUAL


# The SSM parameters where each deployed stack says where its resources are (CLI and console):
# one per stack, so that two stacks in one account and region never collide.
DISCOVERY_PATH = "/rollforward/stacks/"


def discovery_parameter(stack_name: str) -> str:
    """The discovery parameter of the stack named `stack_name`."""
    return f"{DISCOVERY_PATH}{stack_name}/discovery"
