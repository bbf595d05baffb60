"""In-memory fakes of the ports (`rollforward.ports`), for the unit tier: no AWS library.

They keep the contracts the AWS adapters keep — conditional writes, "gone" values, `Transient`
for faults — so a decision tested here behaves the same against DynamoDB, Lambda and Step
Functions. Pins are stored as items (`Pin.to_item`) and read back as new objects, as a table
would: a caller's in-memory pin never aliases the stored one.

Faults and races: `Faults.arm("ledger.update", Transient("throttled"))` makes the next call of
that operation raise; `FakeLedger.before_write` runs just before a conditional write checks its
condition (another writer acting between a read and a write).

Shared by the canary's, the scan's and the tracking's unit tests: add what your port needs.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rollforward.audit.notices import Links, Notice, NoticeKind, build_notice
from rollforward.audit.notify import summary_of
from rollforward.audit.records import AuditEvent, AuditRecord, new_record
from rollforward.clock import iso, utc_now
from rollforward.ledger import ConflictError, Pin, Stage
from rollforward.model import PinKey, RuntimeSetting, UpdateMode
from rollforward.policy import StagePlan
from rollforward.ports import ApprovalStore, AuditSink, ExecutionInfo, Ledger, NotFound, Notifier

RUNTIME_ARN = "arn:aws:lambda:eu-west-1::runtime:" + "a" * 64
NEWER_RUNTIME_ARN = "arn:aws:lambda:eu-west-1::runtime:" + "b" * 64
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:111122223333:function:orders"
STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:111122223333:stateMachine:Remediation"


class Faults:
    """Armed failures per operation name (`"<port>.<method>"`), raised in arming order."""

    def __init__(self) -> None:
        self._armed: dict[str, list[BaseException]] = defaultdict(list)
        self.calls: dict[str, int] = defaultdict(int)

    def arm(self, operation: str, *errors: BaseException) -> None:
        self._armed[operation].extend(errors)

    def check(self, operation: str) -> None:
        self.calls[operation] += 1
        if self._armed.get(operation):
            raise self._armed[operation].pop(0)


class FakeLedger:
    """`ports.Ledger` in memory, the one the tracking, scan and canary tiers share: items as
    `Pin.to_item` dicts, every write conditional as the DynamoDB ledger's is
    (`adapters/dynamodb_ledger.py`). `stages` lists every stage `update` wrote, in order."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.items: dict[str, dict[str, Any]] = {}
        self.stages: list[Stage] = []
        # Called with the operation name just before a conditional write checks its condition.
        self.before_write: Callable[[str], None] | None = None

    def _racing(self, operation: str) -> None:
        hook, self.before_write = self.before_write, None  # one race per arming
        if hook is not None:
            hook(operation)

    def put(self, pin: Pin) -> Pin:
        """Test set-up (or another writer): store `pin` as it is, unconditionally."""
        self.items[pin.key.id] = copy.deepcopy(pin.to_item())
        return pin

    def stored(self) -> dict[str, Pin]:
        """Every item as a pin, by pin id (no fault check: for assertions)."""
        return {pin_id: Pin.from_item(copy.deepcopy(item)) for pin_id, item in self.items.items()}

    def get(self, key: PinKey) -> Pin | None:
        self.faults.check("ledger.get")
        item = self.items.get(key.id)
        return Pin.from_item(copy.deepcopy(item)) if item else None

    def open(self, pin: Pin, now: datetime) -> tuple[Pin, bool]:
        self.faults.check("ledger.open")
        existing = self.get(pin.key)
        if existing and existing.is_open:
            return existing, False
        pin.generation = existing.generation + 1 if existing else 1
        pin.updated_at = iso(now)
        self._racing("open")
        current = self.items.get(pin.key.id)
        condition = (
            current is None
            if existing is None
            else current is not None
            and current["generation"] == existing.generation
            and current["is_open"] is False
        )
        if not condition:
            stored = self.get(pin.key)
            if stored is not None:
                return stored, False
            raise ConflictError("condition failed and the item is gone")
        self.items[pin.key.id] = copy.deepcopy(pin.to_item())
        return pin, True

    def update(self, pin: Pin, now: datetime, **changes: Any) -> Pin:
        self.faults.check("ledger.update")
        for name, value in changes.items():
            if not hasattr(pin, name):
                raise AttributeError(f"a pin has no attribute {name!r}")
            setattr(pin, name, value)
        pin.updated_at = iso(now)
        self._racing("update")
        current = self.items.get(pin.key.id)
        if current is None or current["generation"] != pin.generation:
            raise ConflictError(f"{pin.key.id} moved to another generation")
        item = pin.to_item()
        names = {name for name in changes if name != "key"} | {"updated_at"}
        if "stage" in names:
            names.add("is_open")
        for name in names:  # attribute-level, like UpdateItem: others' writes survive
            if name in item:
                current[name] = copy.deepcopy(item[name])
            else:
                current.pop(name, None)
        if "stage" in changes:
            self.stages.append(changes["stage"])
        return pin

    def _episode(self, pin: Pin) -> dict[str, Any] | None:
        """The stored item if it is still `pin`'s generation (what every condition starts with)."""
        current = self.items.get(pin.key.id)
        return current if current is not None and current["generation"] == pin.generation else None

    def move_execution(self, pin: Pin, from_arn: str, to_arn: str, now: datetime) -> bool:
        """As the DynamoDB ledger: only while the same generation is open and names `from_arn`
        (or none, or `to_arn` already: a retry)."""
        self.faults.check("ledger.move_execution")
        self._racing("move_execution")
        current = self._episode(pin)
        if (
            current is None
            or current["is_open"] is not True
            or current.get("execution_arn", "") not in (from_arn, to_arn, "", None)
        ):
            return False
        current["execution_arn"] = to_arn
        current["updated_at"] = iso(now)
        pin.execution_arn, pin.updated_at = to_arn, iso(now)
        return True

    def mark_notice_sent(self, pin: Pin, notice_key: str, now: datetime) -> bool:
        self.faults.check("ledger.mark_notice_sent")
        self._racing("mark_notice_sent")
        current = self._episode(pin)
        if current is None or notice_key in current["notices"]:
            return False
        current["notices"][notice_key] = iso(now)
        pin.notices[notice_key] = iso(now)
        return True

    def release_notice(self, pin: Pin, notice_key: str, sent_at: datetime) -> None:
        current = self._episode(pin)
        if current is not None and current["notices"].get(notice_key) == iso(sent_at):
            del current["notices"][notice_key]
        pin.notices.pop(notice_key, None)

    def list_pins(self, *, open_only: bool = True) -> list[Pin]:
        self.faults.check("ledger.list_pins")
        pins = [Pin.from_item(copy.deepcopy(item)) for item in self.items.values()]
        return [pin for pin in pins if pin.is_open or not open_only]


