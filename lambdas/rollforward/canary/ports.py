"""What the canary needs from AWS, as small Protocols (the AWS side: `rollforward.canary.aws`).

Temporary home: these move into `rollforward/ports.py` (LambdaControl, Signals) once that module
lands; the names and shapes stay. The canary's domain code sees only these methods and the
domain errors below, never a boto3 client or a botocore error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from rollforward.model import UpdateMode


class NotFound(Exception):
    """The function, version, alias, log group or parameter does not exist (any more)."""


class RevisionChanged(Exception):
    """A conditional write met a newer revision: someone else changed the resource."""


class Refused(Exception):
    """AWS refused the request for good (not throttling, not a fault): e.g. access denied."""


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """One version's runtime management setting (GetRuntimeManagementConfig)."""

    mode: UpdateMode
    runtime_version_arn: str | None = None


@dataclass(frozen=True, slots=True)
class Alias:
    """An alias as GetAlias returns it: its version, extra weights and revision."""

    name: str
    function_version: str
    weights: Mapping[str, float] = field(default_factory=dict)
    revision_id: str = ""


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """One `AWS/Lambda` series: `metric` by `stat`, per minute, for these dimensions."""

    id: str
    metric: str
    stat: str
    dimensions: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class LogEvent:
    message: str
    log_stream_name: str | None = None


class LambdaControl(Protocol):
    """Lambda's control plane, as the canary uses it. Throttling and AWS faults raise the
    domain's transient error; a missing resource raises `NotFound`."""

    def runtime_setting(self, function: str, qualifier: str) -> RuntimeConfig: ...

    def put_runtime_setting(
        self, function: str, qualifier: str | None, mode: UpdateMode, runtime_version_arn: str = ""
    ) -> None:
        """`qualifier` None: unqualified (`$LATEST`), as the API's default."""

    def aliases(self, function: str) -> list[Alias]: ...

    def alias(self, function: str, name: str) -> Alias: ...

    def update_alias(
        self,
        function: str,
        name: str,
        *,
        version: str,
        weights: Mapping[str, float],
        revision_id: str = "",
    ) -> None:
        """Raises `RevisionChanged` when `revision_id` is not the alias's current one."""

    def configuration(self, function: str, qualifier: str | None = None) -> Mapping[str, Any]: ...

    def runtime_version_in_use(self, function: str, qualifier: str) -> str:
        """`RuntimeVersionConfig.RuntimeVersionArn` of the version (GetFunction), or ""."""

    def touch_configuration(self, function: str, description: str) -> None:
        """UpdateFunctionConfiguration of the description: applies the newest runtime in
        FunctionUpdate mode."""

    def publish_version(self, function: str, description: str) -> str: ...

    def tags(self, function: str) -> dict[str, str]:
        """The function's tags ({} if it no longer exists)."""

    def invoke(self, function: str, qualifier: str, payload: bytes) -> str | None:
        """Invoke synchronously; the `FunctionError` if the function failed, else None."""


class Signals(Protocol):
    """Metrics, alarms, logs and parameters: what the canary judges on."""

    def metric_series(
        self, queries: Iterable[MetricQuery], start: datetime, end: datetime
    ) -> dict[str, dict[datetime, float]]:
        """Per-minute values by query id, keyed by the minute's start (UTC)."""

    def alarm_states(self, names: list[str]) -> dict[str, str]:
        """Name -> state of the alarms that exist, metric and composite alike."""

    def log_events(
        self, log_group: str, filter_pattern: str, start: datetime, end: datetime
    ) -> Iterator[LogEvent]:
        """Matching events, every page (none if the log group does not exist)."""

    def parameter(self, name: str) -> str:
        """An SSM parameter's (decrypted) value; `NotFound` / `Refused` if unreadable."""


__all__ = [
    "Alias",
    "LambdaControl",
    "LogEvent",
    "MetricQuery",
    "NotFound",
    "Refused",
    "RevisionChanged",
    "RuntimeConfig",
    "Signals",
]
