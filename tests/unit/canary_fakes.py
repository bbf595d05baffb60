"""In-memory fakes of the canary's ports: one Lambda function with versions, aliases and
runtime settings, its metrics and INIT_START lines, a ledger, an audit sink and a notifier.

The fake Lambda keeps AWS's semantics that the canary's safety rests on: runtime settings per
version, FunctionUpdate applying the newest runtime on a configuration update, published
versions as frozen snapshots, alias RevisionIds. Faults: `fail(operation, error, times)` makes
the next calls of an operation raise (None: until disarmed); `before(operation, action)` lets a
"human" act just before a call lands.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rollforward.audit.notices import NoticeKind
from rollforward.audit.records import AuditEvent
from rollforward.ledger import Pin, Stage
from rollforward.model import LATEST, PinKey, RuntimeSetting, UpdateMode
from rollforward.ports import Alias, MetricQuery, NotFound
from rollforward.scan.listing import AliasRouting
from rollforward.transient import ConditionFailed, Transient


@dataclass(frozen=True)
class RuntimeConfig:
    """A version's setting as the fake keeps it."""

    mode: UpdateMode
    runtime_version_arn: str | None = None


ACCOUNT = "123456789012"
FUNCTION = "checkout"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}"
OLD_RUNTIME = "arn:aws:lambda:us-east-1::runtime:" + "a" * 64
NEW_RUNTIME = "arn:aws:lambda:us-east-1::runtime:" + "b" * 64


@dataclass
class Version:
    configuration: dict[str, Any]
    runtime_arn: str
    setting: RuntimeConfig


@dataclass
class FakeAlias:
    version: str
    weights: dict[str, float] = field(default_factory=dict)
    revision: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class Fault:
    operation: str
    error: Callable[[], Exception]
    times: int | None  # None: until disarmed
    fired: int = 0
    when: Callable[[], bool] | None = None  # only while this holds (e.g. a storm's hours)

    def take(self) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.when is not None and not self.when():
            return False
        self.fired += 1
        return True


# `$LATEST`'s Description as its owner wrote it: a canary leaves it so (`restore_description`).
OWNERS_DESCRIPTION = "checkout API (payments team)"


