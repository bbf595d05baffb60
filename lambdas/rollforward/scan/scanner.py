"""The scan's three phases, orchestrated: `Scanner` (see the package docstring)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from botocore.exceptions import ClientError

from rollforward.audit import AuditEvent
from rollforward.clock import iso, utc_now
from rollforward.ledger import ConflictError, Ledger, Pin, Stage
from rollforward.live import RuntimeSetting, TransientAwsError, error_code, read_runtime_setting
from rollforward.model import LATEST, PinKey
from rollforward.observation import needs_latest_pin
from rollforward.ratelimit import CallCounter, TokenBucket, pacing
from rollforward.scan.listing import ListedFunction, alias_versions, call, list_functions
from rollforward.scan.reconcile import (
    ACTOR,
    DEAD_STATUSES,
    GONE,
    LIVE_STATUSES,
    RESTARTABLE_STAGES,
    QualifierOutcome,
    imagined,
    next_attempt,
    predict,
    restart_name,
)
from rollforward.scan.report import FunctionResult, ScanReport
from rollforward.tracking import Tracker, WorkflowState

SOURCE = "scan"
LIST_EXECUTIONS_PAGE = 1000
RESTART_PROBES = 5  # names tried per restart before giving up (each taken one was dead)
MAX_CONSECUTIVE_FAILURES = 5  # functions in a row that failed: stop, the account is unwell


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
            page = call(self.sfn.list_executions, kwargs)
            running.update(str(e["executionArn"]) for e in page.get("executions", []))
            token = page.get("nextToken")
            if not token:
                return running
            kwargs["nextToken"] = token

    def _execution_status(self, execution_arn: str) -> str:
        if not execution_arn:
            return GONE
        try:
            response = call(self.sfn.describe_execution, {"executionArn": execution_arn})
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


__all__ = ["Scanner"]
