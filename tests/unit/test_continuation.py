"""Continue-as-new on the ports: the ledger's execution moves to the successor only while it
still names this execution (`escalation.continuation.hand_over`, `Ledger.move_execution`)."""

from __future__ import annotations

from datetime import UTC, datetime

from rollforward.audit.records import AuditEvent
from rollforward.contract import TrackingStatus
from rollforward.escalation.continuation import STOP_SUPERSEDED, hand_over
from rollforward.ledger import Pin, Stage
from rollforward.model import PinKey

from tests.unit.fakes import FUNCTION_ARN, RUNTIME_ARN, FakeAudit, FakeExecutions, FakeLedger

EXECUTIONS = FakeExecutions()
CURRENT = EXECUTIONS.arn_of("pin-orders-g1")
SUCCESSOR = EXECUTIONS.arn_of("pin-orders-g1-c1")


def tracked(ledger: FakeLedger, execution_arn: str) -> Pin:
    return ledger.put(
        Pin(
            key=PinKey(FUNCTION_ARN),
            generation=1,
            stage=Stage.TRACKING,
            first_seen=datetime(2026, 1, 1, tzinfo=UTC),
            pinned_runtime_version_arn=RUNTIME_ARN,
            pinned_by="arn:aws:iam::111122223333:user/dev",
            execution_arn=execution_arn,
        )
    )


def test_the_ledger_moves_to_the_successor_and_the_handover_is_audited() -> None:
    ledger, executions, audit = FakeLedger(), FakeExecutions(), FakeAudit()
    pin = tracked(ledger, CURRENT)
    reply = hand_over(
        ledger=ledger, executions=executions, audit=audit, pin=pin, execution_arn=CURRENT
    )
    assert reply.status is TrackingStatus.CONTINUED
    assert ledger.stored()[pin.key.id].execution_arn == SUCCESSOR
    assert executions.statuses == {SUCCESSOR: "RUNNING"} and not executions.stops
    assert audit.events(pin.key.id) == [AuditEvent.CONTINUED]
    # A retried handover finds the same successor and the ledger already naming it.
    again = hand_over(
        ledger=ledger, executions=executions, audit=audit, pin=pin, execution_arn=CURRENT
    )
    assert again.status is TrackingStatus.CONTINUED and not executions.stops


def test_an_episode_another_execution_owns_stops_the_successor_and_ends_superseded() -> None:
    ledger, executions, audit = FakeLedger(), FakeExecutions(), FakeAudit()
    restarted = EXECUTIONS.arn_of("pin-orders-g1-restarted")  # the scan restarted tracking
    pin = tracked(ledger, restarted)
    reply = hand_over(
        ledger=ledger, executions=executions, audit=audit, pin=pin, execution_arn=CURRENT
    )
    assert reply.status is TrackingStatus.CLOSED and reply.outcome == "superseded"
    assert ledger.stored()[pin.key.id].execution_arn == restarted
    assert [(arn, error) for arn, error, _ in executions.stops] == [(SUCCESSOR, STOP_SUPERSEDED)]
    assert executions.statuses[SUCCESSOR] == "ABORTED"
    assert audit.events(pin.key.id) == []


def test_a_closed_or_newer_episode_is_not_moved() -> None:
    ledger = FakeLedger()
    pin = tracked(ledger, CURRENT)
    ledger.update(pin, datetime(2026, 2, 1, tzinfo=UTC), stage=Stage.RESOLVED)
    assert not ledger.move_execution(pin, CURRENT, SUCCESSOR, datetime(2026, 2, 2, tzinfo=UTC))
    newer = tracked(ledger, CURRENT)
    newer.generation = 2
    assert not ledger.move_execution(newer, CURRENT, SUCCESSOR, datetime(2026, 2, 2, tzinfo=UTC))
    assert ledger.stored()[pin.key.id].execution_arn == CURRENT


def test_only_the_execution_the_ledger_names_runs_the_episode() -> None:
    """`Pin.is_run_by`: the successor after a handover, not its predecessor (nor a redrive of
    it); an episode or an envelope that names no execution is not held to one."""
    ledger = FakeLedger()
    pin = tracked(ledger, CURRENT)
    assert pin.is_run_by(CURRENT)
    assert not pin.is_run_by(SUCCESSOR)
    assert pin.is_run_by("")
    assert ledger.move_execution(pin, CURRENT, SUCCESSOR, datetime(2026, 2, 1, tzinfo=UTC))
    assert pin.is_run_by(SUCCESSOR) and not pin.is_run_by(CURRENT)
    assert tracked(FakeLedger(), "").is_run_by(CURRENT)