class FakeApprovalStore:
    """Approval records by id; each state change checks the status it expects."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.records: dict[str, dict[str, Any]] = {}
        # Called with the operation name just before a conditional write checks its condition.
        self.before_write: Callable[[str], None] | None = None

    def _racing(self, operation: str) -> None:
        hook, self.before_write = self.before_write, None
        if hook is not None:
            hook(operation)

    def create(self, record: Mapping[str, Any]) -> None:
        self.faults.check("approvals.create")
        if record["approval_id"] in self.records:
            raise ValueError("approval id in use")
        self.records[str(record["approval_id"])] = copy.deepcopy(dict(record))

    def get(self, approval_id: str) -> dict[str, Any] | None:
        self.faults.check("approvals.get")
        record = self.records.get(approval_id)
        return copy.deepcopy(record) if record else None

    def pending(self) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in r.items() if k != "task_token"}
            for r in self.records.values()
            if r["status"] == "pending"
        ]

    def _change(
        self,
        operation: str,
        approval_id: str,
        expect: Callable[[dict[str, Any]], bool],
        **changes: Any,
    ) -> bool:
        self.faults.check(f"approvals.{operation}")
        self._racing(operation)
        record = self.records.get(approval_id)
        if record is None or not expect(record):
            return False
        record.update(changes)
        return True

    def rearm(self, approval_id: str, task_token: str, execution_arn: str) -> bool:
        return self._change(
            "rearm",
            approval_id,
            lambda r: r["status"] == "pending",
            task_token=task_token,
            execution_arn=execution_arn,
        )

    def supersede(self, approval_id: str) -> bool:
        return self._change(
            "supersede", approval_id, lambda r: r["status"] == "pending", status="superseded"
        )

    def decide(
        self,
        approval_id: str,
        *,
        status: str,
        by: str,
        at: datetime,
        reason: str,
        accept_untested: bool,
    ) -> bool:
        return self._change(
            "decide",
            approval_id,
            lambda r: r["status"] == "pending",
            status=status,
            decided_by=by,
            decided_at=iso(at),
            reason=reason,
            accept_untested=accept_untested,
        )

    def consume(self, approval_id: str, *, status: str, at: datetime, by: str) -> bool:
        return self._change(
            "consume",
            approval_id,
            lambda r: "consumed_at" not in r and r["status"] == status,
            consumed_at=iso(at),
            consumed_by=by,
        )

    def set_status_if_unconsumed(self, approval_id: str, status: str) -> None:
        self._change("set_status", approval_id, lambda r: "consumed_at" not in r, status=status)


class FakeLambdaControl:
    """Live runtime settings and tags. A key without a setting is a function that is gone."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.settings: dict[PinKey, RuntimeSetting] = {}
        self.function_tags: dict[str, dict[str, str]] = {}
        # The runtime version each version runs (RuntimeVersionConfig); "" when not set.
        self.in_use: dict[PinKey, str] = {}

    def pin(self, key: PinKey, arn: str = RUNTIME_ARN) -> None:
        self.settings[key] = RuntimeSetting(key, UpdateMode.MANUAL, arn)

    def set_mode(self, key: PinKey, mode: UpdateMode) -> None:
        self.settings[key] = RuntimeSetting(key, mode, None)

    def delete(self, key: PinKey) -> None:
        self.settings.pop(key, None)
        self.function_tags.pop(key.function_arn, None)

    def runtime_setting(self, key: PinKey) -> RuntimeSetting | None:
        self.faults.check("lambda.runtime_setting")
        return self.settings.get(key)

    def tags(self, function_arn: str) -> dict[str, str]:
        self.faults.check("lambda.tags")
        return dict(self.function_tags.get(function_arn, {}))

    def runtime_version_in_use(self, function: str, qualifier: str) -> str:
        self.faults.check("lambda.runtime_version_in_use")
        key = PinKey(function, qualifier)
        if key not in self.settings:
            raise NotFound(f"{function}:{qualifier} not found")
        return self.in_use.get(key, "")


