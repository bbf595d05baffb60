"""The reconciling scan: the safety net under CloudTrail detection.

Events are missed (a rule disabled during an incident, a function created already pinned by
CloudFormation, a pin lifted while detection was down, a function deleted), and executions die
(a bug, a manual StopExecution, a timeout). Each hour the scan makes the ledger agree with what
is live, on a budget: it spends at most `SCAN_RATE_PER_SECOND` of the account's shared 15 req/s
Lambda control-plane bucket (see `rollforward.ratelimit`), so the user's own deploys keep the
rest.

Phases of `Scanner.scan()`:

1. **Listing.** `list_functions` pages ListFunctions (50 per page). For each function,
   `Scanner.reconcile_function` reads the qualifiers that matter — `$LATEST` and the published
   versions its aliases route to (main version and `AdditionalVersionWeights`), found with
   ListAliases — with one GetRuntimeManagementConfig each, and hands each setting to
   `Tracker.observe(..., setting=...)`, which opens, closes (lifted) or leaves the pin without
   reading it again. Image functions are skipped: Lambda manages no runtime for them. Cost:
   about 2 shared-bucket calls per function (ListAliases + GetRuntimeManagementConfig) plus
   one per alias-routed version, one ListTags per newly opened pin and 1/50 ListFunctions.
2. **Orphans.** Open pins the listing did not cover (the function or version was deleted, or an
   alias moved off a pinned version) are read once each; a `ResourceNotFoundException` makes
   `observe` close the pin as deleted. Runs only when the listing reached its end.
3. **Executions.** Every open pin must have a live tracking execution. The running ones are
   listed with ListExecutions(RUNNING) (one call per 1,000, not one per pin); the others are
   described. FAILED / TIMED_OUT / ABORTED or missing → tracking is restarted. SUCCEEDED with
   the pin still open (escalation exhausted, or approved and waiting for the canary hand-off)
   and pins in APPROVED / CANARY are reported as *stalled* and left alone: restarting would
   send the ladder round again or interrupt a canary, which is a human's call.

A pin in stage FAILED (its execution recorded a failure; the ledger says "tracking resumes on
the next scan") that is still pinned live is *resumed*: put back to TRACKING on the same
generation, so first-seen and the notices already sent are kept, and phase 3 restarts its
execution. `observe` alone would open a new generation and restart the ladder from day 0.

Restart naming. Tracking executions are named `Pin.execution_name` (`pin-<fn>-<hash>-g<gen>`):
Step Functions returns the running execution for a repeated (name, input), which is what makes
detection idempotent — and refuses a name whose execution has ended (names are reserved for
90 days after they close). So a restart starts `<name>-r<n>`, n = 1 + the suffix of the dead
execution's name, keeping the generation: the ledger's generation counts pin *episodes*, and the
restarted execution carries the same `{pin_id, generation}` input, so `Tracker.load` accepts it
and everything keyed on the generation (notice dedup, approvals) carries on. Two scans racing to
restart the same pin compute the same name and input, and Step Functions gives both the same
execution. If a name turns out taken by an execution that is running, that one is adopted; if
taken by an ended one, the next suffix is tried.

`dry_run=True` reads only (Lambda, the ledger, Step Functions) and reports what it would do;
it writes no audit record.

Extension points (why the work is split the way it is):
- **Distributed Map.** `list_functions` is a plain generator of `ListedFunction` and
  `reconcile_function(function)` depends only on that one item, the clients and the ledger
  (not on other functions), returning a `FunctionResult`. A Distributed Map over ListFunctions
  pages (an ItemReader or a listing task) can run `reconcile_function` per item in child
  executions — all children sharing one rate budget, e.g. `MaxConcurrency` x per-child rate <=
  budget — and fold the results with `ScanReport.add_function`; phases 2 and 3 run once after.
- **Multi-account.** Buckets are per account and region, so build one `Scanner` per
  (account, region) with clients from an assumed role and its own `TokenBucket`; nothing in
  this module assumes the account it runs in.
- **Longer than one invocation.** `time_budget_seconds` stops between functions and reports
  `complete=False` with `resume_marker` (the ListFunctions marker of the first function not
  done); `scan(start_marker=...)` continues there. At 3 req/s one 15-minute invocation covers
  about 1,300 functions.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from rollforward.audit import AuditEvent
from rollforward.clock import iso, utc_now
from rollforward.ledger import ConflictError, Ledger, Pin, Stage
from rollforward.live import (
    TRANSIENT_CODES,
    RuntimeSetting,
    TransientAwsError,
    error_code,
    read_runtime_setting,
)
from rollforward.model import LATEST, QUALIFIER, PinKey
from rollforward.observation import Action, decide, needs_latest_pin
from rollforward.ratelimit import CallCounter, CallCounts, TokenBucket, pacing
from rollforward.tracking import Tracker, WorkflowState

ACTOR = "rollforward (reconciling scan)"
SOURCE = "scan"
PAGE_SIZE = 50  # ListFunctions returns at most 50 per page
LIST_EXECUTIONS_PAGE = 1000
# Tracking for these stages is a ladder turn: safe to start again from the ledger.
RESTARTABLE_STAGES = frozenset({Stage.TRACKING, Stage.AWAITING_APPROVAL, Stage.SNOOZED})
DEAD_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
LIVE_STATUSES = frozenset({"RUNNING", "PENDING_REDRIVE"})
GONE = "GONE"  # no execution ARN recorded, or Step Functions does not know it
EXECUTION_NAME_LIMIT = 80
RESTART_PROBES = 5  # names tried per restart before giving up (each taken one was dead)
MAX_CONSECUTIVE_FAILURES = 5  # functions in a row that failed: stop, the account is unwell
SUMMARY_LIST_LIMIT = 50  # pin ids per list in the audit record (a log event is ≤ 256 KiB)


# --------------------------------------------------------------------------- the listing
@dataclass(frozen=True)
class ListedFunction:
    """One ListFunctions item: what the scan needs, and the marker of the page it was on."""

    function_arn: str  # unqualified
    name: str
    package_type: str
    page_marker: str | None = None  # Marker that lists this function's page again

    @property
    def has_managed_runtime(self) -> bool:
        """Image functions bring their own runtime; runtime management does not apply."""
        return self.package_type != "Image"

    @classmethod
    def from_listing(
        cls, item: Mapping[str, Any], page_marker: str | None = None
    ) -> ListedFunction:
        arn = str(item["FunctionArn"])
        return cls(
            function_arn=":".join(arn.split(":")[:7]),
            name=str(item["FunctionName"]),
            package_type=str(item.get("PackageType") or "Zip"),
            page_marker=page_marker,
        )


def list_functions(
    lambda_client: Any, *, start_marker: str | None = None, page_size: int = PAGE_SIZE
) -> Iterator[ListedFunction]:
    """Every function of the client's account and region, page by page (lazily)."""
    marker = start_marker
    while True:
        kwargs: dict[str, Any] = {"MaxItems": page_size}
        if marker:
            kwargs["Marker"] = marker
        page = _call(lambda_client.list_functions, kwargs)
        for item in page.get("Functions", []):
            yield ListedFunction.from_listing(item, marker)
        marker = page.get("NextMarker")
        if not marker:
            return


