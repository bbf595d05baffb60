"""Invocation traffic of the simulated fleet, and the signals it leaves behind.

rollforward judges a canary the way it would in AWS: `AWS/Lambda` metrics split by
`ExecutedVersion` (candidate vs baseline over the same window) and the INIT_START lines that
say which runtime version really ran. moto invokes nothing without Docker and records neither,
so every invocation of a fleet function (any function whose handler is not one of
rollforward's own) goes through here instead:

- an alias honours `RoutingConfig.AdditionalVersionWeights` (drawn from `STATE.rng`, so a seeded
  run is reproducible); a version number runs that version; no qualifier runs `$LATEST`;
- the executed version's runtime version (catalog entry) decides the outcome: it fails with its
  `error_rate` (`Runtime.ExitError`, `x-amz-function-error: Unhandled`) and takes a log-normal
  duration with its p50/p99;
- the first invocation of an execution environment — per (function, version, runtime version,
  configuration) — writes `INIT_START` (with the JSON log format, `platform.initStart`) to
  the function's `LoggingConfig.LogGroup` (default `/aws/lambda/<name>`), as Lambda does;
- Invocations, Errors, Throttles and Duration go straight into moto's CloudWatch backend with
  Lambda's dimension sets, one statistic set per (metric, dimensions, minute) rather than one
  datum per invocation, so ten minutes at 10 rps stays small;
- moto's CloudWatch learns percentiles (`p99` in GetMetricData, `ExtendedStatistics` in
  GetMetricStatistics), computed from the individual durations each minute keeps.

rollforward's own functions are left to moto and `emulator.functions` (they run in process).
`generate_traffic` drives a bake window of traffic on virtual time, without sleeping.

The package: `invocation` (routing, outcome, cold starts and INIT_START), `metrics` (the
`AWS/Lambda` series and moto CloudWatch's percentiles); this module drives them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from moto.awslambda.utils import get_backend as lambda_backend
from moto.core.models import DEFAULT_ACCOUNT_ID

from emulator.state import STATE
from emulator.traffic.invocation import _invoke_at, _lock, install_invocation
from emulator.traffic.metrics import install_percentiles

__all__ = ["TrafficSummary", "VersionTraffic", "generate_traffic", "install"]


@dataclass(frozen=True)
class VersionTraffic:
    """What one executed version answered during a `generate_traffic` run."""

    invocations: int
    errors: int


@dataclass(frozen=True)
class TrafficSummary:
    """The outcome of `generate_traffic`, per executed version (`"1"`, `"2"`, `"$LATEST"`)."""

    function: str
    qualifier: str | None
    start: datetime
    end: datetime
    by_version: Mapping[str, VersionTraffic]

    @property
    def invocations(self) -> int:
        return sum(version.invocations for version in self.by_version.values())

    @property
    def errors(self) -> int:
        return sum(version.errors for version in self.by_version.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the control surface and the CLI print it)."""
        return {
            "function": self.function,
            "qualifier": self.qualifier,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "invocations": self.invocations,
            "errors": self.errors,
            "byVersion": {
                version: {"invocations": counts.invocations, "errors": counts.errors}
                for version, counts in sorted(self.by_version.items())
            },
        }


def generate_traffic(
    function: str,
    qualifier: str | None,
    rps: float,
    duration: timedelta,
    region: str | None = None,
    account_id: str | None = None,
) -> TrafficSummary:
    """Invoke `function` `rps` x `duration` times, spread evenly over a window of virtual time.

    The window starts at `STATE.clock.now()`; invocations are stamped across it (metrics, log
    lines) without sleeping, then the clock is advanced to the window's end, so a ten-minute
    bake takes a fraction of a second. Each invocation takes the same path as a boto3 `Invoke`
    (alias weights included).
    """
    if rps <= 0:
        raise ValueError(f"rps must be positive, got {rps}")
    if duration <= timedelta(0):
        raise ValueError(f"duration must be positive, got {duration}")
    region = region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    backend = lambda_backend(account_id or DEFAULT_ACCOUNT_ID, region)
    # The version a project function runs (moto does not say which in its response).
    fallback_version = str(backend.get_function(function, qualifier).version)
    count = round(rps * duration.total_seconds())
    start = STATE.clock.now()
    step = duration / max(count, 1)
    totals: dict[str, list[int]] = {}
    headers = {"X-Amz-Invocation-Type": "RequestResponse"}
    for index in range(count):
        response_headers: dict[str, str] = {}
        _invoke_at(
            backend, function, qualifier, "{}", headers, response_headers, start + step * index
        )
        executed = response_headers.get("x-amz-executed-version", fallback_version)
        counts = totals.setdefault(executed, [0, 0])
        counts[0] += 1
        counts[1] += "x-amz-function-error" in response_headers
    end = start + duration
    STATE.clock.set(end)
    return TrafficSummary(
        function=function,
        qualifier=qualifier,
        start=start,
        end=end,
        by_version={version: VersionTraffic(*counts) for version, counts in totals.items()},
    )


_installed = False


def install() -> None:
    """Route moto's Lambda invocations through here and teach its CloudWatch percentiles."""
    global _installed
    with _lock:
        if _installed:
            return
        install_invocation()
        install_percentiles()
        _installed = True
