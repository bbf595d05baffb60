"""Lifecycle I on the embedded AWS: detect, ledger, ladder, approvals (issue 3 must-shows)."""

from __future__ import annotations

import copy

from rollforward.ledger import Stage

from emulator import faults
from emulator.cloudtrail import cloudtrail_event, put_cloudtrail_event
from emulator.state import ApiCall
from tests.e2e.harness import ACCOUNT, REGION, Lifecycle, Principal, wait_for


def _pin_event(function: str, actor_arn: str) -> dict:
    return cloudtrail_event(
        ApiCall(
            event_source="lambda.amazonaws.com",
            event_name="PutRuntimeManagementConfig",
            account_id=ACCOUNT,
            region=REGION,
            request_parameters={"functionName": function, "updateRuntimeOn": "Manual"},
            response_elements=None,
            user_identity={"type": "IAMUser", "arn": actor_arn, "accountId": ACCOUNT},
        )
    )


def test_a_pin_opens_exactly_one_ledger_item_and_execution_even_when_replayed(lifecycle: Lifecycle):
    lifecycle.create_function("orders")
    pinner = Principal("dev-dana")
    lifecycle.pin("orders", by=pinner)

    pin = wait_for(lambda: lifecycle.pin_record("orders"), what="the ledger item")
    assert pin.stage is Stage.TRACKING
    assert pin.pinned_by == pinner.arn
    assert pin.owner == "alice@example.com" and pin.team == "payments"
    assert pin.pinned_runtime_version_arn == lifecycle.runtime_arn("orders")
    wait_for(lambda: len(lifecycle.executions()) == 1, what="one execution")

    event = _pin_event("orders", pinner.arn)
    for _ in range(5):
        assert put_cloudtrail_event(copy.deepcopy(event)) == 1
    lifecycle.aws.state.drain()
    assert len(lifecycle.executions()) == 1
    again = lifecycle.pin_record("orders")
    assert again.generation == 1 and again.first_seen == pin.first_seen
    assert len(lifecycle.ledger.list_pins()) == 1


def test_the_ladder_sends_each_notice_once_to_the_right_audience(lifecycle: Lifecycle):
    lifecycle.create_function("orders")
    lifecycle.pin("orders")
    wait_for(
        lambda: "detected" in (lifecycle.pin_record("orders").notices), what="the detected notice"
    )

    lifecycle.advance(14.5, settle=lambda: lifecycle.pending_approval("orders"))

    owner = lifecycle.notices("owner")
    team = lifecycle.notices("team")
    oncall = lifecycle.notices("oncall")
    assert [n["kind"] for n in owner] == ["detected", "reminder"]
    assert [n["kind"] for n in team] == ["team"]
    assert [n["kind"] for n in oncall] == ["approval_request"]
    dedup_keys = [n["dedup_key"] for n in owner + team + oncall]
    pin_id = lifecycle.key("orders").id
    assert dedup_keys == [
        f"{pin_id}#detected",
        f"{pin_id}#reminder",
        f"{pin_id}#team",
        f"{pin_id}#approval",
    ]
    approval = lifecycle.pending_approval("orders")
    assert approval["approval_id"] in oncall[0]["text"]
    assert "task_token" not in oncall[0]["text"]
    assert set(lifecycle.pin_record("orders").notices) == {
        "detected",
        "reminder",
        "team",
        "approval",
    }


def _to_approval(lifecycle: Lifecycle, pinner: Principal | None = None) -> dict:
    lifecycle.create_function("orders")
    lifecycle.pin("orders", by=pinner)
    wait_for(lambda: lifecycle.pin_record("orders"), what="the ledger item")
    lifecycle.advance(14.5, settle=lambda: lifecycle.pending_approval("orders"))
    return lifecycle.pending_approval("orders")


def _refusals(lifecycle: Lifecycle) -> list:
    return [r for r in lifecycle.audit.read() if r.event == "refused"]


def test_an_allowed_principal_approves_and_refusals_change_nothing(lifecycle: Lifecycle):
    pinner = Principal("oncall-bob")  # allowed to approve in general, but pinned this one
    approval = _to_approval(lifecycle, pinner)
    approval_id = approval["approval_id"]
    intruder = Principal("dev-mallory")
    approver = Principal("oncall-alice")

    status, body = lifecycle.decide(
        intruder, action="approve", approval_id=approval_id, reason="ship it"
    )
    assert status == 403 and "allowed_approvers" in body["refused"]
    status, body = lifecycle.decide(
        pinner, action="approve", approval_id=approval_id, reason="mine"
    )
    assert status == 403 and "separation of duties" in body["refused"]
    status, body = lifecycle.decide(
        approver, action="approve", approval_id="apr-" + "0" * 32, reason="x"
    )
    assert status == 404
    status, body = lifecycle.decide(approver, action="approve", approval_id=approval_id, reason="")
    assert status == 400 and "reason" in body["refused"]
    assert lifecycle.pending_approval("orders")["approval_id"] == approval_id  # nothing changed
    assert len(_refusals(lifecycle)) == 4

    status, body = lifecycle.decide(
        approver, action="approve", approval_id=approval_id, reason="runtime fix verified"
    )
    assert status == 200 and body["approver"] == approver.arn
    wait_for(
        lambda: lifecycle.pin_record("orders").stage is not Stage.AWAITING_APPROVAL,
        what="the hand-off",
    )
    pin = lifecycle.pin_record("orders")
    assert pin.evidence["approval"]["approver"] == approver.arn

    status, body = lifecycle.decide(
        approver, action="approve", approval_id=approval_id, reason="again"
    )
    assert status == 409 and "single-use" in body["refused"]
    decisions = [r for r in lifecycle.audit.read() if r.event == "approved"]
    assert len(decisions) == 1 and decisions[0].actor == approver.arn


