"""In-memory fakes of the ports the scan acts through (`rollforward.ports`): a Lambda account
(functions, versions' runtime settings, aliases, tags), the tracking state machine's executions,
the ledger, the audit sink and the notifier. They keep AWS's semantics where the scan relies on
them (50 functions per page, a name already used returns that execution, conditional ledger
writes) and count every Lambda call as the emulator's shared bucket would.

Until `Tracker` is on the ports, `FakeLambda` and `FakeExecutions` also answer the two or three
boto3-shaped calls it makes (ListTags, GetRuntimeManagementConfig, StartExecution,
StopExecution), on their success paths only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rollforward.clock import utc_now
from rollforward.detection.observation import CANARY_IN_FLIGHT
from rollforward.ledger import Pin, Stage
from rollforward.model import LATEST, PinKey, RuntimeSetting, UpdateMode
from rollforward.ports import ExecutionInfo, Executions
from rollforward.ratelimit import CallCounter, TokenBucket
from rollforward.scan.listing import AliasRouting, FunctionsPage, ListedFunction
from rollforward.scan.screening import FunctionRuntime
from rollforward.transient import Transient

from tests.unit.fakes import FakeLedger

REGION, ACCOUNT = "eu-west-1", "123456789012"
OLD = f"arn:aws:lambda:{REGION}::runtime:" + "a" * 64
NEW = f"arn:aws:lambda:{REGION}::runtime:" + "b" * 64
STATE_MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:remediation"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


@dataclass
class FakeFunction:
    name: str
    package_type: str = "Zip"
    runtime: str = "python3.12"
    # qualifier -> (mode, pinned runtime version ARN or None)
    settings: dict[str, tuple[UpdateMode, str | None]] = field(default_factory=dict)
    aliases: list[AliasRouting] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    running: str = NEW  # the runtime version $LATEST runs unless pinned (Auto: the newest)


class FakeLambda:
    """`LambdaControl` over an in-memory account. `faults[operation]` holds exceptions the next
    calls of that operation raise (one each), as `emulator/faults.py` arms them on the emulator."""

    def __init__(
        self, limiter: TokenBucket | None = None, counter: CallCounter | None = None
    ) -> None:
        self.functions: dict[str, FakeFunction] = {}
        self.limiter = limiter
        self.counter = counter or CallCounter()
        self.faults: dict[str, list[Exception]] = {}
        self.getfunction_counter = CallCounter()

    # ------------------------------------------------------------------ building the account
    def add(
        self,
        name: str,
        *,
        pinned: str | None = None,
        versions: Mapping[str, str | None] | None = None,
        alias_to: str | None = None,
        package_type: str = "Zip",
    ) -> str:
        """A function; `pinned` pins `$LATEST` Manual on that ARN; `versions` maps published
        versions to a pinned ARN (None: Auto); `alias_to` makes alias `live` point at one."""
        function = FakeFunction(name, package_type=package_type)
        function.settings[LATEST] = (
            (UpdateMode.MANUAL, pinned) if pinned else (UpdateMode.AUTO, None)
        )
        for version, arn in (versions or {}).items():
            function.settings[version] = (
                (UpdateMode.MANUAL, arn) if arn else (UpdateMode.AUTO, None)
            )
        if alias_to is not None:
            function.aliases.append(AliasRouting("live", alias_to))
        self.functions[name] = function
        return function_arn(name)

    def set_mode(self, name: str, qualifier: str, mode: UpdateMode, arn: str | None = None) -> None:
        self.functions[name].settings[qualifier] = (mode, arn)

    def delete(self, name: str) -> None:
        del self.functions[name]

    def arm(self, operation: str, *errors: Exception) -> None:
        self.faults.setdefault(operation, []).extend(errors)

    def _call(self, operation: str) -> None:
        if self.limiter is not None:
            self.limiter.acquire()
        self.counter.record_attempt(operation)
        queued = self.faults.get(operation)
        if queued:
            raise queued.pop(0)

    def _function(self, arn_or_name: str) -> FakeFunction | None:
        return self.functions.get(arn_or_name.split(":")[6] if ":" in arn_or_name else arn_or_name)

    # ------------------------------------------------------------------ the port
    def list_functions(
        self, *, marker: str | None, max_items: int, all_versions: bool = False
    ) -> FunctionsPage:
        """AWS's order: by name, each function's `$LATEST` then its versions (ALL)."""
        self._call("ListFunctions")
        items = [
            (n, q)
            for n in sorted(self.functions)
            for q in sorted(self.functions[n].settings, key=lambda q: -1 if q == LATEST else int(q))
            if q == LATEST or all_versions
        ]
        start = int(marker) if marker else 0
        page = items[start : start + max_items]
        listed = tuple(
            ListedFunction(
                function_arn(n),
                n,
                self.functions[n].package_type,
                runtime=self.functions[n].runtime,
                architecture="x86_64",
                version=q,
            )
            for n, q in page
        )
        following = start + max_items
        return FunctionsPage(listed, str(following) if following < len(items) else None)

    def aliases(self, function_arn: str) -> list[AliasRouting] | None:
        self._call("ListAliases")
        function = self._function(function_arn)
        return None if function is None else list(function.aliases)

    def runtime_setting(self, key: PinKey) -> RuntimeSetting | None:
        self._call("GetRuntimeManagementConfig")
        function = self._function(key.function_arn)
        if function is None or key.qualifier not in function.settings:
            return None
        mode, arn = function.settings[key.qualifier]
        return RuntimeSetting(key=key, mode=mode, pinned_runtime_version_arn=arn)

    def function_runtime(
        self, function_arn: str, qualifier: str | None = None
    ) -> FunctionRuntime | None:
        self.getfunction_counter.record_attempt("GetFunction")  # its own bucket
        queued = self.faults.get("GetFunction")
        if queued:
            raise queued.pop(0)
        function = self._function(function_arn)
        if function is None or (qualifier or LATEST) not in function.settings:
            return None
        mode, pinned = function.settings[qualifier or LATEST]
        arn = pinned if mode is UpdateMode.MANUAL and pinned else function.running
        return FunctionRuntime(function.runtime, "x86_64", arn)

    def tags(self, function_arn: str) -> dict[str, str]:
        self._call("ListTags")
        function = self._function(function_arn)
        return {} if function is None else dict(function.tags)

    # ------------------------------------------------------------------ boto3-shaped (Tracker)
    def list_tags(self, Resource: str) -> dict[str, Any]:
        return {"Tags": self.tags(Resource)}

    def get_runtime_management_config(self, FunctionName: str, Qualifier: str) -> dict[str, Any]:
        live = self.runtime_setting(PinKey(FunctionName, Qualifier))
        if live is None:
            raise LookupError(f"{FunctionName}:{Qualifier} is gone (fakes answer success only)")
        answer: dict[str, Any] = {"UpdateRuntimeOn": str(live.mode)}
        if live.pinned_runtime_version_arn:
            answer["RuntimeVersionArn"] = live.pinned_runtime_version_arn
        return answer


class FakeExecutions:
    """`Executions` of one state machine. Executions end only when a test says so."""

    def __init__(self, counter: CallCounter | None = None) -> None:
        self.state_machine_arn = STATE_MACHINE
        self.status: dict[str, str] = {}
        self.inputs: dict[str, dict[str, Any]] = {}
        self.counter = counter or CallCounter()

    def arn(self, name: str) -> str:
        return f"{STATE_MACHINE.replace(':stateMachine:', ':execution:')}:{name}"

    def end(self, execution_arn: str, status: str = "ABORTED") -> None:
        self.status[execution_arn] = status

    def start(self, name: str, input: Mapping[str, Any]) -> str:
        self.counter.record_attempt("StartExecution")
        arn = self.arn(name)
        if arn not in self.status:
            self.status[arn], self.inputs[arn] = "RUNNING", dict(input)
        return arn

    def stop(self, execution_arn: str, *, error: str, cause: str) -> None:
        self.counter.record_attempt("StopExecution")
        if self.status.get(execution_arn) == "RUNNING":
            self.status[execution_arn] = "ABORTED"

    def describe(self, execution_arn: str) -> ExecutionInfo | None:
        self.counter.record_attempt("DescribeExecution")
        status = self.status.get(execution_arn)
        return None if status is None else ExecutionInfo(execution_arn, status)

    def running(self) -> set[str]:
        self.counter.record_attempt("ListExecutions")
        return {arn for arn, status in self.status.items() if status == "RUNNING"}

    def send_task_success(self, task_token: str, output: Mapping[str, Any]) -> bool:
        return False

    # boto3-shaped (Tracker)
    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        return {"executionArn": self.start(name, json.loads(input))}

    def stop_execution(self, executionArn: str, error: str, cause: str) -> dict[str, Any]:
        self.stop(executionArn, error=error, cause=cause)
        return {}


@dataclass
class Recorded:
    event: str
    pin_id: str | None
    details: dict[str, Any]


class FakeAudit:
    def __init__(self) -> None:
        self.records: list[Recorded] = []

    def record(
        self,
        event: Any,
        *,
        pin_id: str | None = None,
        actor: str = "rollforward",
        at: datetime | None = None,
        **details: Any,
    ) -> Recorded:
        record = Recorded(str(event), pin_id, {"actor": actor, **details})
        self.records.append(record)
        return record

    def actions(self, pin_id: str) -> list[str]:
        return [str(r.details.get("action", r.event)) for r in self.records if r.pin_id == pin_id]


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def notify(self, kind: Any, pin: Pin, **_: Any) -> None:
        self.sent.append((str(kind), pin.key.id))


class FakeCanaryRepair:
    """`CanaryRepair` standing in for the canary's rollback (tested end to end on the
    emulator): `$LATEST` back to Manual on the recorded pin, the in-flight record settled."""

    def __init__(self, lam: FakeLambda, ledger: FakeLedger) -> None:
        self.lam, self.ledger = lam, ledger
        self.restored: list[tuple[str, str]] = []
        self.failures: list[Exception] = []

    def restore(self, pin: Pin, reason: str) -> Pin:
        if self.failures:
            raise self.failures.pop(0)
        record = pin.evidence[CANARY_IN_FLIGHT]
        name = pin.key.function_name
        if name in self.lam.functions:
            self.lam.set_mode(name, LATEST, UpdateMode.MANUAL, record["pinned_arn"])
            baseline = record.get("baseline_version")
            before = record.get("baseline_setting") or {}
            if baseline and before.get("UpdateRuntimeOn"):
                self.lam.set_mode(name, baseline, UpdateMode(before["UpdateRuntimeOn"]))
        self.restored.append((pin.key.id, reason))
        evidence = {k: v for k, v in pin.evidence.items() if k != CANARY_IN_FLIGHT}
        return self.ledger.update(pin, utc_now(), stage=Stage.TRACKING, evidence=evidence)


def throttled(operation: str) -> Transient:
    return Transient(f"TooManyRequestsException: {operation} (429)")


if TYPE_CHECKING:  # mypy (make lint) holds the fakes to their ports (the ledger: fakes.py)
    _executions: Executions = FakeExecutions()
