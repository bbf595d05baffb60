"""Tracking decisions on in-memory fakes of the ports: detection (open, replay, re-pin, lift,
delete), the ladder (each rung once per round, snooze, timeout, exhaustion), races on the
conditional writes, and transient faults — in milliseconds, with no AWS library."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from rollforward import clock
from rollforward.audit.notices import NoticeKind
from rollforward.audit.records import AuditEvent
from rollforward.escalation.tracking import Tracker, WorkflowState
from rollforward.ledger import Pin, Stage
from rollforward.model import PinKey, UpdateMode
from rollforward.policy import Policy
from rollforward.transient import Transient

from tests.unit.fakes import (
    FUNCTION_ARN,
    NEWER_RUNTIME_ARN,
    RUNTIME_ARN,
    FakeAudit,
    FakeExecutions,
    FakeLambdaControl,
    FakeLedger,
    FakeNotifier,
    Faults,
    ManualClock,
)

KEY = PinKey(FUNCTION_ARN)
PINNER = "arn:aws:iam::111122223333:user/alice"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass
class World:
    tracker: Tracker
    ledger: FakeLedger
    lam: FakeLambdaControl
    executions: FakeExecutions
    audit: FakeAudit
    notifier: FakeNotifier
    faults: Faults
    clock: ManualClock

    def observe(self, actor: str = PINNER) -> str:
        return self.tracker.observe(KEY, actor=actor, source="test").action

    def pin(self) -> Pin:
        pin = self.ledger.get(KEY)
        assert pin is not None
        return pin

    def state(self) -> WorkflowState:
        pin = self.pin()
        return WorkflowState(pin.key.id, pin.generation)


@pytest.fixture
def world() -> Iterator[World]:
    faults = Faults()
    ledger, lam = FakeLedger(faults), FakeLambdaControl(faults)
    executions, audit, notifier = (
        FakeExecutions(faults=faults),
        FakeAudit(faults),
        FakeNotifier(faults),
    )
    lam.pin(KEY)
    lam.function_tags[FUNCTION_ARN] = {"owner": "orders@example.com", "team": "payments"}
    manual = ManualClock(START)
    clock.set_source(manual)
    tracker = Tracker(
        ledger=ledger,
        lambda_control=lam,
        executions=executions,
        notifier=notifier,
        audit=audit,
        policy=Policy.default(),
    )
    try:
        yield World(tracker, ledger, lam, executions, audit, notifier, faults, manual)
    finally:
        clock.set_source(lambda: datetime.now(UTC))


# ------------------------------------------------------------------ detection


def test_a_new_pin_is_recorded_once_with_its_owner_and_starts_one_execution(world: World) -> None:
    assert world.observe() == "opened"
    pin = world.pin()
    assert (pin.stage, pin.generation, pin.pinned_by) == (Stage.TRACKING, 1, PINNER)
    assert (pin.owner, pin.team, pin.pinned_runtime_version_arn) == (
        "orders@example.com",
        "payments",
        RUNTIME_ARN,
    )
    assert list(world.executions.inputs) == [pin.execution_name]
    assert pin.execution_arn == world.executions.arn_of(pin.execution_name)
    # The same event delivered again changes nothing.
    assert world.observe() == "already_open"
    assert len(world.executions.inputs) == 1
    assert world.audit.events(KEY.id) == [AuditEvent.DETECTED]


def test_a_repin_to_another_runtime_keeps_the_episode_and_records_the_new_pinner(
    world: World,
) -> None:
    world.observe()
    world.lam.pin(KEY, NEWER_RUNTIME_ARN)
    bob = "arn:aws:iam::111122223333:user/bob"
    assert world.observe(actor=bob) == "repinned"
    pin = world.pin()
    assert (pin.generation, pin.pinned_runtime_version_arn) == (1, NEWER_RUNTIME_ARN)
    assert pin.all_pinners == (PINNER, bob)  # neither may approve
    assert len(world.executions.inputs) == 1


@pytest.mark.parametrize(
    ("change", "stage", "stop_error"),
    [
        (lambda lam: lam.set_mode(KEY, UpdateMode.AUTO), Stage.LIFTED, "rollforward.Lifted"),
        (lambda lam: lam.delete(KEY), Stage.DELETED, "rollforward.Deleted"),
    ],
    ids=["lifted", "deleted"],
)
def test_a_pin_lifted_or_deleted_elsewhere_closes_and_stops_its_execution(
    world: World, change, stage: Stage, stop_error: str
) -> None:
    world.observe()
    change(world.lam)
    assert world.observe(actor="arn:aws:iam::111122223333:user/carol") == "closed"
    pin = world.pin()
    assert (pin.stage, pin.is_open, pin.outcome["result"]) == (stage, False, str(stage))
    assert [(arn, error) for arn, error, _ in world.executions.stops] == [
        (pin.execution_arn, stop_error)
    ]
    lifted_notices = [k for k in world.notifier.kinds() if k is NoticeKind.LIFTED]
    assert lifted_notices == ([NoticeKind.LIFTED] if stage is Stage.LIFTED else [])


def test_a_task_of_the_machine_closes_a_lifted_pin_without_stopping_any_execution(
    world: World,
) -> None:
    """The ladder's own task has no state machine ARN and no StopExecution right: it closes the
    pin and its reply ("closed") ends the execution that is running it."""
    world.observe()
    task_executions = FakeExecutions(faults=world.faults, state_machine_arn="")
    task = Tracker(
        ledger=world.ledger,
        lambda_control=world.lam,
        executions=task_executions,
        notifier=world.notifier,
        audit=world.audit,
        policy=Policy.default(),
    )
    world.lam.set_mode(KEY, UpdateMode.AUTO)
    pin = world.pin()
    task.close(pin, Stage.LIFTED, by="a task", detail="no longer Manual")
    assert world.pin().stage is Stage.LIFTED
    assert world.executions.stops == []
    assert task_executions.stops == []


def test_pinned_again_after_a_lift_is_a_new_generation_with_its_own_execution(
    world: World,
) -> None:
    world.observe()
    world.lam.set_mode(KEY, UpdateMode.AUTO)
    world.observe()
    world.lam.pin(KEY)
    assert world.observe() == "opened"
    assert world.pin().generation == 2
    assert len(world.executions.inputs) == 2


def test_an_episode_opened_by_a_racing_writer_is_not_opened_twice(world: World) -> None:
    """The scan and the event both saw no item; the other one's conditional put won."""

    def other_writer_opens(operation: str) -> None:
        assert operation == "open"
        world.ledger.put(
            Pin(KEY, 1, Stage.TRACKING, START, RUNTIME_ARN, "rollforward (reconciling scan)")
        )

    world.ledger.before_write = other_writer_opens
    assert world.observe() == "already_open"
    assert world.executions.inputs == {}  # the winner starts the execution
    assert world.pin().pinned_by == "rollforward (reconciling scan)"


