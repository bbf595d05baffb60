"""The scan cycle's contract (rollforward.scan.cycle): a child's progress over invocations, the
cycle's coverage, and the targets a deployment names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from rollforward.ports import Refused
from rollforward.scan.cycle import (
    MAX_FAILED_NAMED,
    MAX_TARGET_LINES,
    NO_OUTCOME,
    STACKSETS_PRINCIPAL,
    ChildFailure,
    CycleReport,
    ScanCycle,
    ScanPlan,
    ScanResults,
    ScanTarget,
    TargetOutcome,
    TargetProgress,
    cycle_outcomes,
    earlier_cycle,
    hub_targets,
    machine_of,
    parse_targets,
)

CYCLE = ScanCycle(id="2026-12-02T04:00:00Z", full=True)
HOME = ("123456789012", "eu-west-1")


def _summary(complete: bool, seen: int, marker: str | None = None) -> dict[str, object]:
    return {
        "complete": complete, "resume_marker": marker, "functions_seen": seen,
        "control_plane_calls": seen, "counts": {"opened": 1}, "duration_seconds": 870.0,
    }  # fmt: skip


def test_a_child_adds_up_its_invocations_and_continues_at_the_marker() -> None:
    start = TargetProgress(cycle=CYCLE, target=ScanTarget(account=HOME[0], region=HOME[1]))
    first = start.after(_summary(False, 1300, marker="page-27"), ["b" * 12, "a" * 12])
    assert (first.complete, first.marker, first.invocations) == (False, "page-27", 1)
    second = first.after(_summary(False, 1300, marker="page-53"), ["c" * 12, "a" * 12])
    assert second.covered == ["a" * 12, "b" * 12, "c" * 12]  # what phase 2 need not read
    last = second.after(_summary(True, 2400), ["d" * 12])
    assert last.covered == []  # complete: nothing to carry, the Map's results stay small
    assert (last.complete, last.marker, last.invocations) == (True, None, 3)
    assert (last.functions_seen, last.opened, last.seconds) == (5000, 3, 2610.0)


def test_the_cycle_reports_failed_targets_and_its_coverage() -> None:
    done = TargetOutcome(
        cycle=CYCLE, target=ScanTarget(account=HOME[0], region=HOME[1]), complete=True,
        functions_seen=10, seconds=30.0,
    )  # fmt: skip
    failed = TargetOutcome(
        cycle=CYCLE,
        target=ScanTarget(account="210987654321", region="us-east-1"),
        failure=ChildFailure(Error="rollforward.Refused", Cause="no member role"),
    )
    results = ScanResults(cycle=CYCLE, targets=[done.target, failed.target], results=[done, failed])

    report = CycleReport.of(results)

    assert (report.targets, report.targets_complete, report.coverage) == (2, 1, 0.5)
    assert report.targets_failed == ["210987654321/us-east-1: rollforward.Refused"]
    assert report.seconds == 30.0  # the longest child: children run at once


THIS_CYCLE = "arn:aws:states:eu-west-1:123456789012:execution:Rollforward-scan:now"


def _target(index: int) -> ScanTarget:
    return ScanTarget(account=f"{index:012d}", region="eu-west-1")


def test_a_target_without_this_cycles_record_is_failed_never_counted_as_scanned() -> None:
    plan = ScanPlan(cycle=CYCLE, targets=[_target(1), _target(2), _target(3)])
    recorded = {
        "000000000001/eu-west-1": TargetOutcome(
            cycle=CYCLE, target=_target(1), cycle_execution=THIS_CYCLE, complete=True
        ),
        "000000000002/eu-west-1": TargetOutcome(  # last hour's cycle wrote this one
            cycle=CYCLE, target=_target(2), cycle_execution=THIS_CYCLE + "-earlier", complete=True
        ),
    }

    outcomes = cycle_outcomes(plan, THIS_CYCLE, recorded)
    report = CycleReport.of(ScanResults(**plan.model_dump(), results=outcomes))

    assert [o.failure.Error if o.failure else "" for o in outcomes] == ["", NO_OUTCOME, NO_OUTCOME]
    assert (report.targets, report.targets_complete, report.targets_failed_total) == (3, 1, 2)


def test_the_report_stays_bounded_whatever_the_targets_and_lists_the_failed_first() -> None:
    targets = [_target(index) for index in range(3000)]
    outcomes = [
        TargetOutcome(
            cycle=CYCLE, target=target, cycle_execution=THIS_CYCLE, complete=index % 3 != 0,
            failure=ChildFailure(Error="rollforward.Refused", Cause="x" * 500)
            if index % 3 == 0 else None,
        )
        for index, target in enumerate(targets)
    ]  # fmt: skip

    report = CycleReport.of(ScanResults(cycle=CYCLE, targets=targets, results=outcomes))

    assert report.targets_failed_total == 1000 and len(report.targets_failed) == MAX_FAILED_NAMED
    assert len(report.per_target) == MAX_TARGET_LINES
    assert report.per_target_omitted == 3000 - MAX_TARGET_LINES
    assert all(line.error for line in report.per_target)  # the failed first
    assert len(report.model_dump_json()) < 256 * 1024  # Step Functions' payload quota


class Organization:
    """An in-memory `OrganizationAccounts`: the accounts it lists, or the refusal it answers."""

    def __init__(self, accounts: list[str], refusal: str = "") -> None:
        self.accounts, self.refusal = accounts, refusal
        self.asked: list[list[str]] = []

    def accounts_under(self, parents: list[str]) -> list[str]:
        self.asked.append(list(parents))
        if self.refusal:
            raise Refused(self.refusal)
        return self.accounts


def test_a_hub_targets_the_organizations_accounts_under_its_ous() -> None:
    organization = Organization(["111111111111"])

    targets, unreadable = hub_targets(HOME, organization, ["ou-ab12-workload"], ["eu-west-1"])

    assert organization.asked == [["ou-ab12-workload"]]
    assert [(t.account, t.region) for t in targets] == [HOME, ("111111111111", "eu-west-1")]
    assert unreadable == ""


def test_an_organization_that_refuses_the_hub_leaves_its_own_account_scanned_and_says_why() -> None:
    denied = "AccessDeniedException: You don't have permissions to access this resource."
    organization = Organization(["111111111111"], refusal=denied)

    targets, unreadable = hub_targets(HOME, organization, ["r-ab12"], ["eu-west-1", "us-east-1"])

    assert [(t.account, t.region) for t in targets] == [HOME, (HOME[0], "us-east-1")]
    assert denied in unreadable and f"only the hub's own account {HOME[0]}" in unreadable
    assert f"--account-id {HOME[0]} --service-principal {STACKSETS_PRINCIPAL}" in unreadable
    assert "SCAN_TARGETS" in unreadable
    # Report carries it to the execution's output (`rollforward scan --status`).
    results = ScanResults(cycle=CYCLE, targets=targets, results=[],
                          organization_unreadable=unreadable)  # fmt: skip
    assert CycleReport.of(results).organization_unreadable == unreadable


def test_targets_default_to_the_hub_and_a_malformed_one_is_refused() -> None:
    assert parse_targets("", HOME) == [ScanTarget(account=HOME[0], region=HOME[1])]
    named = parse_targets(
        "111111111111/us-east-1, 111111111111/us-east-1,222222222222/eu-west-1", HOME
    )
    assert [(t.account, t.region) for t in named] == [
        ("111111111111", "us-east-1"),
        ("222222222222", "eu-west-1"),
    ]
    with pytest.raises(ValidationError):
        parse_targets("12345/us-east-1", HOME)


MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:Rollforward-scan"
HOUR = datetime(2026, 12, 2, 5, tzinfo=UTC)


def _execution(name: str) -> str:
    return MACHINE.replace(":stateMachine:", ":execution:") + f":{name}"


def test_a_cycle_leaves_the_targets_to_an_earlier_one_still_running() -> None:
    """One scanner per bucket: the hour after a cycle that outlasted its hour scans nothing."""
    late, now = _execution("late"), _execution("now")
    running = {late: HOUR - timedelta(minutes=55), now: HOUR}
    assert earlier_cycle(now, HOUR, running) == late
    assert earlier_cycle(late, HOUR - timedelta(minutes=55), running) == ""  # it goes on
    assert earlier_cycle(now, HOUR, {now: HOUR}) == ""  # alone: it scans


def test_of_two_cycles_started_at_once_exactly_one_scans() -> None:
    a, b = _execution("a"), _execution("b")
    running = {a: HOUR, b: HOUR}
    assert (earlier_cycle(a, HOUR, running), earlier_cycle(b, HOUR, running)) == ("", a)


def test_the_machine_is_read_from_the_execution_arn() -> None:
    assert machine_of(_execution("x")) == MACHINE
    assert machine_of("") == "" and machine_of(MACHINE) == ""
