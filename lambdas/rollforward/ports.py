"""What the core needs from the world, as small Protocols (ports).

The core — detection, ledger rules, the ladder, approval rules, canary and scan decisions —
talks to AWS only through these. `rollforward.adapters` holds the AWS implementations (boto3
lives there and in `handlers/wiring.py`, which builds them); `tests/unit/fakes.py` holds
in-memory ones, so every decision can be tested in milliseconds without an AWS library.

Conventions every implementation keeps:
- AWS throttling and faults surface as `rollforward.transient.Transient` (retry later); a lost
  conditional write as the return value the method documents (or `ConflictError` for
  `Ledger.update`); a missing resource as the "gone" value the method documents (None, {}).
- Times are aware UTC datetimes; nothing here reads the clock.

r3-canary and r3-scan extend `LambdaControl` and `Signals` with the calls the canary and the scan
need (append methods; keep each one small and typed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rollforward.audit.notices import Notice, NoticeKind
    from rollforward.audit.records import AuditEvent, AuditRecord
    from rollforward.ledger import Pin
    from rollforward.model import PinKey, RuntimeSetting, UpdateMode
    from rollforward.policy import StagePlan
    from rollforward.scan.listing import AliasRouting, FunctionsPage
    from rollforward.scan.screening import FunctionRuntime


class Ledger(Protocol):
    """One item per pinned (function, qualifier); every write conditional (see ledger.py)."""

    def get(self, key: PinKey) -> Pin | None:
        """The pin as stored (strongly consistent), or None."""
        ...

    def open(self, pin: Pin, now: datetime) -> tuple[Pin, bool]:
        """Record a pin episode: (the pin as stored, whether this call opened it). An open pin
        is left alone; a closed one is reopened as the next generation."""
        ...

    def update(self, pin: Pin, now: datetime, **changes: Any) -> Pin:
        """Set only `changes` on the same generation; `ConflictError` if it moved on."""
        ...

    def mark_notice_sent(self, pin: Pin, notice_key: str, now: datetime) -> bool:
        """True exactly once per (generation, notice key), however often it is retried."""
        ...

    def release_notice(self, pin: Pin, notice_key: str, sent_at: datetime) -> None:
        """Undo `mark_notice_sent` of `sent_at` (its publish failed), so the retry sends it;
        a mark of another time or generation is left alone."""
        ...

    def move_execution(self, pin: Pin, from_arn: str, to_arn: str, now: datetime) -> bool:
        """Name `to_arn` as the episode's execution if the ledger still names `from_arn`
        (continue-as-new); False, changing nothing, otherwise."""
        ...

    def list_pins(self, *, open_only: bool = True) -> list[Pin]: ...


class ApprovalStore(Protocol):
    """Approval records by approval id. Each write names the status it expects and returns
    False (changing nothing) when the record is not in it: single use rests on these."""

    def create(self, record: Mapping[str, Any]) -> None:
        """Store a new record (its `approval_id` must be unused)."""
        ...

    def get(self, approval_id: str) -> dict[str, Any] | None: ...

    def pending(self) -> list[dict[str, Any]]:
        """Pending records, without their task tokens."""
        ...

    def rearm(self, approval_id: str, task_token: str, execution_arn: str) -> bool:
        """Give a pending record a new task token; False if it is no longer pending."""
        ...

    def supersede(self, approval_id: str) -> bool:
        """Pending → superseded; False if it was not pending."""
        ...

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
        """Pending → approved | rejected, with who, when and why; False if not pending."""
        ...

    def consume(self, approval_id: str, *, status: str, at: datetime, by: str) -> bool:
        """Mark a decided record used (once); False if consumed already or not `status`."""
        ...

    def set_status_if_unconsumed(self, approval_id: str, status: str) -> None: ...


class AuditSink(Protocol):
    """The audit trail: structured records, written and read in time order."""

    def record(
        self,
        event: AuditEvent | str,
        *,
        pin_id: str | None = None,
        actor: str = "rollforward",
        at: datetime | None = None,
        **details: Any,
    ) -> AuditRecord: ...

    def read(self, *, pin_id: str | None = None, limit: int = 10_000) -> list[AuditRecord]: ...


class Notifier(Protocol):
    """Sends a notice about a pin to its audience's channel(s); returns what was sent."""

    def notify(
        self,
        kind: NoticeKind,
        pin: Pin,
        *,
        plan: StagePlan | None = None,
        next_step: str = "",
        facts: Mapping[str, str] | None = None,
        approval_id: str | None = None,
    ) -> Notice: ...