def alias_versions(lambda_client: Any, function_arn: str) -> list[str]:
    """Published versions the function's aliases route traffic to (main and weighted),
    ascending; [] when the function is gone (the `$LATEST` read then closes its pin)."""
    versions: set[str] = set()
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"FunctionName": function_arn}
        if marker:
            kwargs["Marker"] = marker
        try:
            page = _call(lambda_client.list_aliases, kwargs)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return []
            raise
        for alias in page.get("Aliases", []):
            versions.add(str(alias.get("FunctionVersion", "")))
            weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
            versions.update(str(version) for version in weights)
        marker = page.get("NextMarker")
        if not marker:
            break
    published = {v for v in versions if v != LATEST and QUALIFIER.match(v)}
    return sorted(published, key=int)


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class QualifierOutcome:
    """What the scan did (or, in a dry run, would do) for one (function, qualifier)."""

    pin_id: str
    action: str  # opened | closed | repinned | resumed | already_open | not_pinned
    stage: str = ""  # for closed: lifted | deleted


@dataclass
class FunctionResult:
    """One function's reconcile: the unit a Distributed Map child would return."""

    function_arn: str
    name: str
    qualifiers: list[str] = field(default_factory=list)
    outcomes: list[QualifierOutcome] = field(default_factory=list)
    calls: CallCounts = field(default_factory=CallCounts)
    skipped: str = ""  # why nothing was read (image function)
    error: str = ""


