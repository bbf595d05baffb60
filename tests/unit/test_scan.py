"""The reconciling scan's decisions on in-memory fakes of its ports (tests/unit/scan_fakes.py):
missed pins, lifted, deleted, dead executions, the resume marker, throttling and faults, failed
pins, dead canaries and the canary's own baseline pin. The same scenarios run end to end on the
emulator in tests/e2e/test_scan.py; here each takes milliseconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from rollforward.clock import utc_now
from rollforward.detection.observation import CANARY_IN_FLIGHT
from rollforward.escalation.tracking import Tracker
from rollforward.ledger import Pin, Stage
from rollforward.model import LATEST, PinKey, UpdateMode
from rollforward.policy import Policy
from rollforward.ratelimit import CallCounter, TokenBucket
from rollforward.scan import Scanner, ScanReport
from rollforward.scan.cycle import ScanCycle, ScanTarget, TargetProgress
from rollforward.transient import Transient

from tests.unit.scan_fakes import (
    NEW,
    OLD,
    FakeAudit,
    FakeCanaryRepair,
    FakeExecutions,
    FakeLambda,
    FakeLedger,
    FakeNotifier,
    function_arn,
    throttled,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Account:
    lam: FakeLambda
    executions: FakeExecutions
    ledger: FakeLedger
    audit: FakeAudit
    notifier: FakeNotifier
    repair: FakeCanaryRepair
    limiter: TokenBucket
    clock: FakeClock

    def scanner(self, **kwargs: Any) -> Scanner:
        tracker = Tracker(
            ledger=self.ledger,
            lambda_control=self.lam,
            executions=self.executions,
            notifier=self.notifier,  # type: ignore[arg-type]
            audit=self.audit,  # type: ignore[arg-type]
            policy=Policy.default(),
        )
        return Scanner(
            self.lam,
            tracker,
            self.ledger,
            self.executions,
            self.limiter,
            canary_repair=kwargs.pop("canary_repair", self.repair),
            lambda_calls=self.lam.counter,
            sfn_calls=self.executions.counter,
            getfunction_calls=self.lam.getfunction_counter,
            clock=self.clock,
            region="eu-west-1",
            **kwargs,
        )

    def scan(self, **kwargs: Any) -> ScanReport:
        return self.scanner().scan(**kwargs)

    def pin(self, name: str, qualifier: str = LATEST) -> Pin:
        pin = self.ledger.get(PinKey(function_arn(name), qualifier))
        assert pin is not None, f"no ledger item for {name}:{qualifier}"
        return pin

    def track(self, name: str, *, qualifier: str = LATEST, stage: Stage = Stage.TRACKING,
              arn: str = OLD, running: bool = True, **fields: Any) -> Pin:  # fmt: skip
        """A ledger item as detection would have left it, with its tracking execution."""
        pin = Pin(
            key=PinKey(function_arn(name), qualifier),
            generation=1,
            stage=stage,
            first_seen=utc_now() - timedelta(days=2),
            pinned_runtime_version_arn=arn,
            pinned_by="arn:aws:iam::123456789012:user/pinner",
            **fields,
        )
        pin.execution_arn = self.executions.arn(pin.execution_name)
        if running:
            self.executions.start(pin.execution_name, {"pin_id": pin.key.id, "generation": 1})
        return self.ledger.put(pin)


@pytest.fixture
def account() -> Account:
    clock = FakeClock()
    limiter = TokenBucket(3.0, clock=clock, sleep=clock.sleep)
    lam = FakeLambda(limiter=limiter, counter=CallCounter())
    ledger = FakeLedger()
    return Account(
        lam, FakeExecutions(), ledger, FakeAudit(), FakeNotifier(),
        FakeCanaryRepair(lam, ledger), limiter, clock,
    )  # fmt: skip


def in_flight(baseline: str = "1", before: str = "Auto") -> dict[str, Any]:
    """The record a canary writes before it changes anything (canary_in_flight)."""
    return {
        "strategy": "alias",
        "alias": "live",
        "baseline_version": baseline,
        "candidate_version": "2",
        "pinned_arn": OLD,
        "baseline_setting": {"UpdateRuntimeOn": before, "RuntimeVersionArn": ""},
    }


# --------------------------------------------------------------------------- detection misses
def test_a_pin_no_event_announced_is_opened_with_its_tracking_execution(account: Account) -> None:
    account.lam.add("quiet")
    account.lam.add("pinned", pinned=OLD)

    report = account.scan()

    assert report.complete and not report.errors
    assert report.opened == [PinKey(function_arn("pinned")).id]
    pin = account.pin("pinned")
    assert pin.stage is Stage.TRACKING and pin.pinned_runtime_version_arn == OLD
    assert account.executions.status[pin.execution_arn] == "RUNNING"


def test_a_pin_lifted_elsewhere_is_closed_as_lifted_and_its_execution_stopped(
    account: Account,
) -> None:
    account.lam.add("lifted")
    pin = account.track("lifted")

    report = account.scan()

    assert report.closed == {pin.key.id: "lifted"}
    assert account.pin("lifted").stage is Stage.LIFTED
    assert account.executions.status[pin.execution_arn] == "ABORTED"


def test_a_deleted_functions_pin_is_closed_as_deleted_by_the_orphan_phase(
    account: Account,
) -> None:
    account.lam.add("other")
    pin = account.track("gone")  # in the ledger, no longer in the account

    report = account.scan()

    assert report.closed == {pin.key.id: "deleted"}
    assert account.pin("gone").stage is Stage.DELETED


def test_a_pinned_version_behind_an_alias_is_its_own_pin(account: Account) -> None:
    account.lam.add("aliased", versions={"3": OLD}, alias_to="3")

    report = account.scan()

    assert report.opened == [PinKey(function_arn("aliased"), "3").id]
    assert report.qualifiers_checked == 2
    assert report.calls_by_operation["ListAliases"] == 1  # its version is an outlier


def test_a_full_pass_lists_no_aliases_of_functions_whose_versions_are_current(
    account: Account,
) -> None:
    account.lam.add("plain")  # no published version: no alias can route to one
    account.lam.add("aliased", versions={"1": None, "2": None}, alias_to="2")  # Auto: current

    report = account.scan()

    assert "ListAliases" not in report.calls_by_operation
    assert report.calls_by_operation["GetRuntimeManagementConfig"] == 2  # each $LATEST
    assert report.getfunction_calls == {"GetFunction": 4}  # $LATEST and versions: own bucket


def test_a_version_pinned_on_the_newest_runtime_is_read_once_it_falls_behind(
    account: Account,
) -> None:
    # Nothing to roll forward to yet: even a full pass screens it (rollforward.scan.screening).
    account.lam.add("auto")
    account.lam.add("frozen", versions={"3": NEW}, alias_to="3")
    assert account.scan().opened == []
    NEWER = NEW.replace("b" * 64, "c" * 64)
    for function in account.lam.functions.values():
        function.running = NEWER  # AWS releases a version; Auto qualifiers move to it

    report = account.scan()

    assert report.opened == [PinKey(function_arn("frozen"), "3").id]


def test_a_second_scan_changes_nothing(account: Account) -> None:
    account.lam.add("pinned", pinned=OLD)
    account.lam.add("aliased", versions={"3": OLD}, alias_to="3")
    account.scan()

    second = account.scan()

    assert (second.opened, second.closed, second.restarted, second.restored) == ([], {}, {}, [])
    assert second.pinned_qualifiers == 2


# --------------------------------------------------------------------------- executions
def test_an_open_pin_whose_execution_died_gets_tracking_restarted_on_the_same_generation(
    account: Account,
) -> None:
    account.lam.add("stopped", pinned=OLD)
    pin = account.track("stopped")
    account.executions.end(pin.execution_arn, "ABORTED")

    report = account.scan()

    restarted = report.restarted[pin.key.id]
    assert restarted.endswith(f"{pin.execution_name}-r1")
    assert account.executions.status[restarted] == "RUNNING"
    assert account.executions.inputs[restarted]["generation"] == pin.generation
    assert account.pin("stopped").execution_arn == restarted


def test_a_restart_name_taken_by_an_ended_execution_moves_to_the_next(account: Account) -> None:
    account.lam.add("twice", pinned=OLD)
    pin = account.track("twice")
    account.executions.end(pin.execution_arn, "FAILED")
    account.executions.end(account.executions.arn(f"{pin.execution_name}-r1"), "FAILED")

    report = account.scan()

    assert report.restarted[pin.key.id].endswith("-r2")


def test_an_approved_pin_with_a_dead_execution_is_reported_stalled_not_restarted(
    account: Account,
) -> None:
    account.lam.add("approved", pinned=OLD)
    pin = account.track("approved", stage=Stage.APPROVED)
    account.executions.end(pin.execution_arn, "TIMED_OUT")

    report = account.scan()

    assert pin.key.id in report.stalled and not report.restarted


# --------------------------------------------------------------------------- budget and faults
def test_out_of_time_the_scan_stops_between_functions_and_resumes_from_the_marker(
    account: Account,
) -> None:
    for index in range(120):
        account.lam.add(f"fn-{index:03d}", pinned=OLD if index % 10 == 0 else None)
    # 3 req/s: each function costs 1 shared-bucket call; 10 s is about 30 functions.
    first = account.scan(time_budget_seconds=10)

    assert not first.complete and first.resume_marker == ""  # still on page one
    rest = account.scan(start_marker=first.resume_marker or None)
    assert rest.complete
    assert len(account.ledger.list_pins()) == 12


def test_a_resumed_scan_does_not_read_again_the_pins_its_earlier_invocations_read(
    account: Account,
) -> None:
    """The child of the scan's machine carries `covered_pins` from invocation to invocation:
    the invocation that finishes the listing runs phase 2 on the pins no invocation reached."""
    for index in range(120):
        account.lam.add(f"fn-{index:03d}", pinned=OLD if index % 10 == 0 else None)
    account.scan()  # the pins are known
    account.lam.delete("fn-110")  # deleted: only phase 2 can close its pin
    first = account.scan(time_budget_seconds=30)  # listing 20 s, ~60 functions: page two
    assert not first.complete and first.resume_marker == "50"
    assert len(first.covered_pins) == 6  # fn-000 ... fn-050, as digests

    def orphan_reads(report: ScanReport) -> int:
        return report.qualifiers_checked - report.functions_seen + report.functions_skipped

    assert first.resume_after == function_arn(f"fn-{first.functions_seen - 1:03d}")
    rest = account.scan(
        start_marker=first.resume_marker,
        covered_before=first.covered_pins,
        resume_after=first.resume_after,
    )
    assert rest.complete and PinKey(function_arn("fn-110")).id in rest.closed
    # The rest of the page, not the page again: every function read once between the two.
    assert first.functions_seen + rest.functions_seen == 119
    assert orphan_reads(rest) == 1  # fn-110's pin; the page-one pins were read by `first`

    # Not told which pins `first` read: fn-000 ... fn-050 read again (fn-110's is closed now).
    blind = account.scan(start_marker=first.resume_marker, resume_after=first.resume_after)
    assert orphan_reads(blind) == 6
    assert rest.control_plane_calls == blind.control_plane_calls - (6 - 1)


def test_a_full_pass_in_short_invocations_finishes_and_reads_every_outlier_version(
    account: Account,
) -> None:
    """As the scan's machine runs a large target: invocations resumed from their marker. Each
    one finishes what it listed (the outlier versions) before the next continues past it, so
    the pass ends, every routed outlier read; had the listing taken all the time, the next
    invocation would restart at the page of the first unread outlier, again and again."""
    for index in range(400):
        old = index % 4 == 0
        account.lam.add(f"fn-{index:03d}", versions={"1": OLD if old else None},
                        alias_to="1" if old else None)  # fmt: skip
    progress = TargetProgress(
        cycle=ScanCycle(id="2026-12-02T05:00:00Z", full=True),
        target=ScanTarget(account="123456789012", region="eu-west-1"),
    )
    while not progress.complete and progress.invocations < 12:
        report = account.scan(
            start_marker=progress.marker, time_budget_seconds=120, covered_before=progress.covered
        )
        progress = progress.after(report.summary(), report.covered_pins)

    assert progress.complete, progress
    versions = [p for p in account.ledger.list_pins() if p.key.qualifier == "1"]
    assert len(versions) == 100  # every alias-routed version left on the old runtime


def test_the_resume_marker_names_the_page_the_scan_stopped_on(account: Account) -> None:
    for index in range(120):
        account.lam.add(f"fn-{index:03d}")
    scanner = account.scanner()
    report = scanner.scan(time_budget_seconds=30)  # listing 20 s, ~60 functions: page two

    assert report.resume_marker == "50"
    assert not report.complete and 50 <= report.functions_seen < 100


def test_the_scan_keeps_within_its_budget(account: Account) -> None:
    for index in range(60):
        account.lam.add(f"fn-{index:03d}", pinned=OLD if index % 6 == 0 else None)

    report = account.scan()

    # Paced before sending: calls over the fake clock never beat 3 req/s (+1 burst token).
    assert report.control_plane_calls <= 3.0 * report.duration_seconds + 1
    assert "ListAliases" not in report.calls_by_operation  # no published versions
    assert report.calls_by_operation["GetRuntimeManagementConfig"] == 60
    assert report.calls_by_operation["ListTags"] == 10  # one per newly opened pin


def test_a_throttled_function_is_recorded_and_the_others_are_scanned(account: Account) -> None:
    account.lam.add("a-first", pinned=OLD)
    account.lam.add("b-second", pinned=OLD)
    account.lam.arm("GetRuntimeManagementConfig", throttled("GetRuntimeManagementConfig"))

    report = account.scan()

    assert list(report.errors) == [function_arn("a-first")]
    assert "Transient" in report.errors[function_arn("a-first")]
    assert report.opened == [PinKey(function_arn("b-second")).id]
    assert account.scan().opened == [PinKey(function_arn("a-first")).id]  # the next one does


def test_five_failures_in_a_row_stop_the_scan_and_audit_the_partial_report(
    account: Account,
) -> None:
    for index in range(8):
        account.lam.add(f"fn-{index}")
    account.lam.arm(
        "GetRuntimeManagementConfig",
        *(throttled("GetRuntimeManagementConfig") for _ in range(5)),
    )

    with pytest.raises(Transient):
        account.scan()

    scans = [r for r in account.audit.records if r.event == "scan" and r.pin_id is None]
    assert scans and scans[-1].details["errors"]["scan"].startswith("aborted")


def test_a_throttled_listing_aborts_the_scan(account: Account) -> None:
    account.lam.add("fn")
    account.lam.arm("ListFunctions", throttled("ListFunctions"))

    with pytest.raises(Transient):
        account.scan()


# --------------------------------------------------------------------------- failed pins
def test_a_failed_pin_still_pinned_resumes_on_the_same_generation(account: Account) -> None:
    account.lam.add("tripped", pinned=OLD)
    pin = account.track("tripped", stage=Stage.FAILED, running=False, outcome={"result": "failed"})
    account.executions.end(pin.execution_arn, "SUCCEEDED")

    report = account.scan()

    assert report.resumed == [pin.key.id] and pin.key.id in report.restarted
    resumed = account.pin("tripped")
    assert (resumed.stage, resumed.generation, resumed.outcome) == (Stage.TRACKING, 1, {})


def test_a_failed_pin_lifted_meanwhile_is_closed_not_skipped(account: Account) -> None:
    account.lam.add("tripped-then-lifted")
    pin = account.track("tripped-then-lifted", stage=Stage.FAILED, running=False)

    report = account.scan()

    assert report.closed == {pin.key.id: "lifted"}


def test_a_failed_pin_of_a_deleted_function_is_closed_as_deleted(account: Account) -> None:
    account.lam.add("other")
    pin = account.track("tripped-then-deleted", stage=Stage.FAILED, running=False)

    report = account.scan()

    assert report.closed == {pin.key.id: "deleted"}


# --------------------------------------------------------------------------- dead canaries
def _dead_canary(account: Account, stage: Stage, status: str = "ABORTED") -> Pin:
    """A canary that died mid-way: alias weighted, `$LATEST` FunctionUpdate, version 1 pinned
    by the canary itself, its execution ended."""
    account.lam.add("canaried", versions={"1": OLD, "2": None}, alias_to="1")
    account.lam.functions["canaried"].aliases[0] = (
        account.lam.functions["canaried"].aliases[0].__class__("live", "1", ("2",))
    )
    account.lam.set_mode("canaried", LATEST, UpdateMode.FUNCTION_UPDATE)
    pin = account.track("canaried", stage=stage, evidence={CANARY_IN_FLIGHT: in_flight()})
    account.executions.end(pin.execution_arn, status)
    return pin


@pytest.mark.parametrize("status", ["ABORTED", "FAILED", "TIMED_OUT"])
def test_a_canary_whose_execution_died_is_restored_then_tracked_again(
    account: Account, status: str
) -> None:
    pin = _dead_canary(account, Stage.CANARY, status)

    report = account.scan()

    assert report.restored == [pin.key.id]
    assert [reason for _, reason in account.repair.restored] == [
        f"its execution {status.lower()} mid-canary; restored by the reconciling scan"
    ]
    after = account.pin("canaried")
    assert after.stage is Stage.TRACKING and CANARY_IN_FLIGHT not in after.evidence
    assert pin.key.id in report.restarted  # and the ladder goes on
    assert report.opened == []  # not the baseline version the canary pinned
    assert "canary_restored" in account.audit.actions(pin.key.id)


def test_a_failed_pin_with_a_canary_in_flight_is_restored_not_closed_as_lifted(
    account: Account,
) -> None:
    pin = _dead_canary(account, Stage.FAILED, "SUCCEEDED")

    report = account.scan()

    assert report.restored == [pin.key.id] and report.closed == {}
    assert account.lam.functions["canaried"].settings[LATEST] == (UpdateMode.MANUAL, OLD)


def test_a_running_canary_is_left_to_its_execution(account: Account) -> None:
    account.lam.add("canarying", versions={"1": OLD}, alias_to="1")
    account.lam.set_mode("canarying", LATEST, UpdateMode.FUNCTION_UPDATE)
    account.track("canarying", stage=Stage.CANARY, evidence={CANARY_IN_FLIGHT: in_flight()})

    report = account.scan()

    assert report.restored == [] and report.closed == {} and report.opened == []
    assert account.repair.restored == []


def test_a_restore_that_fails_is_an_error_and_the_next_scan_tries_again(account: Account) -> None:
    pin = _dead_canary(account, Stage.CANARY)
    account.repair.failures.append(throttled("UpdateAlias"))

    first = account.scan()
    second = account.scan()

    assert function_arn("canaried") in first.errors and first.restored == []
    assert second.restored == [pin.key.id]


def test_without_a_repair_wired_a_dead_canary_is_reported_stalled(account: Account) -> None:
    pin = _dead_canary(account, Stage.CANARY)

    report = account.scanner(canary_repair=None).scan()

    assert "canary in flight" in report.stalled[pin.key.id]
    assert report.closed == {} and report.opened == []


def test_the_baseline_version_the_canary_pinned_is_never_opened_as_a_pin(
    account: Account,
) -> None:
    # The canary died with its rollback unfinished ($LATEST still FunctionUpdate, version 1
    # pinned by the canary); the $LATEST pin is `failed`; nothing restores it in this scan.
    account.lam.add("half-rolled", versions={"1": OLD}, alias_to="1")
    account.lam.set_mode("half-rolled", LATEST, UpdateMode.FUNCTION_UPDATE)
    account.track(
        "half-rolled", stage=Stage.FAILED, running=False, evidence={CANARY_IN_FLIGHT: in_flight()}
    )

    report = account.scanner(canary_repair=None).scan()

    assert report.opened == [] and report.closed == {}


def test_a_version_pinned_before_the_canary_is_still_a_human_pin(account: Account) -> None:
    account.lam.add("human", versions={"1": OLD}, alias_to="1")
    account.track(
        "human",
        stage=Stage.LIFTED,
        running=False,
        evidence={CANARY_IN_FLIGHT: in_flight(before="Manual")},
    )

    report = account.scanner(canary_repair=None).scan()

    assert PinKey(function_arn("human"), "1").id in report.opened


# --------------------------------------------------------------------------- the dry run
def test_a_dry_run_predicts_the_real_run_and_changes_nothing(account: Account) -> None:
    account.lam.add("missed", pinned=OLD)
    account.lam.add("lifted")
    account.track("lifted")
    account.track("deleted")
    account.lam.add("stopped", pinned=OLD)
    account.executions.end(account.track("stopped").execution_arn)
    account.lam.add("tripped", pinned=OLD)
    account.track("tripped", stage=Stage.FAILED, running=False)
    _dead_canary(account, Stage.CANARY)
    before = {k: (p.stage, p.execution_arn) for k, p in account.ledger.stored().items()}

    dry = account.scan(dry_run=True)
    assert {k: (p.stage, p.execution_arn) for k, p in account.ledger.stored().items()} == before
    assert account.repair.restored == []
    real = account.scan()

    for field in ("opened", "closed", "resumed", "restored", "repinned"):
        assert getattr(dry, field) == getattr(real, field), field
    assert set(dry.restarted) == set(real.restarted)
    assert dry.stalled == real.stalled


def test_a_dry_run_reads_the_opt_out_tag_as_the_real_run_does(account: Account) -> None:
    """A pinned function tagged rollforward:opt-out is only recorded as opted out by the real
    run (never tracked): the dry run must not report it as a pin it would open."""
    account.lam.add("keep-pinned", pinned=OLD)
    account.lam.functions["keep-pinned"].tags["rollforward:opt-out"] = "vendor build"
    account.lam.add("missed", pinned=OLD)

    dry = account.scan(dry_run=True)
    real = account.scan()

    opted_out = PinKey(function_arn("keep-pinned"), LATEST).id
    assert dry.opted_out == real.opted_out == [opted_out]
    assert dry.opened == real.opened == [PinKey(function_arn("missed"), LATEST).id]
    assert account.ledger.stored()[opted_out].stage is Stage.OPTED_OUT


# --------------------------------------------------------------------------- screening
def _steady_fleet(account: Account, size: int = 100) -> None:
    """`size` functions, a tenth pinned on the old runtime version (and tracked), a fifth
    behind an alias; the rest on Auto, running the newest version."""
    for index in range(size):
        name = f"fn-{index:03d}"
        pinned = OLD if index % 10 == 0 else None
        account.lam.add(
            name, pinned=pinned, versions={"1": None}, alias_to="1" if index % 5 == 1 else None
        )
        if pinned:
            account.track(name)


def test_a_screening_cycle_spends_the_shared_bucket_only_on_what_the_ledger_holds(
    account: Account,
) -> None:
    _steady_fleet(account)

    report = account.scan(full=False)

    assert report.complete and not report.full and not report.errors
    assert report.functions_screened == 90
    # ListFunctions (4 pages: 100 functions, 100 versions) and one
    # GetRuntimeManagementConfig per tracked pin.
    assert report.calls_by_operation == {"ListFunctions": 4, "GetRuntimeManagementConfig": 10}
    assert report.control_plane_calls / report.functions_seen <= 0.2
    assert sum(report.getfunction_calls.values()) == 200  # $LATEST and version 1
    assert report.current_runtime_versions == {"python3.12/x86_64": NEW}
    assert (report.opened, report.closed) == ([], {})


def test_screening_finds_a_missed_pin_on_an_older_runtime_version(account: Account) -> None:
    _steady_fleet(account)
    account.lam.add("missed", pinned=OLD)  # no event, not in the ledger

    report = account.scan(full=False)

    assert report.opened == [PinKey(function_arn("missed")).id]


def test_screening_closes_a_tracked_pin_that_was_lifted(account: Account) -> None:
    _steady_fleet(account)
    account.lam.set_mode("fn-000", LATEST, UpdateMode.AUTO)

    report = account.scan(full=False)

    assert report.closed == {PinKey(function_arn("fn-000")).id: "lifted"}


def test_a_mass_pin_on_the_majority_version_is_an_outlier_once_one_pin_is_known(
    account: Account,
) -> None:
    # After a bad release most of the group is pinned back to OLD; detection saw one pin.
    for index in range(10):
        account.lam.add(f"fn-{index}", pinned=OLD if index < 7 else None)
    account.track("fn-0")

    report = account.scan(full=False)

    assert len(report.opened) == 6  # the other six: OLD is a pinned ARN, never current


def test_without_a_known_pin_screening_misses_a_majority_pin_until_the_full_pass(
    account: Account,
) -> None:
    for index in range(10):
        account.lam.add(f"fn-{index}", pinned=OLD if index < 7 else None)

    screened = account.scan(full=False)
    full = account.scan(full=True)

    assert screened.opened == []  # documented in rollforward.scan.screening
    assert len(full.opened) == 7


def test_a_function_getfunction_could_not_answer_is_read_in_full(account: Account) -> None:
    _steady_fleet(account, size=20)
    account.lam.add("aaa-throttled", pinned=OLD)
    account.lam.arm("GetFunction", throttled("GetFunction"))

    report = account.scan(full=False)

    assert report.opened == [PinKey(function_arn("aaa-throttled")).id]


def test_screening_restores_a_dead_canary(account: Account) -> None:
    pin = _dead_canary(account, Stage.CANARY)

    report = account.scan(full=False)

    assert report.restored == [pin.key.id]


def test_the_handler_runs_a_full_pass_every_n_cycles_or_when_asked() -> None:
    from rollforward.scan.screening import CYCLE_SECONDS, is_full_cycle

    every_day = {"SCAN_FULL_EVERY": "24"}
    fulls = [is_full_cycle({}, every_day, hour * CYCLE_SECONDS + 5) for hour in range(48)]
    assert sum(fulls) == 2 and fulls[0] and fulls[24]
    assert is_full_cycle({}, {}, 7 * CYCLE_SECONDS)  # unset: every cycle is full
    assert is_full_cycle({"full": True}, every_day, 7 * CYCLE_SECONDS)
    assert not is_full_cycle({"full": False}, {}, 0)
    assert is_full_cycle({"marker": "50"}, every_day, 7 * CYCLE_SECONDS)


def test_pins_on_the_only_version_in_sight_do_not_make_the_whole_group_outliers(
    account: Account,
) -> None:
    # Everyone runs NEW; a tenth is pinned on it (a freeze): the rest are screened out.
    for index in range(50):
        account.lam.add(f"fn-{index:02d}", pinned=NEW if index % 10 == 0 else None)
        if index % 10 == 0:
            account.track(f"fn-{index:02d}", arn=NEW)

    report = account.scan(full=False)

    assert report.functions_screened == 45
    assert report.calls_by_operation == {"ListFunctions": 1, "GetRuntimeManagementConfig": 5}


def test_screening_reads_an_alias_routed_version_left_on_an_older_runtime(
    account: Account,
) -> None:
    _steady_fleet(account)
    account.lam.add("zz-missed", versions={"4": OLD}, alias_to="4")  # detection missed it

    report = account.scan(full=False)

    assert report.opened == [PinKey(function_arn("zz-missed"), "4").id]
    assert report.calls_by_operation["ListAliases"] == 1  # only the function with an outlier


def test_an_outlier_version_no_alias_routes_to_costs_one_listaliases_and_no_read(
    account: Account,
) -> None:
    account.lam.add("snapshots", versions={"1": OLD})  # an old version nothing routes to

    report = account.scan()

    assert report.opened == []
    assert report.calls_by_operation["ListAliases"] == 1
    assert report.calls_by_operation["GetRuntimeManagementConfig"] == 1  # $LATEST only