def test_a_throttled_live_read_changes_nothing_and_is_retried_as_transient(world: World) -> None:
    world.faults.arm("lambda.runtime_setting", Transient("TooManyRequestsException: slow down"))
    with pytest.raises(Transient):
        world.observe()
    assert world.ledger.items == {} and world.executions.inputs == {} and world.audit.records == []
    assert world.observe() == "opened"  # the retry


# ------------------------------------------------------------------ the ladder


def _due_times(world: World) -> list[tuple[str, str]]:
    """Walk the ladder as the state machine does: wait until `due_at`, then `notice`."""
    seen: list[tuple[str, str]] = []
    state = world.tracker.start(world.state())
    while state.status != "closed" and state.next is not None and not state.next.requests_approval:
        world.clock.now = clock.parse_iso(state.next.due_at)
        seen.append((state.next.key, state.next.due_at))
        state = world.tracker.notice(state)
    seen.append((state.next.key, state.next.due_at) if state.next else ("", ""))
    return seen


def test_the_ladder_sends_each_rung_once_on_its_day_then_asks_for_approval(world: World) -> None:
    world.observe()
    assert _due_times(world) == [
        ("detected", "2026-11-02T09:00:00Z"),
        ("reminder", "2026-11-05T09:00:00Z"),
        ("team", "2026-11-09T09:00:00Z"),
        ("approval", "2026-11-16T09:00:00Z"),
    ]
    assert world.notifier.kinds() == [NoticeKind.DETECTED, NoticeKind.REMINDER, NoticeKind.TEAM]
    assert sorted(world.pin().notices) == ["detected", "reminder", "team"]


def test_a_rung_is_sent_once_however_often_the_task_is_retried(world: World) -> None:
    world.observe()
    state = world.tracker.start(world.state())
    world.tracker.notice(state)
    world.tracker.notice(state)  # Step Functions retried the task
    plan = world.tracker.plan(world.pin(), world.clock.now)
    assert world.notifier.kinds() == [NoticeKind.DETECTED]
    assert plan.next.key == "reminder"


def test_a_rung_another_invocation_recorded_first_is_not_sent_again(world: World) -> None:
    world.observe()
    state = world.tracker.start(world.state())

    def other_invocation_sends(operation: str) -> None:
        world.ledger.items[KEY.id]["notices"]["detected"] = clock.iso(START)

    world.ledger.before_write = other_invocation_sends
    world.tracker.notice(state)
    assert world.notifier.sent == []
    assert AuditEvent.STAGE_NOTICE not in world.audit.events(KEY.id)