def test_an_expired_approval_is_refused_and_a_new_one_is_requested(lifecycle: Lifecycle):
    first = _to_approval(lifecycle)["approval_id"]
    lifecycle.advance(
        1.05,
        settle=lambda: (
            (lifecycle.pending_approval("orders") or {}).get("approval_id") not in (None, first)
        ),
    )
    second = lifecycle.pending_approval("orders")["approval_id"]
    status, body = lifecycle.decide(
        Principal("oncall-alice"), action="approve", approval_id=first, reason="late"
    )
    assert status == 410 and "expired" in body["refused"]
    assert second != first
    assert [n["kind"] for n in lifecycle.notices("oncall")] == [
        "approval_request",
        "approval_request",
    ]


def test_reject_snoozes_then_the_ladder_asks_again(lifecycle: Lifecycle):
    approval_id = _to_approval(lifecycle)["approval_id"]
    approver = Principal("oncall-alice")
    status, _ = lifecycle.decide(
        approver, action="reject", approval_id=approval_id, reason="peak season"
    )
    assert status == 200
    pin = wait_for(lambda: (p := lifecycle.pin_record("orders")).snooze and p, what="the snooze")
    assert (
        pin.stage is Stage.SNOOZED
        and pin.snooze.reason == "peak season"
        and pin.snooze.by == approver.arn
    )
    assert lifecycle.pending_approval("orders") is None

    lifecycle.advance(2)
    assert lifecycle.pending_approval("orders") is None  # still snoozed
    lifecycle.advance(1.2, settle=lambda: lifecycle.pending_approval("orders"))
    assert lifecycle.pending_approval("orders")["approval_id"] != approval_id


def test_lifting_the_pin_mid_ladder_ends_the_execution_as_lifted_by_who(lifecycle: Lifecycle):
    lifecycle.create_function("orders")
    lifecycle.pin("orders")
    wait_for(lambda: lifecycle.pin_record("orders"), what="the ledger item")
    lifecycle.advance(4)
    fixer = Principal("dev-erin")
    lifecycle.lift("orders", by=fixer)

    pin = wait_for(
        lambda: (p := lifecycle.pin_record("orders")) and not p.is_open and p, what="the close"
    )
    assert pin.stage is Stage.LIFTED and pin.outcome["by"] == fixer.arn
    execution = wait_for(lambda: lifecycle.executions("ABORTED"), what="the stopped execution")[0]
    described = lifecycle.sfn.describe_execution(executionArn=execution["executionArn"])
    assert fixer.arn in described.get("cause", "")
    assert lifecycle.executions("RUNNING") == []


def test_a_malformed_event_starts_nothing_and_is_audited(lifecycle: Lifecycle):
    event = _pin_event("orders", "arn:aws:iam::123456789012:user/x")
    del event["detail"]["requestParameters"]
    put_cloudtrail_event(event)
    rejected = wait_for(
        lambda: [r for r in lifecycle.audit.read() if r.event == "rejected_event"],
        what="the audit record",
    )
    assert "requestParameters" in rejected[0].details["reason"] or rejected[0].details["reason"]
    assert lifecycle.executions() == []
    assert lifecycle.ledger.list_pins(open_only=False) == []


def test_a_publish_that_outlives_botocores_retries_loses_no_notice(lifecycle: Lifecycle):
    """SNS fails longer than botocore retries (8 attempts): the task fails as Transient, the
    rung it had recorded is released, and the state machine's retry sends it — once."""
    lifecycle.create_function("orders")
    with (
        faults.retries_on_virtual_clock(),
        faults.injected("Publish", "InternalError", times=12, service="sns") as storm,
    ):
        lifecycle.pin("orders")
        owner: list[dict] = []
        wait_for(
            lambda: owner.extend(lifecycle.notices("owner")) or owner,
            what="the detected notice, delivered after the storm",
        )
    assert storm.fired == 12
    owner.extend(lifecycle.notices("owner"))
    assert [n["kind"] for n in owner] == ["detected"]
    assert set(lifecycle.pin_record("orders").notices) == {"detected"}