@dataclass(frozen=True, slots=True)
class ExecutionInfo:
    """What `Executions.describe` tells about one execution."""

    arn: str
    status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED | PENDING_REDRIVE


class Executions(Protocol):
    """The tracking state machine's executions (one per pin episode, named after it)."""

    def start(self, name: str, input: Mapping[str, Any]) -> str:
        """Start `name` and return its ARN; an existing execution of that name is not an
        error (its ARN is returned): the name makes a second start a no-op."""
        ...

    def stop(self, execution_arn: str, *, error: str, cause: str) -> None:
        """Stop an execution; one that no longer exists is not an error."""
        ...

    def describe(self, execution_arn: str) -> ExecutionInfo | None:
        """The execution, or None when it does not exist."""
        ...

    def running(self) -> set[str]:
        """ARNs of the state machine's RUNNING executions (the scan: one call per 1,000)."""
        ...

    def send_task_success(self, task_token: str, output: Mapping[str, Any]) -> bool:
        """Answer a `.waitForTaskToken` task; False when the token is no longer awaited
        (timed out, invalid, or its task is gone)."""
        ...


class NotFound(Exception):
    """The function, version, alias or parameter does not exist (any more)."""


class Refused(Exception):
    """AWS refused the request for good (not throttling, not a fault): e.g. access denied."""


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
    period: int = 60  # seconds; a multiple of 60


class LambdaControl(Protocol):
    """Lambda's control plane, for one account and region. Reads say what is true now."""

    def runtime_setting(self, key: PinKey) -> RuntimeSetting | None:
        """GetRuntimeManagementConfig of (function, qualifier); None when it no longer exists."""
        ...

    def tags(self, function_arn: str) -> dict[str, str]:
        """The function's tags ({} when the function no longer exists)."""
        ...

    # -- the scan's listing (r3-scan)
    def list_functions(
        self, *, marker: str | None, max_items: int, all_versions: bool = False
    ) -> FunctionsPage:
        """One ListFunctions page from `marker` (None: the first page). `all_versions`:
        `FunctionVersion=ALL`, each published version an item of its own (the same calls per
        page: 50 items)."""
        ...

    def aliases(self, function_arn: str) -> list[AliasRouting] | None:
        """Every alias of the function (all pages); None when the function no longer exists."""
        ...

    def function_runtime(
        self, function_arn: str, qualifier: str | None = None
    ) -> FunctionRuntime | None:
        """GetFunction of `qualifier` (None: `$LATEST`; its own 100 req/s bucket, not the
        shared one): runtime, architecture, RuntimeVersionConfig.RuntimeVersionArn; None when
        it no longer exists."""
        ...

    # The canary's calls (r3-canary). `function` is the function's ARN (or name); a missing
    # function, version or alias raises `NotFound`.
    def put_runtime_setting(
        self, function: str, qualifier: str | None, mode: UpdateMode, runtime_version_arn: str = ""
    ) -> None:
        """PutRuntimeManagementConfig; `qualifier` None: unqualified (`$LATEST`)."""
        ...

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
        """UpdateAlias; `ConditionFailed` when `revision_id` is no longer the alias's."""
        ...

    def configuration(self, function: str, qualifier: str | None = None) -> Mapping[str, Any]:
        """GetFunctionConfiguration."""
        ...

    def runtime_version_in_use(self, function: str, qualifier: str) -> str:
        """`RuntimeVersionConfig.RuntimeVersionArn` of the version (GetFunction), or ""."""
        ...

    def set_description(self, function: str, description: str) -> None:
        """UpdateFunctionConfiguration of `$LATEST`'s Description: a function update, which
        applies the newest runtime outside Manual mode."""
        ...

    def publish_version(self, function: str, description: str) -> str:
        """PublishVersion; the new version's number."""
        ...

    def invoke(self, function: str, qualifier: str, payload: bytes) -> str | None:
        """Invoke synchronously; the `FunctionError` if the function failed, else None."""
        ...