class FakeLambda:
    """`LambdaControl` over one function (or none, once deleted)."""

    def __init__(self, *, newest_runtime: str = NEW_RUNTIME) -> None:
        self.exists = True
        self.newest_runtime = newest_runtime
        self.latest = Version(
            {
                "FunctionName": FUNCTION,
                "CodeSha256": "code-1",
                "Runtime": "python3.12",
                "Handler": "app.handler",
                "MemorySize": 128,
                "Description": OWNERS_DESCRIPTION,
                "LastUpdateStatus": "Successful",
            },
            OLD_RUNTIME,
            RuntimeConfig(UpdateMode.MANUAL, OLD_RUNTIME),
        )
        self.versions: dict[str, Version] = {}
        self.aliases_: dict[str, FakeAlias] = {}
        self.tags_: dict[str, str] = {}
        self.invoke_errors: set[str] = set()  # runtime version ARNs whose invocations fail
        self.faults: list[Fault] = []
        self.hooks: list[tuple[str, Callable[[], None]]] = []
        self.calls: list[str] = []
        self._numbers = itertools.count(1)
        # As on AWS, an update may still be in progress when it returns: `$LATEST` reads
        # `InProgress` this many times after each update, and refuses another change meanwhile.
        self.update_reads_in_progress = 0
        self._in_progress = 0

    # ---- test controls
    def fail(self, operation: str, error: Callable[[], Exception], times: int | None) -> Fault:
        fault = Fault(operation, error, times)
        self.faults.append(fault)
        return fault

    def before(self, operation: str, action: Callable[[], None]) -> None:
        self.hooks.append((operation, action))

    def clear_faults(self) -> None:
        self.faults.clear()
        self.hooks.clear()

    def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        for hook in [h for h in self.hooks if h[0] == operation]:
            self.hooks.remove(hook)
            hook[1]()
        for fault in self.faults:
            if fault.operation == operation and fault.take():
                raise fault.error()
        if not self.exists:
            raise NotFound(f"{operation}: Function not found: {FUNCTION_ARN}")

    def _version(self, qualifier: str | None) -> Version:
        if qualifier in (None, LATEST):
            return self.latest
        if qualifier not in self.versions:
            raise NotFound(f"version {qualifier} not found")
        return self.versions[qualifier]

    # "Humans" and set-up
    def publish(self) -> str:
        """Publish `$LATEST` as it is (a snapshot of code, configuration and runtime)."""
        number = str(next(self._numbers))
        latest = self.latest
        self.versions[number] = Version(
            dict(latest.configuration),
            latest.runtime_arn,
            latest.setting,  # a published version inherits the setting, as the emulator's
        )
        return number

    def set_alias(self, name: str, version: str, weights: dict[str, float] | None = None) -> None:
        self.aliases_[name] = FakeAlias(version, dict(weights or {}))

    # ---- LambdaControl
    def runtime_setting(self, key: PinKey) -> RuntimeSetting | None:
        try:
            self._enter("GetRuntimeManagementConfig")
            setting = self._version(key.qualifier).setting
        except NotFound:
            return None
        return RuntimeSetting(key, setting.mode, setting.runtime_version_arn)

    def put_runtime_setting(
        self, function: str, qualifier: str | None, mode: UpdateMode, runtime_version_arn: str = ""
    ) -> None:
        self._enter("PutRuntimeManagementConfig")
        if mode is UpdateMode.MANUAL and not runtime_version_arn:
            raise ValueError("InvalidParameterValueException: Manual needs RuntimeVersionArn")
        version = self._version(qualifier)
        version.setting = RuntimeConfig(mode, runtime_version_arn or None)
        if mode is UpdateMode.MANUAL:
            version.runtime_arn = runtime_version_arn

    def aliases(self, function_arn: str) -> list[AliasRouting] | None:
        try:
            self._enter("ListAliases")
        except NotFound:
            return None
        return [
            AliasRouting(name, alias.version, tuple(alias.weights))
            for name, alias in sorted(self.aliases_.items())
        ]

    def _alias(self, name: str) -> Alias:
        alias = self.aliases_[name]
        return Alias(name, alias.version, dict(alias.weights), alias.revision)

    def alias(self, function: str, name: str) -> Alias:
        self._enter("GetAlias")
        if name not in self.aliases_:
            raise NotFound(f"alias {name} not found")
        return self._alias(name)

    def update_alias(
        self,
        function: str,
        name: str,
        *,
        version: str,
        weights: Mapping[str, float],
        revision_id: str = "",
    ) -> None:
        self._enter("UpdateAlias")
        alias = self.aliases_.get(name)
        if alias is None:
            raise NotFound(f"alias {name} not found")
        if revision_id and revision_id != alias.revision:
            raise ConditionFailed("PreconditionFailedException: the revision changed")
        self.aliases_[name] = FakeAlias(version, dict(weights))

    def configuration(self, function: str, qualifier: str | None = None) -> Mapping[str, Any]:
        self._enter("GetFunctionConfiguration")
        configuration = dict(self._version(qualifier).configuration)
        if qualifier in (None, LATEST) and self._in_progress > 0:
            self._in_progress -= 1
            configuration["LastUpdateStatus"] = "InProgress"
        return configuration

    def _refuse_while_updating(self, operation: str) -> None:
        if self._in_progress > 0:
            raise Transient(
                f"ResourceConflictException: {operation}: an update is in progress for {FUNCTION_ARN}"
            )

    def runtime_version_in_use(self, function: str, qualifier: str) -> str:
        self._enter("GetFunction")
        return self._version(qualifier).runtime_arn

    def set_description(self, function: str, description: str) -> None:
        self._enter("UpdateFunctionConfiguration")
        self._refuse_while_updating("UpdateFunctionConfiguration")
        self._in_progress = self.update_reads_in_progress
        self.latest.configuration["Description"] = description
        if self.latest.setting.mode is not UpdateMode.MANUAL:
            self.latest.runtime_arn = self.newest_runtime  # phase 1 of the rollout

    def publish_version(self, function: str, description: str) -> str:
        self._enter("PublishVersion")
        self._refuse_while_updating("PublishVersion")
        return self.publish()

    def tags(self, function: str) -> dict[str, str]:
        try:
            self._enter("ListTags")
        except NotFound:
            return {}
        return dict(self.tags_)

    def invoke(self, function: str, qualifier: str, payload: bytes) -> str | None:
        self._enter("Invoke")
        return "Unhandled" if self._version(qualifier).runtime_arn in self.invoke_errors else None

    # ---- what the test reads
    def state(self) -> tuple[str, dict[str, float], UpdateMode, str | None]:
        """(alias `live` version, weights, `$LATEST` mode, `$LATEST` pinned ARN)."""
        alias = self.aliases_.get("live")
        return (
            alias.version if alias else "",
            dict(alias.weights) if alias else {},
            self.latest.setting.mode,
            self.latest.setting.runtime_version_arn,
        )


