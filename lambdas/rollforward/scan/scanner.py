"""The scan's three phases, orchestrated: `Scanner` (see the package docstring).

It acts only through the ports (`rollforward.ports`): `LambdaControl` for the listing and the
live settings, `Executions` for the tracking executions, the ledger, the audit sink, and
`CanaryRepair` to restore a canary whose execution died. Pacing is the wiring's business: the
handler wraps the AWS clients in `ratelimit.pacing` and hands the scan the counters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import replace
from itertools import chain
from typing import TYPE_CHECKING, Protocol

from rollforward.audit.records import AuditEvent
from rollforward.clock import iso, utc_now
from rollforward.detection.observation import canary_in_flight, needs_latest_pin
from rollforward.escalation.tracking import Tracker, WorkflowState
from rollforward.ledger import ConflictError, Pin, Stage
from rollforward.live import RuntimeSetting, TransientAwsError
from rollforward.model import LATEST, PinKey
from rollforward.ratelimit import CallCounter, TokenBucket
from rollforward.scan.listing import ListedFunction, alias_versions, list_functions
from rollforward.scan.reconcile import (
    ACTOR,
    DEAD_STATUSES,
    GONE,
    LIVE_STATUSES,
    RESTARTABLE_STAGES,
    QualifierOutcome,
    covered_digest,
    imagined,
    next_attempt,
    predict,
    restart_name,
    restored,
)
from rollforward.scan.report import FunctionResult, ScanReport
from rollforward.scan.screening import FunctionRuntime, Reading, Screen, plan_reading

if TYPE_CHECKING:
    from rollforward.ports import Executions, LambdaControl, Ledger

SOURCE = "scan"
# The share of a time-boxed invocation phase 1 may spend listing (and, on a full pass, reading
# `$LATEST`); the rest finishes what it listed (outlier versions; a screening cycle's reads)
# before the next invocation continues past it. Without it, an invocation that listed until its
# time was up would hand the next one the page of its first unread outlier: the same work again.
LISTING_SHARE = 2 / 3
RESTART_PROBES = 5  # names tried per restart before giving up (each taken one was dead)
MAX_CONSECUTIVE_FAILURES = 5  # functions in a row that failed: stop, the account is unwell


class CanaryRepair(Protocol):
    """Restores a function whose canary's execution died (stopped, failed, timed out) exactly
    as the canary's own Rollback would — it *is* the canary's rollback, reached through a port
    so the scan never keeps a copy of it."""

    def restore(self, pin: Pin, reason: str) -> Pin:
        """Roll the unfinished canary recorded on `pin` back (idempotent; a human's change is
        left alone); the pin afterwards (back to tracking, the in-flight record settled)."""
        ...


class Scanner:
    """Reconciles the ledger with every function of one account and region, on a budget.

    `lambda_control` and `executions` are the ports the scan reads and acts through;
    `limiter` is the scan's share of the shared control-plane bucket, and `lambda_calls` /
    `sfn_calls` count the attempts the wiring paces (see `handlers/scan.py`): the report's call
    figures come from them. `canary_repair` restores canaries whose execution died (None: they
    are reported as stalled). `region` and `account_id` say whose pins phases 2 and 3 may
    touch (the account is learned from the listing when not given).
    """

    def __init__(
        self,
        lambda_control: LambdaControl,
        tracker: Tracker,
        ledger: Ledger,
        executions: Executions | None,
        limiter: TokenBucket,
        *,
        canary_repair: CanaryRepair | None = None,
        lambda_calls: CallCounter | None = None,
        sfn_calls: CallCounter | None = None,
        getfunction_calls: CallCounter | None = None,
        clock: Callable[[], float] = time.monotonic,
        actor: str = ACTOR,
        account_id: str | None = None,
        region: str | None = None,
    ) -> None:
        self.lambda_control = lambda_control
        self.tracker = tracker
        self.ledger = ledger
        self.executions = executions
        self.limiter = limiter
        self.canary_repair = canary_repair
        self.clock = clock
        self.actor = actor
        self.account_id = account_id
        self.region = region
        self._accounts_seen: set[str] = set()
        self._lambda_calls = lambda_calls or CallCounter()
        self._sfn_calls = sfn_calls or CallCounter()
        self._getfunction_calls = getfunction_calls or CallCounter()
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
        full: bool = True,
        covered_before: Collection[str] = (),
        resume_after: str | None = None,
    ) -> ScanReport:
        """Run the three phases; see the package docstring. `full=False` screens the listing
        on GetFunction first (`rollforward.scan.screening`). `covered_before`: when resuming at
        `start_marker`, the `covered_pins` of the cycle's earlier invocations (their listing
        read those pins: phase 2 does not read them again) and `resume_after`, the report's
        own (the functions of the marker's page up to it are done). Raises `Transient` when AWS keeps
        failing (the partial report is audited first)."""
        started = self.clock()
        deadline = started + time_budget_seconds if time_budget_seconds is not None else None
        report = ScanReport(
            dry_run=dry_run,
            started_at=iso(utc_now()),
            rate_budget_per_second=self.limiter.rate_per_second,
            full=full,
        )
        self._dry_run = dry_run
        lambda_before, sfn_before = self._lambda_calls.snapshot(), self._sfn_calls.snapshot()
        gf_before = self._getfunction_calls.snapshot()
        waited_before = self.limiter.waited_seconds

        # Phase 1 lists and reads until `listing_deadline`; what it listed is then finished
        # (its outlier versions, a screening cycle's reads) by `deadline`. So an invocation
        # always finishes what it listed before the next continues past it: a resumed scan
        # makes progress however its time falls (see LISTING_SHARE).
        listing_deadline = (
            started + time_budget_seconds * LISTING_SHARE
            if time_budget_seconds is not None
            else None
        )

        def out_of_time() -> bool:
            return deadline is not None and self.clock() >= deadline

        def out_of_listing_time() -> bool:
            return listing_deadline is not None and self.clock() >= listing_deadline

        def finish() -> None:
            lambda_calls = self._lambda_calls.snapshot().minus(lambda_before)
            report.calls_by_operation = lambda_calls.calls
            report.throttled_by_operation = lambda_calls.throttled
            report.stepfunctions_calls = self._sfn_calls.snapshot().minus(sfn_before).calls
            report.getfunction_calls = self._getfunction_calls.snapshot().minus(gf_before).calls
            report.paced_seconds = self.limiter.waited_seconds - waited_before
            report.duration_seconds = self.clock() - started

        try:
            self._known = {pin.key.id: pin for pin in self.ledger.list_pins(open_only=False)}
            self._imagined = {}
            self._accounts_seen = set()
            covered: set[str] = set()
            listing_done = self._phase_one(
                report, covered, progress, start_marker, out_of_listing_time, out_of_time,
                full=full, resume_after=resume_after,
            )  # fmt: skip
            report.covered_pins = sorted(
                covered_digest(pin.key.id)
                for pin in self._pins_to_examine()
                if pin.key.id in covered
            )
            if listing_done:
                earlier = frozenset(covered_before)
                self._orphan_phase(
                    report,
                    covered,
                    out_of_time,
                    read_before=lambda pin_id: covered_digest(pin_id) in earlier,
                )
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

    def _phase_one(
        self,
        report: ScanReport,
        covered: set[str],
        progress: Callable[[ScanReport], None] | None,
        start_marker: str | None,
        out_of_listing_time: Callable[[], bool],
        out_of_time: Callable[[], bool],
        *,
        full: bool,
        resume_after: str | None = None,
    ) -> bool:
        """Phase 1: list every function with its published versions, read each qualifier's
        RuntimeVersionArn with GetFunction (its own bucket), and spend the shared bucket as
        `screening.plan_reading` says. A full pass reads `$LATEST` (and what the ledger
        holds) as it lists — those reads need no screen, and GetFunction's calls then fall in
        the shared bucket's pauses; the outlier versions, which need the whole group's screen,
        after the listing. A screening cycle reads everything after the listing. False when it
        stopped early (out of time), with `resume_marker` set: the listing stops at
        `out_of_listing_time`, and what it listed is finished by `out_of_time` — or, if even
        that runs out, the marker goes back to the page of the first function not finished."""
        examined = self._pins_to_examine()
        held: dict[str, set[str]] = {}
        for pin in examined:
            held.setdefault(pin.key.function_arn, set()).add(pin.key.qualifier)
        pinned_arns = {pin.pinned_runtime_version_arn for pin in examined}
        runtimes: dict[str, dict[str, FunctionRuntime | None]] = {}
        nothing = Screen({})

        order: dict[str, ListedFunction | None] = {}  # each function's predecessor

        def swept() -> Iterator[ListedFunction]:
            previous: ListedFunction | None = None
            for function in self._listed(start_marker, resume_after):
                order[function.function_arn] = previous
                previous = function
                runtimes[function.function_arn] = self._runtimes_of(function)
                yield function

        def resume_at(function: ListedFunction) -> None:
            """Stop before `function`: continue at its page, after the function before it
            when that one was on the same page (done: this invocation finished it)."""
            report.resume_marker = function.page_marker or ""
            before = order.get(function.function_arn)
            same_page = before is not None and before.page_marker == function.page_marker
            report.resume_after = before.function_arn if same_page and before else None

        def reading(function: ListedFunction, screen: Screen, *, latest: bool) -> Reading:
            arn = function.function_arn
            return plan_reading(
                function.versions, runtimes.get(arn, {}), screen, full=latest,
                held=held.get(arn, ()),
            )  # fmt: skip

        listed: list[ListedFunction] = []
        if full:  # `$LATEST` and the ledger's qualifiers now, as they are listed

            def first(function: ListedFunction) -> FunctionResult:
                listed.append(function)
                planned = reading(function, nothing, latest=True)
                return self.reconcile_function(function, replace(planned, if_routed=()))

            done = self._read_functions(
                swept(), first, report, covered, progress, out_of_listing_time, resume_at
            )
        else:
            for function in swept():
                if out_of_listing_time():
                    resume_at(function)
                    break
                listed.append(function)
            done = report.resume_marker is None
        screen = Screen.of(
            (
                runtime
                for arn, by_qualifier in runtimes.items()
                if arn not in held and (runtime := by_qualifier.get(LATEST)) is not None
            ),
            pinned_arns,
        )
        report.current_runtime_versions = {
            f"{runtime}/{arch}": arn for (runtime, arch), arn in sorted(screen.current.items())
        }
        if full:  # then the outlier versions, an alias routing to them (the screen is known)
            outliers = [
                (function, planned)
                for function in listed
                if (planned := reading(function, screen, latest=True)).if_routed
            ]
            again = self._read_functions(
                (f for f, _ in outliers),
                lambda f: self.reconcile_function(
                    f, Reading(latest=False, if_routed=dict(outliers)[f].if_routed)
                ),
                report, covered, progress, out_of_time, resume_at, again=True,
            )  # fmt: skip
            return done and again

        def screened(function: ListedFunction) -> FunctionResult:
            if not function.has_managed_runtime:
                return self.reconcile_function(function)
            planned = reading(function, screen, latest=False)
            if planned.reads_nothing:
                return FunctionResult(
                    function.function_arn,
                    function.name,
                    screened="on its runtime's current version",
                )
            return self.reconcile_function(function, planned)

        read = self._read_functions(
            listed, screened, report, covered, progress, out_of_time, resume_at
        )
        return done and read

    def _listed(
        self, start_marker: str | None, resume_after: str | None = None
    ) -> Iterator[ListedFunction]:
        """The listing, noting the accounts it shows (phases 2 and 3 keep to them). With
        `resume_after` (a function ARN), the first page's functions up to it are left out (an
        earlier invocation finished them); not on that page any more, none is (read twice,
        never missed)."""
        listing: Iterator[ListedFunction] = list_functions(
            self.lambda_control, start_marker=start_marker
        )
        if resume_after:
            first_page: list[ListedFunction] = []
            following: list[ListedFunction] = []
            for function in listing:
                if function.page_marker != start_marker:
                    following.append(function)
                    break
                first_page.append(function)
            arns = [function.function_arn for function in first_page]
            if resume_after in arns:
                first_page = first_page[arns.index(resume_after) + 1 :]
            listing = chain(first_page, following, listing)
        for function in listing:
            self._accounts_seen.add(function.function_arn.split(":")[4])
            yield function

    def _runtimes_of(self, function: ListedFunction) -> dict[str, FunctionRuntime | None]:
        """GetFunction's view of `$LATEST` and each published version; none for an image
        function, None where there was no answer (that qualifier then counts as an outlier)."""
        if not function.has_managed_runtime:
            return {}
        found: dict[str, FunctionRuntime | None] = {}
        for qualifier in (LATEST, *function.versions):
            try:
                found[qualifier] = self.lambda_control.function_runtime(
                    function.function_arn, None if qualifier == LATEST else qualifier
                )
            except TransientAwsError:
                found[qualifier] = None
        return found

    def _read_functions(
        self,
        functions: Iterable[ListedFunction],
        reconcile: Callable[[ListedFunction], FunctionResult],
        report: ScanReport,
        covered: set[str],
        progress: Callable[[ScanReport], None] | None,
        out_of_time: Callable[[], bool],
        resume_at: Callable[[ListedFunction], None],
        *,
        again: bool = False,
    ) -> bool:
        """Phase 1's one loop: `reconcile` each function in turn, fold its result into the
        report and the qualifiers covered (phase 2 reads the rest). False when it stopped early
        (out of time), with `resume_marker` set to the page of the first function not done.
        `again`: a second read of functions already counted (their outlier versions).
        `MAX_CONSECUTIVE_FAILURES` functions failing in a row stop the scan (raised)."""
        failures = 0
        for function in functions:
            if out_of_time():
                resume_at(function)
                return False
            result = reconcile(function)
            covered.update(PinKey(function.function_arn, q).id for q in result.qualifiers)
            report.add_function(result, again=again)
            failures = failures + 1 if result.error else 0
            if failures >= MAX_CONSECUTIVE_FAILURES:
                raise TransientAwsError(
                    f"{failures} functions in a row failed, the last with: {result.error}"
                )
            if progress is not None:
                progress(report)
        return True

    # ------------------------------------------------------------------ one function
    def reconcile_function(
        self, function: ListedFunction, reading: Reading | None = None
    ) -> FunctionResult:
        """Phase 1 for one function: read the qualifiers `reading` names (None: every one —
        `$LATEST` and each version an alias routes to) and reconcile each.

        Whatever fails for one function (throttling, a conflict, a 5xx, a refusal) is recorded
        on its result, not raised, so one bad function does not cost the other thousands their
        scan; `MAX_CONSECUTIVE_FAILURES` in a row stop the scan (the account is unwell).
        """
        result = FunctionResult(function.function_arn, function.name)
        before = self._lambda_calls.snapshot()
        try:
            if not function.has_managed_runtime:
                result.skipped = f"package type {function.package_type}"
                return result
            if reading is None:
                versions = alias_versions(self.lambda_control, function.function_arn)
                result.qualifiers = [LATEST, *versions]
            else:
                routed: set[str] = set()
                if reading.if_routed:
                    routed = set(alias_versions(self.lambda_control, function.function_arn))
                wanted = {*reading.versions, *(v for v in reading.if_routed if v in routed)}
                result.qualifiers = [
                    *([LATEST] if reading.latest else []),
                    *sorted(wanted, key=int),
                ]
            for qualifier in result.qualifiers:
                key = PinKey(function.function_arn, qualifier)
                live = self.lambda_control.runtime_setting(key)
                result.outcomes.append(self.reconcile(key, live))
        except Exception as error:
            result.error = f"{type(error).__name__}: {error}"
        finally:
            result.calls = self._lambda_calls.snapshot().minus(before)
        return result

    def _known_pin(self, pin_id: str) -> Pin | None:
        """The ledger item as of the scan's start — in a dry run, as its own earlier outcomes
        would have left it."""
        if self._dry_run and pin_id in self._imagined:
            return self._imagined[pin_id]
        return self._known.get(pin_id)

    def reconcile(self, key: PinKey, live: RuntimeSetting | None) -> QualifierOutcome:
        """Make the ledger agree with one already-read live setting."""
        pin = self._known_pin(key.id)
        if pin is not None and canary_in_flight(pin):
            repaired = self._repair_canary(pin)
            if repaired is not None:
                return repaired
        latest = self._known_pin(PinKey(key.function_arn).id) if needs_latest_pin(key) else None
        expected = predict(key, pin, live, latest)
        if self._dry_run:
            opted_out = self._opted_out(key, pin, live, expected)
            if opted_out is not None:
                return opted_out
            updated = imagined(key, pin, live, expected)
            if updated is not None:
                self._imagined[key.id] = updated
            return expected
        resumed = expected.action == "resumed" and pin is not None and self._resume(pin)
        observation = self.tracker.observe(key, actor=self.actor, source=SOURCE, setting=live)
        if resumed and observation.action in {"already_open", "repinned"}:
            return QualifierOutcome(key.id, "resumed", observation.stage)
        return QualifierOutcome(key.id, observation.action, observation.stage)

    def _opted_out(
        self,
        key: PinKey,
        pin: Pin | None,
        live: RuntimeSetting | None,
        expected: QualifierOutcome,
    ) -> QualifierOutcome | None:
        """A dry run's "opened" (or "resumed") for a function that carries the opt-out tag:
        the real run reads the tags before it opens anything (`Tracker.observe`) and only
        records the pin as opted out, so the dry run reads them too (one ListTags, as the
        real run spends). None: not opted out."""
        if expected.action not in {"opened", "resumed"}:
            return None
        tags = self.tracker.lambda_control.tags(key.function_arn)
        reason = self.tracker.policy.tags.opt_out_reason(tags)
        if reason is None:
            return None
        arn = (live.pinned_runtime_version_arn or "") if live is not None else ""
        if pin is None or pin.stage is not Stage.OPTED_OUT or pin.pinned_runtime_version_arn != arn:
            self._imagined[key.id] = Pin(
                key=key,
                generation=0,
                stage=Stage.OPTED_OUT,
                first_seen=utc_now(),
                pinned_runtime_version_arn=arn,
                pinned_by=self.actor,
            )
        return QualifierOutcome(key.id, "opted_out", str(Stage.OPTED_OUT))

    def _repair_canary(self, pin: Pin) -> QualifierOutcome | None:
        """A canary is in flight on this pin: if its execution is no longer running, nothing
        will ever finish or roll it back — restore the function now (the canary's own
        rollback), then reconcile what is live afterwards. None: the canary is alive (leave it
        to its execution) or no repair is wired."""
        status = self._execution_status(pin.execution_arn)
        if status in LIVE_STATUSES or self.canary_repair is None:
            return None
        if self._dry_run:
            self._imagined[pin.key.id] = restored(pin)
            return QualifierOutcome(pin.key.id, "restored", str(Stage.TRACKING))
        fresh = self.ledger.get(pin.key)  # the scan's snapshot may be minutes old
        if fresh is None or not canary_in_flight(fresh) or fresh.execution_arn != pin.execution_arn:
            return None  # the canary moved on meanwhile: reconcile as usual
        reason = f"its execution {status.lower()} mid-canary; restored by the reconciling scan"
        after = self.canary_repair.restore(fresh, reason)
        self._known[pin.key.id] = after
        self.tracker.audit.record(
            AuditEvent.SCAN,
            pin_id=pin.key.id,
            actor=self.actor,
            action="canary_restored",
            execution_arn=pin.execution_arn,
            execution_status=status,
        )
        # The rollback changed the live settings: read them again (a human may have lifted).
        observation = self.tracker.observe(pin.key, actor=self.actor, source=SOURCE)
        stage = observation.stage or str(after.stage)
        return QualifierOutcome(pin.key.id, "restored", stage)

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
        self,
        report: ScanReport,
        covered: set[str],
        out_of_time: Callable[[], bool],
        *,
        read_before: Callable[[str], bool] = lambda pin_id: False,
    ) -> None:
        """Pins the listing did not reach (deleted functions or versions, an alias moved off a
        pinned version) — failed pins and unfinished canaries included — read once each.
        `read_before`: the pins an earlier invocation of this cycle's listing reached."""
        for pin in self._pins_to_examine():
            if pin.key.id in covered or read_before(pin.key.id):
                continue
            if out_of_time():
                return
            try:
                live = self.lambda_control.runtime_setting(pin.key)
                report.qualifiers_checked += 1
                report.add_outcome(self.reconcile(pin.key, live))
            except TransientAwsError:
                raise
            except Exception as error:
                report.errors[pin.key.id] = f"{type(error).__name__}: {error}"

    # ------------------------------------------------------------------ phase 3
    def _execution_phase(self, report: ScanReport, out_of_time: Callable[[], bool]) -> None:
        if self.executions is None:
            return
        if self._dry_run:  # the ledger as the real run would have left it for these pins
            view = dict(self._known)
            changed = [*report.resumed, *report.restored]
            view.update({i: self._imagined[i] for i in changed if i in self._imagined})
            pins = self._mine([pin for pin in view.values() if pin.is_open])
        else:
            pins = self._mine(self.ledger.list_pins(open_only=True))
        running = self.executions.running()
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
            if canary_in_flight(pin):
                report.stalled[pin.key.id] = (
                    f"canary in flight, execution {status.lower()}: not restored"
                )
                continue
            if stage not in RESTARTABLE_STAGES:
                report.stalled[pin.key.id] = f"stage {stage}, execution {status.lower()}"
                continue
            # A pin this scan resumed or restored is due a new execution whatever ended the
            # last one; otherwise only a dead one is restarted (succeeded: a human's call).
            revived = resumed or pin.key.id in report.restored
            if status not in DEAD_STATUSES and status != GONE and not revived:
                report.stalled[pin.key.id] = f"execution {status.lower()} with the pin open"
                continue
            if self._dry_run:
                report.restarted[pin.key.id] = f"(would restart: execution {status.lower()})"
                continue
            try:
                report.restarted[pin.key.id] = self.restart_tracking(pin, status)
            except TransientAwsError:
                raise
            except Exception as error:
                report.errors[pin.key.id] = f"restart: {type(error).__name__}: {error}"

    def restart_tracking(self, pin: Pin, previous_status: str = GONE) -> str:
        """Start a tracking execution for this episode again; returns its ARN (recorded in the
        ledger). See "Restart naming" in the package docstring."""
        assert self.executions is not None
        document = WorkflowState(pin.key.id, pin.generation).to_dict()
        first = next_attempt(pin)
        arn = ""
        for attempt in range(first, first + RESTART_PROBES):
            # Starting a name that exists answers that execution (Executions.start): running,
            # it is adopted (another scan or detection started it); ended, try the next name.
            started = self.executions.start(restart_name(pin, attempt), document)
            if self._execution_status(started) in LIVE_STATUSES:
                arn = started
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

    def _execution_status(self, execution_arn: str) -> str:
        if not execution_arn or self.executions is None:
            return GONE
        info = self.executions.describe(execution_arn)
        return GONE if info is None else info.status

    # ------------------------------------------------------------------ helpers
    def _mine(self, pins: list[Pin]) -> list[Pin]:
        """This scan's region and account(s) only: a ledger shared by several accounts must
        never have one account's pins closed as deleted by another account's scan."""
        accounts = {self.account_id} if self.account_id else self._accounts_seen
        return [
            pin
            for pin in pins
            if (not self.region or pin.key.region == self.region)
            and (not accounts or pin.key.account in accounts)
        ]

    def _pins_to_examine(self) -> list[Pin]:
        """Open pins, failed ones (re-examined, never skipped) and any with a canary in flight."""
        return self._mine(
            [
                pin
                for pin in self._known.values()
                if pin.is_open or pin.stage is Stage.FAILED or canary_in_flight(pin)
            ]
        )

    def _audit(self, report: ScanReport) -> None:
        if not report.dry_run:
            self.tracker.audit.record(AuditEvent.SCAN, actor=self.actor, **report.summary())


__all__ = ["CanaryRepair", "Scanner"]