@dataclass
class ScanReport:
    dry_run: bool
    started_at: str
    rate_budget_per_second: float
    duration_seconds: float = 0.0
    complete: bool = False
    # When the listing stopped early: the ListFunctions marker to continue from ("" = the
    # first page). None when the listing finished.
    resume_marker: str | None = None
    functions_seen: int = 0
    functions_skipped: int = 0
    qualifiers_checked: int = 0
    pinned_qualifiers: int = 0  # qualifiers found in Manual
    opened: list[str] = field(default_factory=list)
    closed: dict[str, str] = field(default_factory=dict)  # pin id -> lifted | deleted
    repinned: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    restarted: dict[str, str] = field(default_factory=dict)  # pin id -> new execution ARN
    stalled: dict[str, str] = field(default_factory=dict)  # pin id -> why not restarted
    errors: dict[str, str] = field(default_factory=dict)  # function or pin -> error
    calls_by_operation: dict[str, int] = field(default_factory=dict)  # shared-bucket attempts
    throttled_by_operation: dict[str, int] = field(default_factory=dict)  # 429s received
    calls_by_function: dict[str, int] = field(default_factory=dict)
    stepfunctions_calls: dict[str, int] = field(default_factory=dict)
    paced_seconds: float = 0.0  # time spent waiting for the rate budget

    @property
    def control_plane_calls(self) -> int:
        return sum(self.calls_by_operation.values())

    @property
    def throttled(self) -> int:
        return sum(self.throttled_by_operation.values())

    @property
    def achieved_rate_per_second(self) -> float:
        return self.control_plane_calls / self.duration_seconds if self.duration_seconds else 0.0

    def add_function(self, result: FunctionResult) -> None:
        """Fold one function's result in (also how Distributed Map results would be merged)."""
        self.functions_seen += 1
        if result.skipped:
            self.functions_skipped += 1
        if result.error:
            self.errors[result.function_arn] = result.error
        self.qualifiers_checked += len(result.qualifiers)
        self.calls_by_function[result.name] = result.calls.total_calls
        for outcome in result.outcomes:
            self.add_outcome(outcome)

    def add_outcome(self, outcome: QualifierOutcome) -> None:
        if outcome.action in {"opened", "repinned", "resumed", "already_open"}:
            self.pinned_qualifiers += 1
        if outcome.action == "opened":
            self.opened.append(outcome.pin_id)
        elif outcome.action == "closed":
            self.closed[outcome.pin_id] = outcome.stage
        elif outcome.action == "repinned":
            self.repinned.append(outcome.pin_id)
        elif outcome.action == "resumed":
            self.resumed.append(outcome.pin_id)

    def to_dict(self) -> dict[str, Any]:
        """Everything, per function included (large for a large fleet)."""
        return {**self.summary(limit=None), "calls_by_function": dict(self.calls_by_function)}

    def summary(self, limit: int | None = SUMMARY_LIST_LIMIT) -> dict[str, Any]:
        """Counts and (capped) pin ids: small enough for an audit record or a Lambda result."""

        def cap(items: list[str]) -> list[str]:
            return sorted(items)[:limit] if limit is not None else sorted(items)

        def cap_map(items: dict[str, str]) -> dict[str, str]:
            return {k: items[k] for k in cap(list(items))}

        per_function = list(self.calls_by_function.values())
        return {
            "dry_run": self.dry_run,
            "started_at": self.started_at,
            "duration_seconds": round(self.duration_seconds, 3),
            "complete": self.complete,
            "resume_marker": self.resume_marker,
            "functions_seen": self.functions_seen,
            "functions_skipped": self.functions_skipped,
            "qualifiers_checked": self.qualifiers_checked,
            "pinned_qualifiers": self.pinned_qualifiers,
            "counts": {
                "opened": len(self.opened),
                "closed": len(self.closed),
                "repinned": len(self.repinned),
                "resumed": len(self.resumed),
                "restarted": len(self.restarted),
                "stalled": len(self.stalled),
                "errors": len(self.errors),
            },
            "opened": cap(self.opened),
            "closed": cap_map(self.closed),
            "repinned": cap(self.repinned),
            "resumed": cap(self.resumed),
            "restarted": cap_map(self.restarted),
            "stalled": cap_map(self.stalled),
            "errors": cap_map(self.errors),
            "control_plane_calls": self.control_plane_calls,
            "calls_by_operation": dict(sorted(self.calls_by_operation.items())),
            "throttled": self.throttled,
            "throttled_by_operation": dict(sorted(self.throttled_by_operation.items())),
            "calls_per_function": {
                "max": max(per_function, default=0),
                "mean": round(sum(per_function) / len(per_function), 3) if per_function else 0,
            },
            "stepfunctions_calls": dict(sorted(self.stepfunctions_calls.items())),
            "rate_budget_per_second": self.rate_budget_per_second,
            "achieved_rate_per_second": round(self.achieved_rate_per_second, 3),
            "paced_seconds": round(self.paced_seconds, 3),
        }