class Signals(Protocol):
    """What the canary reads to judge: metrics, logs and alarms (CloudWatch)."""

    def metric_values(
        self, queries: list[dict[str, Any]], start: datetime, end: datetime
    ) -> dict[str, list[float]]:
        """GetMetricData: query id → values (newest first, as CloudWatch returns them)."""
        ...

    def log_events(
        self, log_group: str, *, filter_pattern: str, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """FilterLogEvents over the window, every page: `message`, `logStreamName`, ..."""
        ...

    def alarm_states(self, names: list[str]) -> dict[str, str]:
        """Name → state of those alarms that exist, metric and composite alike."""
        ...

    # The canary's reads (r3-canary).
    def metric_series(
        self, queries: Iterable[MetricQuery], start: datetime, end: datetime
    ) -> dict[str, dict[datetime, float]]:
        """`AWS/Lambda` values by query id, keyed by the start (UTC) of each query's period."""
        ...

    def parameter(self, name: str) -> str:
        """An SSM parameter's (decrypted) value; `NotFound`, or `Refused` if unreadable."""
        ...


class CanaryLocks(Protocol):
    """One canary per function at a time, whatever the qualifiers (issue 11): a lock keyed by
    the function's unqualified ARN, held by a pin id. Every write is conditional, so two
    canaries that start at the same moment cannot both hold it."""

    def acquire(self, function_arn: str, holder: str, now: datetime) -> str | None:
        """Hold the lock for `holder` (idempotent for its holder). None when held now;
        otherwise the pin id that holds it, changing nothing."""
        ...

    def take_over(self, function_arn: str, holder: str, stale: str, now: datetime) -> bool:
        """Hold the lock for `holder` if `stale` still holds it (its canary is over)."""
        ...

    def release(self, function_arn: str, holder: str) -> None:
        """Release the lock if `holder` holds it; nothing otherwise (never another's)."""
        ...


class AccountSessions(Protocol):
    """The per-account adapters of a hub (issue 12: hub and spokes).

    Given the (account, region) a function lives in — `PinKey.account` / `PinKey.region`, i.e.
    its ARN — the adapters the core needs to act there. The hub's own account is served with
    the hub's own credentials (a single-account install stays what it was); a member account
    through a session of the member's execution role, named after the hub function acting
    (visible in the member's CloudTrail), cached until shortly before it expires.

    An account the hub may not act in (no member stack, or its role does not trust this hub
    function) raises `Refused`; throttling and faults of STS `Transient`."""

    @property
    def home(self) -> tuple[str, str]:
        """(account, region) of the hub itself."""
        ...

    def lambda_control(self, account: str, region: str) -> LambdaControl: ...

    def signals(self, account: str, region: str) -> Signals: ...


class OrganizationAccounts(Protocol):
    """The accounts of an Organization the hub serves: those under the OUs (or the root) its
    member StackSet deploys to, which is where the member stack's roles exist."""

    def accounts_under(self, parents: Sequence[str]) -> list[str]:
        """Active account ids under `parents` (OU or root ids) and every OU below them, each
        once, sorted. Raises `Refused` when the Organization may not be read from here (not
        its management account nor a delegated administrator), `Transient` when throttled."""
        ...


__all__ = [
    "AccountSessions",
    "Alias",
    "ApprovalStore",
    "AuditSink",
    "CanaryLocks",
    "ExecutionInfo",
    "Executions",
    "LambdaControl",
    "Ledger",
    "MetricQuery",
    "NotFound",
    "Notifier",
    "OrganizationAccounts",
    "Refused",
    "Signals",
]
