"""Continue-as-new decisions: when a plan outlasts its execution, and how successors are named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rollforward.clock import iso, parse_iso
from rollforward.contract import (
    EXECUTION_HORIZON,
    EXECUTION_LIMIT,
    LadderStep,
    TrackingStatus,
    WorkflowState,
    beyond_horizon,
    reply,
)
from rollforward.escalation.continuation import state_machine_of, successor_name

START = datetime(2027, 1, 1, tzinfo=UTC)
APPROVAL_TIMEOUT = 86_400


def planned(due: datetime, *, approval: bool = False) -> WorkflowState:
    step = LadderStep(
        stage="team",
        index=2,
        round=0,
        key="team",
        due=iso(due),
        audience="team",
        channel="sns",
        requests_approval=approval,
        due_at=iso(due),
        approval_timeout_seconds=APPROVAL_TIMEOUT,
    )
    return WorkflowState("p", 1, next=step)


def test_a_plan_within_the_horizon_is_kept():
    state = planned(START + EXECUTION_HORIZON)
    assert beyond_horizon(state, START, START, EXECUTION_HORIZON) is state


def test_a_plan_beyond_the_horizon_hands_over_at_the_horizon():
    state = planned(START + timedelta(days=330))
    now = START + timedelta(days=250)
    handed = beyond_horizon(state, START, now, EXECUTION_HORIZON)
    assert handed.status is TrackingStatus.CONTINUE
    assert parse_iso(handed.continue_at or "") == START + EXECUTION_HORIZON


def test_an_approval_that_could_expire_after_the_horizon_hands_over_at_its_due_time():
    due = START + EXECUTION_HORIZON - timedelta(hours=1)
    handed = beyond_horizon(planned(due, approval=True), START, due, EXECUTION_HORIZON)
    assert handed.status is TrackingStatus.CONTINUE
    assert parse_iso(handed.continue_at or "") == due


def test_closed_states_and_unknown_starts_are_left_alone():
    closed = WorkflowState("p", 1, TrackingStatus.CLOSED)
    assert beyond_horizon(closed, START, START, EXECUTION_HORIZON) is closed
    far = planned(START + timedelta(days=900))
    assert beyond_horizon(far, None, START, EXECUTION_HORIZON) is far


@given(
    due_days=st.floats(min_value=0, max_value=2000),
    age_days=st.floats(min_value=0, max_value=300),
    approval=st.booleans(),
)
def test_no_planned_wait_reaches_the_one_year_limit(due_days, age_days, approval):
    """Whatever is planned, the execution's next wait (the rung, or the handover) ends before
    its one-year limit, and a handover never happens in an execution's first day."""
    now = START + timedelta(days=age_days)
    due = max(now, START + timedelta(days=due_days))
    result = beyond_horizon(planned(due, approval=approval), START, now, EXECUTION_HORIZON)
    if result.status is TrackingStatus.CONTINUE:
        until = parse_iso(result.continue_at or "")
        assert until >= START + timedelta(days=1)
    else:
        until = due + (timedelta(seconds=APPROVAL_TIMEOUT) if approval else timedelta(0))
    assert until - START < EXECUTION_LIMIT


@pytest.mark.parametrize(
    ("name", "successor"),
    [
        ("pin-f-abc-g1", "pin-f-abc-g1-c1"),
        ("pin-f-abc-g1-c1", "pin-f-abc-g1-c2"),
        ("pin-f-abc-g1-r2", "pin-f-abc-g1-r2-c1"),
        ("pin-f-abc-g1-r2-c9", "pin-f-abc-g1-r2-c10"),
    ],
)
def test_successors_are_named_deterministically(name, successor):
    assert successor_name(name) == successor


def test_a_successor_name_longer_than_80_is_refused():
    with pytest.raises(ValueError, match="longer than 80"):
        successor_name("x" * 78)


def test_the_state_machine_of_an_execution():
    arn = "arn:aws:states:us-east-1:123456789012:execution:Rollforward-remediation:pin-x-g1"
    assert state_machine_of(arn) == (
        "arn:aws:states:us-east-1:123456789012:stateMachine:Rollforward-remediation"
    )
    with pytest.raises(ValueError):
        state_machine_of("arn:aws:states:us-east-1:1:stateMachine:m")


def test_a_reply_the_machine_could_not_route_is_refused():
    with pytest.raises(ValueError, match="planned rung"):
        reply(WorkflowState("p", 1))
    with pytest.raises(ValueError, match="continue_at"):
        reply(WorkflowState("p", 1, TrackingStatus.CONTINUE, next=planned(START).next))
    # An execution's input has nothing planned yet: it is not a reply.
    assert WorkflowState("p", 1).to_dict() == {
        "pin_id": "p",
        "generation": 1,
        "status": "tracking",
        "outcome": "",
    }