def predict(
    key: PinKey, pin: Pin | None, live: RuntimeSetting | None, latest: Pin | None = None
) -> QualifierOutcome:
    """What the scan would do for one qualifier, without doing it (the dry run).

    The decision is `rollforward.observation.decide`, the one `Tracker.observe` carries out;
    on top of it only the scan's own step: a FAILED pin still pinned live is resumed.
    """
    decision = decide(key, pin, live, latest)
    if decision.action is Action.OPENED and pin is not None and pin.stage is Stage.FAILED:
        return QualifierOutcome(key.id, "resumed", str(Stage.TRACKING))
    return QualifierOutcome(key.id, str(decision.action), decision.stage)


def imagined(
    key: PinKey, pin: Pin | None, live: RuntimeSetting | None, outcome: QualifierOutcome
) -> Pin | None:
    """The ledger item after `outcome`, as a dry run pictures it, so that later decisions in
    the same dry run (a version published from a `$LATEST` it would open) see what the real
    run would see."""
    arn = (live.pinned_runtime_version_arn or "") if live is not None else ""
    if outcome.action in {"opened", "resumed"}:
        if pin is not None and outcome.action == "resumed":
            return replace(pin, stage=Stage.TRACKING, outcome={})
        return Pin(
            key=key,
            generation=0,
            stage=Stage.TRACKING,
            first_seen=utc_now(),
            pinned_runtime_version_arn=arn,
            pinned_by=ACTOR,
        )
    if pin is not None and outcome.action == "closed":
        return replace(pin, stage=Stage(outcome.stage))
    if pin is not None and outcome.action == "repinned":
        return replace(pin, pinned_runtime_version_arn=arn)
    return pin


# --------------------------------------------------------------------------- restart names
def restart_name(pin: Pin, attempt: int) -> str:
    """Execution name of a pin episode's `attempt`-th tracking execution (0: the first)."""
    name = pin.execution_name if attempt == 0 else f"{pin.execution_name}-r{attempt}"
    if len(name) > EXECUTION_NAME_LIMIT:
        raise ValueError(f"execution name longer than {EXECUTION_NAME_LIMIT}: {name}")
    return name


def next_attempt(pin: Pin) -> int:
    """The attempt after the one recorded in the ledger (0 when none was recorded)."""
    if not pin.execution_arn:
        return 0
    recorded = pin.execution_arn.rsplit(":", 1)[-1]
    match = re.fullmatch(re.escape(pin.execution_name) + r"-r(\d+)", recorded)
    return int(match.group(1)) + 1 if match else 1


