"""Approval decisions on in-memory fakes of the ports: single use, expiry, who may decide,
races on the conditional writes, forged callbacks and holds — each refusal audited, nothing
changed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from rollforward import clock
from rollforward.approvals import Refused
from rollforward.approvals.service import Approvals
from rollforward.audit.records import AuditEvent
from rollforward.ledger import Pin, Stage
from rollforward.model import PinKey, UpdateMode
from rollforward.policy import Policy, StagePlan
from rollforward.transient import Transient

from tests.unit.fakes import (
    FUNCTION_ARN,
    RUNTIME_ARN,
    FakeApprovalStore,
    FakeAudit,
    FakeExecutions,
    FakeLambdaControl,
    FakeLedger,
    Faults,
    ManualClock,
)

KEY = PinKey(FUNCTION_ARN)
PINNER = "arn:aws:iam::111122223333:user/alice"
ONCALL = "arn:aws:iam::111122223333:user/oncall-bob"
ROOT = "arn:aws:iam::111122223333:root"
START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
TOKEN = "token-1"
POLICY = Policy.from_json({"approval": {"allowed_approvers": ["arn:aws:iam::*:user/oncall-*"]}})


@dataclass
class Desk:
    approvals: Approvals
    store: FakeApprovalStore
    ledger: FakeLedger
    lam: FakeLambdaControl
    executions: FakeExecutions
    audit: FakeAudit
    faults: Faults
    clock: ManualClock

    def pin(self) -> Pin:
        pin = self.ledger.get(KEY)
        assert pin is not None
        return pin

    def request(self) -> str:
        plan = StagePlan(POLICY.stage("approval"), 3, 0, START)
        summary = self.approvals.request(self.pin(), plan, TOKEN, "arn:execution")
        self.executions.awaited_tokens.add(TOKEN)
        return str(summary["approval_id"])

    def refusal(self, approval_id: object, caller: str = ONCALL, **kwargs: object) -> Refused:
        with pytest.raises(Refused) as raised:
            self.approvals.decide(approval_id, "approve", "looks fine", caller, **kwargs)  # type: ignore[arg-type]
        assert raised.value.audited
        return raised.value


@pytest.fixture
def desk() -> Iterator[Desk]:
    faults = Faults()
    store, ledger, lam = FakeApprovalStore(faults), FakeLedger(faults), FakeLambdaControl(faults)
    executions, audit = FakeExecutions(faults=faults), FakeAudit(faults)
    ledger.put(Pin(KEY, 1, Stage.TRACKING, START - timedelta(days=14), RUNTIME_ARN, PINNER))
    lam.pin(KEY)
    manual = ManualClock(START)
    clock.set_source(manual)
    approvals = Approvals(
        store=store,
        ledger=ledger,
        executions=executions,
        audit=audit,
        policy=POLICY,
        lambda_control=lam,
    )
    try:
        yield Desk(approvals, store, ledger, lam, executions, audit, faults, manual)
    finally:
        clock.set_source(lambda: datetime.now(UTC))


def test_an_approval_is_decided_once_and_wakes_the_workflow_once(desk: Desk) -> None:
    approval_id = desk.request()
    assert desk.pin().stage is Stage.AWAITING_APPROVAL
    result = desk.approvals.decide(approval_id, "approve", "canary it", ONCALL)
    assert (result.decision, result.approver) == ("approved", ONCALL)
    assert desk.executions.answers == [(TOKEN, {"approval_id": approval_id})]
    again = desk.refusal(approval_id)
    assert again.status == 409 and "single-use" in again.reason
    assert len(desk.executions.answers) == 1


@pytest.mark.parametrize(
    ("caller", "why"),
    [
        (ROOT, "account root"),
        ("arn:aws:iam::111122223333:user/mallory", "allowed_approvers"),
        ("arn:aws:iam::111122223333:user/oncall-x/mallory", "allowed_approvers"),
        ("", "identity is unknown"),
    ],
)
def test_a_principal_that_may_not_decide_is_refused_and_nothing_changes(
    desk: Desk, caller: str, why: str
) -> None:
    approval_id = desk.request()
    refusal = desk.refusal(approval_id, caller=caller)
    assert refusal.status == 403 and why in refusal.reason
    assert desk.store.records[approval_id]["status"] == "pending"
    assert desk.executions.answers == []
    assert desk.audit.events(KEY.id)[-1] == AuditEvent.REFUSED  # on the pin's timeline


def test_the_pinner_may_not_approve_their_own_pin(desk: Desk) -> None:
    desk.approvals.policy = Policy.default()  # any approver, separation of duties on
    approval_id = desk.request()
    refusal = desk.refusal(approval_id, caller=PINNER)
    assert refusal.status == 403 and "separation of duties" in refusal.reason


def test_an_expired_approval_is_refused(desk: Desk) -> None:
    approval_id = desk.request()
    desk.clock.advance(days=1)  # approval.approval_timeout
    assert desk.refusal(approval_id).status == 410


def test_a_decision_racing_another_loses_without_waking_the_workflow(desk: Desk) -> None:
    approval_id = desk.request()

    def other_approver_decides(operation: str) -> None:
        desk.store.records[approval_id].update(status="rejected", decided_by="someone")

    desk.store.before_write = other_approver_decides
    refusal = desk.refusal(approval_id)
    assert refusal.status == 409 and "concurrently" in refusal.reason
    assert desk.executions.answers == []


def test_a_pin_lifted_meanwhile_is_not_approved(desk: Desk) -> None:
    approval_id = desk.request()
    desk.lam.set_mode(KEY, UpdateMode.AUTO)
    refusal = desk.refusal(approval_id)
    assert refusal.status == 409 and "lifted" in refusal.reason


def test_a_throttled_live_read_decides_on_the_ledger_alone(desk: Desk) -> None:
    approval_id = desk.request()
    desk.faults.arm("lambda.runtime_setting", Transient("TooManyRequestsException"))
    assert desk.approvals.decide(approval_id, "approve", "ok", ONCALL).decision == "approved"


@pytest.mark.parametrize(
    "approval_id", ["apr-nope", "not-an-id", 42, {"approval_id": "apr-x"}, "apr-" + "0" * 100]
)
def test_an_unknown_or_malformed_approval_id_is_404(desk: Desk, approval_id: object) -> None:
    desk.request()
    assert desk.refusal(approval_id).status == 404


def test_verify_honours_a_decided_record_once_and_calls_anything_else_forged(desk: Desk) -> None:
    approval_id = desk.request()
    pending = desk.approvals.verify(KEY.id, 1, 0, {"decision": "approved"}, "arn:execution")
    assert pending["decision"] == "forged"  # answered with the token, not through the API
    assert desk.audit.events(KEY.id)[-1] == AuditEvent.FORGED_DECISION
    desk.approvals.decide(approval_id, "approve", "go", ONCALL)
    honoured = desk.approvals.verify(KEY.id, 1, 0, {}, "arn:execution")
    assert (honoured["decision"], honoured["approver"]) == ("approved", ONCALL)
    replayed = desk.approvals.verify(KEY.id, 1, 0, {}, "arn:execution")
    assert replayed["decision"] == "forged"  # consumed already


def test_a_forged_answer_rearms_the_same_approval_with_the_new_token(desk: Desk) -> None:
    approval_id = desk.request()
    desk.approvals.verify(KEY.id, 1, 0, {}, "arn:execution")
    plan = StagePlan(POLICY.stage("approval"), 3, 0, START)
    again = desk.approvals.request(desk.pin(), plan, "token-2", "arn:execution")
    assert again["approval_id"] == approval_id
    assert desk.store.records[approval_id]["task_token"] == "token-2"


def test_a_snooze_beyond_the_maximum_is_refused_and_within_it_is_recorded(desk: Desk) -> None:
    too_long = pytest.raises(Refused)
    with too_long:
        desk.approvals.hold("snooze", KEY.id, "31d", "vacation", ONCALL)
    assert desk.pin().snooze is None
    held = desk.approvals.hold("snooze", KEY.id, "3d", "vacation", ONCALL)
    pin = desk.pin()
    assert pin.snooze is not None and pin.snooze.until == START + timedelta(days=3)
    assert pin.stage is Stage.SNOOZED and held["pin_id"] == KEY.id
    assert desk.audit.events(KEY.id)[-2:] == [AuditEvent.REFUSED, AuditEvent.SNOOZED]


def test_the_pinner_may_not_hold_their_own_pin(desk: Desk) -> None:
    desk.approvals.policy = Policy.default()
    with pytest.raises(Refused) as raised:
        desk.approvals.hold("exempt", KEY.id, "10d", "mine", PINNER)
    assert raised.value.status == 403 and desk.pin().exemption is None