@dataclass
class FakeExecutions:
    state_machine_arn: str = STATE_MACHINE_ARN
    faults: Faults = field(default_factory=Faults)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> input
    statuses: dict[str, str] = field(default_factory=dict)  # arn -> status
    stops: list[tuple[str, str, str]] = field(default_factory=list)  # (arn, error, cause)
    answers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    awaited_tokens: set[str] = field(default_factory=set)

    def arn_of(self, name: str) -> str:
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"

    def start(self, name: str, input: Mapping[str, Any]) -> str:
        self.faults.check("executions.start")
        arn = self.arn_of(name)
        if name not in self.inputs:  # the name makes a second start a no-op
            self.inputs[name] = copy.deepcopy(dict(input))
            self.statuses[arn] = "RUNNING"
        return arn

    def stop(self, execution_arn: str, *, error: str, cause: str) -> None:
        self.faults.check("executions.stop")
        self.stops.append((execution_arn, error, cause))
        if self.statuses.get(execution_arn) == "RUNNING":
            self.statuses[execution_arn] = "ABORTED"

    def describe(self, execution_arn: str) -> ExecutionInfo | None:
        self.faults.check("executions.describe")
        status = self.statuses.get(execution_arn)
        return ExecutionInfo(execution_arn, status) if status else None

    def send_task_success(self, task_token: str, output: Mapping[str, Any]) -> bool:
        self.faults.check("executions.send_task_success")
        if task_token not in self.awaited_tokens:
            return False
        self.awaited_tokens.discard(task_token)
        self.answers.append((task_token, dict(output)))
        return True


class FakeAudit:
    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.records: list[AuditRecord] = []

    def record(
        self,
        event: AuditEvent | str,
        *,
        pin_id: str | None = None,
        actor: str = "rollforward",
        at: datetime | None = None,
        **details: Any,
    ) -> AuditRecord:
        self.faults.check("audit.record")
        record = new_record(event, pin_id=pin_id, actor=actor, at=at or utc_now(), details=details)
        self.records.append(record)
        return record

    def read(self, *, pin_id: str | None = None, limit: int = 10_000) -> list[AuditRecord]:
        found = [r for r in self.records if pin_id is None or r.pin_id == pin_id]
        return sorted(found, key=lambda r: r.at)[:limit]

    def events(self, pin_id: str | None = None) -> list[str]:
        return [r.event for r in self.read(pin_id=pin_id)]


class FakeNotifier:
    """Renders each notice with the real renderer and keeps it."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.sent: list[tuple[NoticeKind, str, Notice]] = []  # (kind, pin id, notice)

    def notify(
        self,
        kind: NoticeKind,
        pin: Pin,
        *,
        plan: StagePlan | None = None,
        next_step: str = "",
        facts: Mapping[str, str] | None = None,
        approval_id: str | None = None,
    ) -> Notice:
        self.faults.check("notifier.notify")
        notice = build_notice(
            kind,
            summary_of(pin),
            plan,
            utc_now(),
            next_step,
            Links(approval_id=approval_id),
            facts=facts,
        )
        self.sent.append((kind, pin.key.id, notice))
        return notice

    def kinds(self) -> list[NoticeKind]:
        return [kind for kind, _, _ in self.sent]


class FakeSignals:
    """Metric values per query id, log events, alarm states: set them, the canary reads them."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.metrics: dict[str, list[float]] = {}
        self.events: list[dict[str, Any]] = []
        self.alarms: dict[str, str] = {}

    def metric_values(
        self, queries: list[dict[str, Any]], start: datetime, end: datetime
    ) -> dict[str, list[float]]:
        self.faults.check("signals.metric_values")
        return {q["Id"]: list(self.metrics.get(q["Id"], [])) for q in queries}

    def log_events(
        self, log_group: str, *, filter_pattern: str, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        self.faults.check("signals.log_events")
        return [dict(e) for e in self.events if e.get("logGroupName", log_group) == log_group]

    def alarm_states(self, names: list[str]) -> dict[str, str]:
        self.faults.check("signals.alarm_states")
        return {name: self.alarms[name] for name in names if name in self.alarms}


class ManualClock:
    """`rollforward.clock`'s source, moved by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


if TYPE_CHECKING:  # mypy (make lint) holds the fakes to their ports: a Protocol change fails here
    _ledger: Ledger = FakeLedger()
    _approvals: ApprovalStore = FakeApprovalStore()
    _audit: AuditSink = FakeAudit()
    _notifier: Notifier = FakeNotifier()