# --------------------------------------------------------------------------- the scanner
class Scanner:
    """Reconciles the ledger with every function of one account and region, on a budget.

    `lambda_client` and `sfn_client` are boto3 clients (adaptive retries on); `limiter` is the
    scan's share of the shared control-plane bucket. While `scan()` runs, the limiter paces every
    shared-bucket call made through `lambda_client` and through the tracker's Lambda client.
    """

    def __init__(
        self,
        lambda_client: Any,
        tracker: Tracker,
        ledger: Ledger,
        sfn_client: Any,
        limiter: TokenBucket,
        *,
        state_machine_arn: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        actor: str = ACTOR,
        account_id: str | None = None,
    ) -> None:
        self.lambda_client = lambda_client
        self.tracker = tracker
        self.ledger = ledger
        self.sfn = sfn_client
        self.limiter = limiter
        self.state_machine_arn = (
            tracker.state_machine_arn if state_machine_arn is None else state_machine_arn
        )
        self.clock = clock
        self.actor = actor
        # Which account's pins phases 2 and 3 may touch; learned from the listing if not given.
        self.account_id = account_id
        self._accounts_seen: set[str] = set()
        self._lambda_calls = CallCounter()
        self._sfn_calls = CallCounter()
        self._known: dict[str, Pin] = {}
        self._imagined: dict[str, Pin] = {}  # dry run: ledger items as its outcomes left them
        self._dry_run = False

    # ------------------------------------------------------------------ the whole scan
    def scan(
        self,
        *,
        dry_run: bool = False,
        progress: Callable[[ScanReport], None] | None = None,
        start_marker: str | None = None,
        time_budget_seconds: float | None = None,
    ) -> ScanReport:
        """Run the three phases; see the module docstring. Raises TransientAwsError when AWS
        keeps failing (the partial report is audited first)."""
        started = self.clock()
        deadline = started + time_budget_seconds if time_budget_seconds is not None else None
        report = ScanReport(
            dry_run=dry_run,
            started_at=iso(utc_now()),
            rate_budget_per_second=self.limiter.rate_per_second,
        )
        self._dry_run = dry_run
        lambda_before, sfn_before = self._lambda_calls.snapshot(), self._sfn_calls.snapshot()
        waited_before = self.limiter.waited_seconds

        def out_of_time() -> bool:
            return deadline is not None and self.clock() >= deadline

        def finish() -> None:
            lambda_calls = self._lambda_calls.snapshot().minus(lambda_before)
            report.calls_by_operation = lambda_calls.calls
            report.throttled_by_operation = lambda_calls.throttled
            report.stepfunctions_calls = self._sfn_calls.snapshot().minus(sfn_before).calls
            report.paced_seconds = self.limiter.waited_seconds - waited_before
            report.duration_seconds = self.clock() - started

        with ExitStack() as paced:
            for client in _distinct(self.lambda_client, self.tracker.lambda_client):
                paced.enter_context(pacing(client, self.limiter, self._lambda_calls))
            for client in _distinct(self.sfn, self.tracker.sfn):
                paced.enter_context(pacing(client, None, self._sfn_calls, exempt=()))
            try:
                self._known = {pin.key.id: pin for pin in self.ledger.list_pins(open_only=False)}
                self._imagined = {}
                self._accounts_seen = set()
                covered: set[str] = set()
                listing_done = self._listing_phase(
                    report, covered, progress, start_marker, out_of_time
                )
                if listing_done:
                    self._orphan_phase(report, covered, out_of_time)
                if not out_of_time():
                    self._execution_phase(report, out_of_time)
                report.complete = listing_done and not out_of_time()
            except TransientAwsError as error:
                report.errors["scan"] = f"aborted: {error}"
                finish()
                self._audit(report)
                raise
            finish()
        self._audit(report)
        return report

    def _listing_phase(
        self,
        report: ScanReport,
        covered: set[str],
        progress: Callable[[ScanReport], None] | None,
        start_marker: str | None,
        out_of_time: Callable[[], bool],
    ) -> bool:
        """Phase 1; False when it stopped early (out of time), with `resume_marker` set."""
        failures = 0
        for function in list_functions(self.lambda_client, start_marker=start_marker):
            if out_of_time():
                report.resume_marker = function.page_marker or ""
                return False
            self._accounts_seen.add(function.function_arn.split(":")[4])
            result = self.reconcile_function(function)
            covered.update(PinKey(function.function_arn, q).id for q in result.qualifiers)
            report.add_function(result)
            failures = failures + 1 if result.error else 0
            if failures >= MAX_CONSECUTIVE_FAILURES:
                raise TransientAwsError(
                    f"{failures} functions in a row failed, the last with: {result.error}"
                )
            if progress is not None:
                progress(report)
        return True

    # ------------------------------------------------------------------ one function
    def reconcile_function(self, function: ListedFunction) -> FunctionResult:
        """Phase 1 for one function: read its qualifiers' settings and reconcile each.

        Errors AWS may recover from (throttling, a conflict, a 5xx) are recorded on the result,
        not raised, so one bad function does not cost the other thousands their scan.
        """
        result = FunctionResult(function.function_arn, function.name)
        before = self._lambda_calls.snapshot()
        try:
            if not function.has_managed_runtime:
                result.skipped = f"package type {function.package_type}"
                return result
            result.qualifiers = [LATEST, *alias_versions(self.lambda_client, function.function_arn)]
            for qualifier in result.qualifiers:
                key = PinKey(function.function_arn, qualifier)
                live = read_runtime_setting(self.lambda_client, key)
                result.outcomes.append(self.reconcile(key, live))
        except (TransientAwsError, ClientError, ConflictError) as error:
            result.error = f"{type(error).__name__}: {error}"
        finally:
            result.calls = self._lambda_calls.snapshot().minus(before)
        return result

    def reconcile(self, key: PinKey, live: RuntimeSetting | None) -> QualifierOutcome:
        """Make the ledger agree with one already-read live setting."""

        # A dry run looks at the ledger as its own earlier outcomes would have left it.
        def known(pin_id: str) -> Pin | None:
            if self._dry_run and pin_id in self._imagined:
                return self._imagined[pin_id]
            return self._known.get(pin_id)

        pin = known(key.id)
        latest = known(PinKey(key.function_arn).id) if needs_latest_pin(key) else None
        expected = predict(key, pin, live, latest)
        if self._dry_run:
            updated = imagined(key, pin, live, expected)
            if updated is not None:
                self._imagined[key.id] = updated
            return expected
        resumed = expected.action == "resumed" and pin is not None and self._resume(pin)
        observation = self.tracker.observe(key, actor=self.actor, source=SOURCE, setting=live)
        if resumed and observation.action in {"already_open", "repinned"}:
            return QualifierOutcome(key.id, "resumed", observation.stage)
        return QualifierOutcome(key.id, observation.action, observation.stage)

    def _resume(self, pin: Pin) -> bool:
        """FAILED → TRACKING on the same generation. False if another writer got there first
        (a new episode opened): `observe` then sees what is there now."""
        failure = dict(pin.outcome)
        try:
            self.ledger.update(pin, utc_now(), stage=Stage.TRACKING, outcome={})
        except ConflictError:
            return False
        self.tracker.audit.record(
            AuditEvent.SCAN,
            pin_id=pin.key.id,
            actor=self.actor,
            action="resumed",
            after_failure=failure,
        )
        return True

    # ------------------------------------------------------------------ phase 2
    def _orphan_phase(
        self, report: ScanReport, covered: set[str], out_of_time: Callable[[], bool]
    ) -> None:
        for pin in self._open_pins():
            if pin.key.id in covered:
                continue
            if out_of_time():
                return
            try:
                live = read_runtime_setting(self.lambda_client, pin.key)
                report.qualifiers_checked += 1
                report.add_outcome(self.reconcile(pin.key, live))
            except (ClientError, ConflictError) as error:
                report.errors[pin.key.id] = f"{type(error).__name__}: {error}"

    # ------------------------------------------------------------------ phase 3
    def _execution_phase(self, report: ScanReport, out_of_time: Callable[[], bool]) -> None:
        if not self.state_machine_arn:
            return
        pins = self._open_pins()
        if self._dry_run:  # nothing was resumed: add the pins that would have been
            pins += [self._known[i] for i in report.resumed if i in self._known]
        running = self._running_executions()
        for pin in pins:
            if pin.execution_arn and pin.execution_arn in running:
                continue
            if out_of_time():
                return
            status = self._execution_status(pin.execution_arn)
            if status in LIVE_STATUSES:
                continue
            resumed = pin.key.id in report.resumed
            stage = Stage.TRACKING if resumed else pin.stage
            if stage not in RESTARTABLE_STAGES:
                report.stalled[pin.key.id] = f"stage {stage}, execution {status.lower()}"
                continue
            if status not in DEAD_STATUSES and status != GONE:
                report.stalled[pin.key.id] = f"execution {status.lower()} with the pin open"
                continue
            if self._dry_run:
                report.restarted[pin.key.id] = f"(would restart: execution {status.lower()})"
                continue
            try:
                report.restarted[pin.key.id] = self.restart_tracking(pin, status)
            except (ClientError, ValueError) as error:
                report.errors[pin.key.id] = f"restart: {type(error).__name__}: {error}"

    def restart_tracking(self, pin: Pin, previous_status: str = GONE) -> str:
        """Start a tracking execution for this episode again; returns its ARN (recorded in the
        ledger). See "Restart naming" in the module docstring."""
        state = WorkflowState(pin.key.id, pin.generation)
        document = json.dumps(state.to_dict(), separators=(",", ":"), default=str)
        first = next_attempt(pin)
        arn = ""
        for attempt in range(first, first + RESTART_PROBES):
            name = restart_name(pin, attempt)
            try:
                arn = str(
                    self.sfn.start_execution(
                        stateMachineArn=self.state_machine_arn, name=name, input=document
                    )["executionArn"]
                )
                break
            except ClientError as error:
                if error_code(error) != "ExecutionAlreadyExists":
                    raise
                taken = self._execution_arn(name)
                if self._execution_status(taken) in LIVE_STATUSES:
                    arn = taken  # someone else (another scan, detection) started it
                    break
        if not arn:
            raise ValueError(f"{RESTART_PROBES} execution names from attempt {first} are taken")
        previous = pin.execution_arn
        try:
            self.ledger.update(pin, utc_now(), execution_arn=arn)
        except ConflictError:
            return arn  # a new episode began meanwhile; this execution closes as superseded
        self.tracker.audit.record(
            AuditEvent.SCAN,
            pin_id=pin.key.id,
            actor=self.actor,
            action="tracking_restarted",
            generation=pin.generation,
            previous_execution=previous,
            previous_status=previous_status,
            execution_arn=arn,
        )
        return arn

    def _running_executions(self) -> set[str]:
        running: set[str] = set()
        kwargs: dict[str, Any] = {
            "stateMachineArn": self.state_machine_arn,
            "statusFilter": "RUNNING",
            "maxResults": LIST_EXECUTIONS_PAGE,
        }
        while True:
            page = _call(self.sfn.list_executions, kwargs)
            running.update(str(e["executionArn"]) for e in page.get("executions", []))
            token = page.get("nextToken")
            if not token:
                return running
            kwargs["nextToken"] = token

    def _execution_status(self, execution_arn: str) -> str:
        if not execution_arn:
            return GONE
        try:
            response = _call(self.sfn.describe_execution, {"executionArn": execution_arn})
            return str(response["status"])
        except ClientError as error:
            if error_code(error) in {
                "ExecutionDoesNotExist",
                "InvalidArn",
                "StateMachineDoesNotExist",
            }:
                return GONE
            raise

    def _execution_arn(self, name: str) -> str:
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"

    # ------------------------------------------------------------------ helpers
    def _open_pins(self) -> list[Pin]:
        """Open pins of this scan's region and account(s): a ledger shared by several accounts
        must never have one account's pins closed as deleted by another account's scan."""
        if self._dry_run:  # nothing changed since the start: the snapshot is current
            pins = [pin for pin in self._known.values() if pin.is_open]
        else:
            pins = self.ledger.list_pins(open_only=True)
        region = getattr(self.lambda_client.meta, "region_name", None)
        accounts = {self.account_id} if self.account_id else self._accounts_seen
        return [
            pin
            for pin in pins
            if (not region or pin.key.region == region)
            and (not accounts or pin.key.account in accounts)
        ]

    def _audit(self, report: ScanReport) -> None:
        if not report.dry_run:
            self.tracker.audit.record(AuditEvent.SCAN, actor=self.actor, **report.summary())


def _distinct(*clients: Any) -> list[Any]:
    """The clients, each once (the tracker usually shares the scanner's client)."""
    seen: dict[int, Any] = {}
    for client in clients:
        if client is not None:
            seen.setdefault(id(client), client)
    return list(seen.values())


def _call(operation: Callable[..., Any], kwargs: Mapping[str, Any]) -> Any:
    """Run one AWS request; throttling and 5xx that outlived botocore's retries become
    `TransientAwsError` (the scan stops: the account is busy, try at the next schedule)."""
    try:
        return operation(**kwargs)
    except ClientError as error:
        if error_code(error) in TRANSIENT_CODES:
            raise TransientAwsError(str(error)) from error
        raise


__all__ = [
    "ACTOR",
    "FunctionResult",
    "ListedFunction",
    "QualifierOutcome",
    "ScanReport",
    "Scanner",
    "alias_versions",
    "list_functions",
    "next_attempt",
    "predict",
    "restart_name",
]