class FakeSignals:
    """`Signals`: metrics from `traffic`, alarms by name, INIT_START lines, SSM parameters."""

    def __init__(self, lam: FakeLambda, *, per_minute: int = 1000) -> None:
        self.lam = lam
        self.per_minute = per_minute  # invocations through the alias (or unqualified) a minute
        self.error_rates: dict[str, float] = {}  # runtime version ARN -> share of errors
        self.alarms: dict[str, str] = {}
        self.parameters: dict[str, str] = {}
        self.faults: list[Fault] = []
        self.calls: list[str] = []

    def fail(self, operation: str, error: Callable[[], Exception], times: int | None) -> Fault:
        fault = Fault(operation, error, times)
        self.faults.append(fault)
        return fault

    def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        for fault in self.faults:
            if fault.operation == operation and fault.take():
                raise fault.error()

    def metric_series(
        self, queries: Iterable[MetricQuery], start: datetime, end: datetime
    ) -> dict[str, dict[datetime, float]]:
        self._enter("GetMetricData")
        shares = self.shares()
        result: dict[str, dict[datetime, float]] = {}
        for query in queries:
            periods = [
                start.replace(second=0, microsecond=0) + timedelta(seconds=query.period * i)
                for i in range(int((end - start).total_seconds() // query.period))
            ]
            dimensions = dict(query.dimensions)
            version = dimensions.get("ExecutedVersion")
            qualifier = dimensions.get("Resource", "").rpartition(":")[2]
            if version is None and qualifier.isdigit():
                served = {qualifier: 1.0}  # a version invoked by its qualifier, at the same rate
            else:
                served = shares if version is None else {version: shares.get(version, 0.0)}
            n = e = 0
            for name, share in served.items():
                count = round(self.per_minute * share * query.period / 60)
                n += count
                e += round(count * self.error_rates.get(self._runtime(name), 0.0))
            value = {"Invocations": n, "Errors": e, "Throttles": 0, "Duration": 20.0}[query.metric]
            result[query.id] = {at: float(value) for at in periods} if n else {}
        return result

    def shares(self) -> dict[str, float]:
        """Which versions serve the traffic now, by share (the alias's weights, else $LATEST)."""
        if not self.lam.exists:
            return {}
        alias = self.lam.aliases_.get("live")
        if alias is None:
            return {LATEST: 1.0}
        shares = {alias.version: 1.0 - sum(alias.weights.values())}
        shares.update(alias.weights)
        return shares

    def _runtime(self, version: str) -> str:
        try:
            return self.lam._version(version).runtime_arn
        except NotFound:
            return ""

    def alarm_states(self, names: list[str]) -> dict[str, str]:
        self._enter("DescribeAlarms")
        return {name: self.alarms[name] for name in names if name in self.alarms}

    def log_events(
        self, log_group: str, *, filter_pattern: str, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        self._enter("FilterLogEvents")
        return [  # every serving version cold-started
            _init_start(version, self._runtime(version))
            for version, share in self.shares().items()
            if share > 0
        ]

    def parameter(self, name: str) -> str:
        self._enter("GetParameter")
        if name not in self.parameters:
            raise NotFound(f"ParameterNotFound: {name}")
        return self.parameters[name]


def _init_start(version: str, runtime_arn: str) -> dict[str, Any]:
    return {
        "message": f"INIT_START Runtime Version: python:3.12.v99\tRuntime Version ARN: {runtime_arn}",
        "logStreamName": f"2026/12/02/[{version}]0123456789abcdef",
    }


class FakeLocks:
    """`CanaryLocks` in memory: function ARN -> the pin id holding it."""

    def __init__(self) -> None:
        self.held: dict[str, str] = {}

    def acquire(self, function_arn: str, holder: str, now: datetime) -> str | None:
        current = self.held.setdefault(function_arn, holder)
        return None if current == holder else current

    def take_over(self, function_arn: str, holder: str, stale: str, now: datetime) -> bool:
        if self.held.get(function_arn) != stale:
            return False
        self.held[function_arn] = holder
        return True

    def release(self, function_arn: str, holder: str) -> None:
        if self.held.get(function_arn) == holder:
            del self.held[function_arn]


class FakeAudit:
    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def record(self, event: AuditEvent | str, *, pin_id: str | None = None, **details: Any) -> None:
        self.records.append((str(event), details))

    def events(self) -> list[str]:
        return [event for event, _ in self.records]


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[NoticeKind, dict[str, Any]]] = []
        self.broken = False

    def notify(self, kind: NoticeKind, pin: Pin, **kwargs: Any) -> Any:
        if self.broken:
            raise RuntimeError("SNS Publish: InternalError")
        self.sent.append((kind, kwargs))
        return None


def approved_pin() -> Pin:
    from datetime import UTC

    return Pin(
        key=PinKey(FUNCTION_ARN),
        generation=1,
        stage=Stage.APPROVED,
        first_seen=datetime(2026, 11, 1, tzinfo=UTC),
        pinned_runtime_version_arn=OLD_RUNTIME,
        pinned_by=f"arn:aws:iam::{ACCOUNT}:user/dev",
    )