def test_the_live_check_before_a_rung_closes_a_lifted_pin_instead_of_notifying(
    world: World,
) -> None:
    world.observe()
    state = world.tracker.start(world.state())
    world.lam.set_mode(KEY, UpdateMode.FUNCTION_UPDATE)
    after = world.tracker.notice(state)
    assert (after.status, after.outcome) == ("closed", "lifted")
    assert world.notifier.kinds() == [NoticeKind.LIFTED]


def test_a_rejection_snoozes_and_approval_is_asked_again_when_the_snooze_ends(
    world: World,
) -> None:
    world.observe()
    _due_times(world)
    world.clock.now = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
    world.ledger.mark_notice_sent(world.pin(), "approval", world.clock.now)
    oncall = "arn:aws:iam::111122223333:user/oncall-dan"
    after = world.tracker.rejected(world.state(), {"approver": oncall, "reason": "freeze"})
    pin = world.pin()
    assert pin.stage is Stage.SNOOZED and pin.snooze is not None
    assert (pin.snooze.by, pin.snooze.reason) == (oncall, "freeze")
    assert pin.snooze.until == world.clock.now + timedelta(days=3)  # approval.reject_snooze
    assert (after.next.key, after.next.due_at) == ("approval#1", clock.iso(pin.snooze.until))
    assert world.notifier.kinds()[-1] is NoticeKind.SNOOZED


def test_an_unanswered_approval_request_starts_the_next_round(world: World) -> None:
    world.observe()
    _due_times(world)
    world.ledger.mark_notice_sent(world.pin(), "approval", world.clock.now)
    world.ledger.update(world.pin(), world.clock.now, stage=Stage.AWAITING_APPROVAL)
    world.clock.advance(days=1)
    after = world.tracker.approval_timed_out(world.state())
    assert world.pin().stage is Stage.TRACKING
    assert after.next.key == "approval#1"
    assert AuditEvent.APPROVAL_EXPIRED in world.audit.events(KEY.id)


def test_the_ladder_ends_when_escalation_max_rounds_is_used_up(world: World) -> None:
    world.tracker.policy = Policy.from_json({"escalation": {"max_rounds": 1}})
    world.observe()
    _due_times(world)
    world.ledger.mark_notice_sent(world.pin(), "approval", world.clock.now)
    state = world.tracker.plan(world.pin(), world.clock.now)
    assert (state.status, state.outcome) == (
        "closed",
        "escalation exhausted (escalation.max_rounds)",
    )


def test_a_task_of_a_superseded_episode_closes_without_touching_the_new_one(world: World) -> None:
    world.observe()
    old = world.state()
    world.lam.set_mode(KEY, UpdateMode.AUTO)
    world.observe()
    world.lam.pin(KEY)
    world.observe()  # generation 2
    for result in (world.tracker.start(old), world.tracker.notice(old)):
        assert (result.status, result.outcome) == ("closed", "superseded")
    assert world.pin().notices == {}


def test_a_throttled_notice_write_is_transient_and_the_retry_sends_once(world: World) -> None:
    world.observe()
    state = world.tracker.start(world.state())
    world.faults.arm("ledger.mark_notice_sent", Transient("ThrottlingException"))
    with pytest.raises(Transient):
        world.tracker.notice(state)
    assert world.notifier.sent == []
    world.tracker.notice(state)
    assert world.notifier.kinds() == [NoticeKind.DETECTED]


def test_a_failure_is_recorded_the_owner_told_and_tracking_closed(world: World) -> None:
    world.observe()
    after = world.tracker.record_failure(
        world.state(), {"Error": "States.TaskFailed", "Cause": "boom"}
    )
    assert (after.status, after.outcome) == ("closed", "failed")
    assert world.pin().stage is Stage.FAILED
    assert world.notifier.kinds() == [NoticeKind.STOPPED]
    assert world.audit.events(KEY.id)[-1] == AuditEvent.FAILED


def test_a_failed_publish_releases_the_rung_and_the_retry_sends_it(world: World) -> None:
    world.observe()
    state = world.tracker.start(world.state())
    world.faults.arm("notifier.notify", Transient("Throttled"))
    with pytest.raises(Transient):
        world.tracker.notice(state)
    assert world.pin().notices == {}  # not recorded as sent
    world.tracker.notice(state)
    assert world.notifier.kinds() == [NoticeKind.DETECTED]
    assert len(world.pin().notices) == 1
    world.tracker.notice(state)  # and once sent, a retry sends nothing more
    assert world.notifier.kinds() == [NoticeKind.DETECTED]
