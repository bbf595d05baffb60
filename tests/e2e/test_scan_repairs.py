"""The scan repairs what a dead execution left behind (issue 11, item 4), on the strict embedded
AWS, through the deployed Scan Lambda (its own role: it may invoke the canary's rollback, not
change functions itself):

- a canary whose execution died mid-bake (alias weighted, `$LATEST` in FunctionUpdate, ledger
  `canary`) is restored exactly and tracked again, whichever way it died: stopped (ABORTED),
  out of its one-year limit while parked in the bake (TIMED_OUT), or failed where no Catch
  reaches (FAILED: the judge's reply over Step Functions' 256 KiB, States.DataLimitExceeded);
- the same with the pin `failed`: restored, not closed as lifted, and no pin opened on the
  baseline version the canary had pinned itself;
- a `failed` pin is re-examined: lifted meanwhile, it is closed;
- a canary whose state machine role loses lambda:InvokeFunction mid-bake is not left weighted:
  its Rollback is refused, waits and tries again until the role is mended, then restores.

Each case ended differently before these fixes: stalled and left weighted, a new pin on the
canary's baseline version, a failed pin skipped for ever.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
from rollforward.clock import utc_now
from rollforward.contract import CanaryAction, TrackingStatus
from rollforward.detection.observation import CANARY_IN_FLIGHT
from rollforward.ledger import Pin, Stage
from rollforward.model import PinKey

from emulator import faults, mutations
from emulator.stepfunctions import MAX_EXECUTION_DURATION, MAX_PAYLOAD_BYTES
from tests.e2e.harness import Lifecycle, Principal, approve_pending, wait_for


def _scan_lambda(lifecycle: Lifecycle) -> dict[str, Any]:
    function = lifecycle.deployment.find("AWS::Lambda::Function", "Scan")
    response = lifecycle.lam.invoke(FunctionName=function, Payload=b"{}")
    payload = response["Payload"].read()
    assert "FunctionError" not in response, payload
    summary: dict[str, Any] = json.loads(payload)
    assert summary["complete"] and not summary["errors"], summary
    return summary


def _alias(lifecycle: Lifecycle, name: str) -> dict[str, Any]:
    return dict(lifecycle.lam.get_alias(FunctionName=name, Name="live"))


def _setting(lifecycle: Lifecycle, name: str, qualifier: str = "$LATEST") -> dict[str, Any]:
    return dict(lifecycle.lam.get_runtime_management_config(FunctionName=name, Qualifier=qualifier))


def _status(lifecycle: Lifecycle, execution_arn: str) -> str:
    return str(lifecycle.sfn.describe_execution(executionArn=execution_arn)["status"])


def _entered(lifecycle: Lifecycle, execution_arn: str, state: str) -> int:
    history = lifecycle.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)
    return sum(
        1
        for event in history["events"]
        if (event.get("stateEnteredEventDetails") or {}).get("name") == state
    )


def _canary_in_its_first_bake(lifecycle: Lifecycle, name: str) -> tuple[str, str, Pin]:
    """A function behind alias `live` on version 1, pinned, approved, its canary's first step
    applied (alias weighted to the candidate) and baking. Returns (baseline, pinned ARN, pin)."""
    lifecycle.create_function(name)
    lifecycle.pin(name)
    baseline = lifecycle.lam.publish_version(FunctionName=name)["Version"]
    lifecycle.lam.create_alias(FunctionName=name, Name="live", FunctionVersion=baseline)
    pinned = lifecycle.runtime_arn(name)
    wait_for(lambda: lifecycle.pin_record(name), what="the ledger item")
    lifecycle.aws.state.catalog.release("python3.12", "us-east-1")
    lifecycle.advance(14.2, settle=lambda: lifecycle.pending_approval(name))
    approve_pending(lifecycle, name, Principal("oncall-alice"))
    wait_for(
        lambda: (_alias(lifecycle, name).get("RoutingConfig") or {}).get(
            "AdditionalVersionWeights"
        ),
        what="the canary's first traffic step",
    )
    lifecycle.settle()  # parked in the bake's Wait
    pin = lifecycle.pin_record(name)
    assert pin is not None and pin.stage is Stage.CANARY and CANARY_IN_FLIGHT in pin.evidence
    assert _setting(lifecycle, name)["UpdateRuntimeOn"] == "FunctionUpdate"
    return baseline, pinned, pin


def _stop(lifecycle: Lifecycle, pin: Pin) -> None:
    lifecycle.sfn.stop_execution(executionArn=pin.execution_arn, error="operator", cause="oops")
    wait_for(lambda: _status(lifecycle, pin.execution_arn) == "ABORTED", what="the stop")


def _assert_restored(lifecycle: Lifecycle, name: str, baseline: str, pinned: str) -> Pin:
    alias = _alias(lifecycle, name)
    assert alias["FunctionVersion"] == baseline
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    latest = _setting(lifecycle, name)
    assert (latest["UpdateRuntimeOn"], latest.get("RuntimeVersionArn")) == ("Manual", pinned)
    pin = lifecycle.pin_record(name)
    assert pin is not None and pin.is_open and pin.stage is not Stage.CANARY
    assert CANARY_IN_FLIGHT not in pin.evidence
    assert pin.evidence["last_canary"]["restored"]
    return pin


def _weighted(lifecycle: Lifecycle, name: str) -> bool:
    return bool(
        (_alias(lifecycle, name).get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    )


def _restored_by_the_next_scan(
    lifecycle: Lifecycle, name: str, baseline: str, pinned: str, pin: Pin, status: str
) -> None:
    """`pin`'s execution ended `status` mid-canary, leaving the function as the canary had it.
    The next scan restores it exactly and tracks the pin again (a new execution of the same
    episode), opens no pin on the baseline version the canary pinned itself, and leaves a
    second scan nothing to repair."""
    assert _status(lifecycle, pin.execution_arn) == status
    # Nobody else will restore it: the alias is still weighted, the canary's record in place.
    assert _weighted(lifecycle, name)
    held = lifecycle.pin_record(name)
    assert held is not None and CANARY_IN_FLIGHT in held.evidence

    summary = _scan_lambda(lifecycle)

    assert summary["restored"] == [pin.key.id] and summary["opened"] == []
    after = _assert_restored(lifecycle, name, baseline, pinned)
    assert summary["restarted"][pin.key.id] == after.execution_arn != pin.execution_arn
    assert after.generation == pin.generation
    assert _status(lifecycle, after.execution_arn) == "RUNNING"
    records = lifecycle.audit.read(pin_id=pin.key.id)
    repairs = [r for r in records if r.details.get("action") == "canary_restored"]
    assert [r.details.get("execution_status") for r in repairs] == [status]
    assert "rolled_back" in [r.event for r in records]
    assert lifecycle.ledger.get(PinKey(pin.key.function_arn, baseline)) is None
    again = _scan_lambda(lifecycle)
    assert again["restored"] == [] and again["opened"] == [] and again["restarted"] == {}


def test_a_canary_stopped_during_its_first_bake_is_restored_by_the_next_scan(
    lifecycle: Lifecycle,
) -> None:
    baseline, pinned, pin = _canary_in_its_first_bake(lifecycle, "checkout")
    _stop(lifecycle, pin)

    _restored_by_the_next_scan(lifecycle, "checkout", baseline, pinned, pin, "ABORTED")


def test_a_canary_whose_execution_times_out_during_its_first_bake_is_restored_by_the_next_scan(
    lifecycle: Lifecycle,
) -> None:
    """A Standard execution lasts at most a year: this one's year runs out while it is parked
    in the bake's Wait (the emulated clock moves past its deadline). Step Functions ends it
    TIMED_OUT where it waits: no Catch runs, and Rollback never does."""
    baseline, pinned, pin = _canary_in_its_first_bake(lifecycle, "orders")
    started = lifecycle.sfn.describe_execution(executionArn=pin.execution_arn)["startDate"]
    lifecycle.aws.state.clock.set(started + MAX_EXECUTION_DURATION + timedelta(minutes=1))
    wait_for(
        lambda: _status(lifecycle, pin.execution_arn) == "TIMED_OUT",
        what="the execution's year to run out",
    )
    assert _entered(lifecycle, pin.execution_arn, "JudgeStep") == 0  # it ended in the bake

    _restored_by_the_next_scan(lifecycle, "orders", baseline, pinned, pin, "TIMED_OUT")


def _judging(call: faults.Call) -> bool:
    try:
        return bool(json.loads(call.body).get("action") == CanaryAction.JUDGE)
    except (ValueError, AttributeError):
        return False


def _past_the_quota(call: faults.Call, body: bytes) -> bytes:
    """The judge's real reply, carrying more than Step Functions takes from a task."""
    return json.dumps({**json.loads(body), "padding": "x" * MAX_PAYLOAD_BYTES}).encode()


def test_a_canary_whose_execution_fails_where_no_catch_reaches_is_restored_by_the_next_scan(
    lifecycle: Lifecycle,
) -> None:
    """The first JudgeStep runs, but its reply comes back over 256 KiB (a bug of the canary
    function, injected by `faults.answer_with`): the task fails with States.DataLimitExceeded,
    which the task's `States.ALL` Catch does not reach, so the execution FAILS with the alias
    still weighted and Rollback never run."""
    baseline, pinned, pin = _canary_in_its_first_bake(lifecycle, "payments")
    oversized = faults.answer_with("Invoke", _past_the_quota, when=_judging)
    try:
        lifecycle.aws.state.clock.advance(timedelta(minutes=10))  # past the first bake's end
        wait_for(lambda: _status(lifecycle, pin.execution_arn) == "FAILED", what="the failed judge")
    finally:
        faults.disarm(oversized)
    assert oversized.fired == 1
    ended = lifecycle.sfn.describe_execution(executionArn=pin.execution_arn)
    assert ended["error"] == "States.DataLimitExceeded", ended

    _restored_by_the_next_scan(lifecycle, "payments", baseline, pinned, pin, "FAILED")


def _redriven_judge_step(lifecycle: Lifecycle, dead_execution_arn: str) -> dict[str, Any]:
    """What RedriveExecution of `dead_execution_arn` (stopped in the bake) would deliver: the
    Bake Wait re-entered with the `$` it had, then JudgeStep's envelope. The embedded AWS has no
    RedriveExecution (moto implements none), so the canary Lambda is invoked with that
    envelope, as the redriven execution's task would invoke it."""
    history = lifecycle.sfn.get_execution_history(
        executionArn=dead_execution_arn, maxResults=1000, reverseOrder=True
    )["events"]
    bake = next(
        e["stateEnteredEventDetails"]
        for e in history
        if (e.get("stateEnteredEventDetails") or {}).get("name") == "Bake"
    )
    started = lifecycle.sfn.describe_execution(executionArn=dead_execution_arn)["startDate"]
    envelope = {
        "action": str(CanaryAction.JUDGE),
        "state": json.loads(bake["input"]),
        "execution": dead_execution_arn,
        "started_at": started.isoformat(),
    }
    function = lifecycle.deployment.find("AWS::Lambda::Function", "Canary")
    response = lifecycle.lam.invoke(FunctionName=function, Payload=json.dumps(envelope).encode())
    payload = response["Payload"].read()
    assert "FunctionError" not in response, payload
    reply: dict[str, Any] = json.loads(payload)
    return reply


def test_a_redriven_execution_after_the_repair_changes_nothing(lifecycle: Lifecycle) -> None:
    """Step Functions lets a human redrive a stopped, failed or timed-out execution: it resumes
    where it ended with the state it had then. After the scan has restored the canary and
    started another execution for the episode, the redriven one's next canary task acts on
    nothing: the look it asks for would re-record the canary in flight on a restored pin (and
    go on to shift the alias). It is audited and ends as superseded."""
    baseline, pinned, pin = _canary_in_its_first_bake(lifecycle, "ledger")
    _stop(lifecycle, pin)
    _scan_lambda(lifecycle)
    restored = _assert_restored(lifecycle, "ledger", baseline, pinned)
    assert restored.execution_arn != pin.execution_arn
    lifecycle.settle()
    before = mutations.snapshot()

    reply = _redriven_judge_step(lifecycle, pin.execution_arn)

    assert (reply["status"], reply.get("outcome")) == (str(TrackingStatus.CLOSED), "superseded")
    changed = set(mutations.snapshot() - before) - {("lambda", "Invoke")}  # (the delivery)
    assert [call for call in changed if call[0] in {"lambda", "dynamodb", "stepfunctions"}] == []
    assert lifecycle.pin_record("ledger") == restored
    _assert_restored(lifecycle, "ledger", baseline, pinned)
    refused = [
        r
        for r in lifecycle.audit.read(pin_id=pin.key.id)
        if r.event == "refused" and r.details.get("execution_arn") == pin.execution_arn
    ]
    assert [r.details["ledger_execution_arn"] for r in refused] == [restored.execution_arn]


def test_a_failed_pin_with_a_canary_in_flight_is_restored_and_its_baseline_never_opened(
    lifecycle: Lifecycle,
) -> None:
    baseline, pinned, pin = _canary_in_its_first_bake(lifecycle, "billing")
    _stop(lifecycle, pin)
    # What a failure recorded mid-canary leaves: the pin `failed`, the canary's record in place,
    # version `baseline` pinned Manual by the canary itself.
    lifecycle.ledger.update(pin, utc_now(), stage=Stage.FAILED, outcome={"result": "failed"})
    assert _setting(lifecycle, "billing", baseline)["UpdateRuntimeOn"] == "Manual"

    summary = _scan_lambda(lifecycle)

    assert summary["restored"] == [pin.key.id]
    assert summary["opened"] == [] and summary["closed"] == {}
    _assert_restored(lifecycle, "billing", baseline, pinned)
    assert lifecycle.ledger.get(PinKey(pin.key.function_arn, baseline)) is None


def test_a_failed_pin_lifted_while_detection_was_off_is_closed_not_skipped(
    lifecycle: Lifecycle,
) -> None:
    rule = lifecycle.deployment.find("AWS::Events::Rule", "RuntimeConfigChanged")
    lifecycle.create_function("tripped")
    lifecycle.pin("tripped")
    pin = wait_for(lambda: lifecycle.pin_record("tripped"), what="the ledger item")
    lifecycle.settle()
    boto3.client("events").disable_rule(Name=rule)
    try:
        lifecycle.ledger.update(pin, utc_now(), stage=Stage.FAILED, outcome={"result": "failed"})
        _stop(lifecycle, pin)
        lifecycle.lift("tripped")

        summary = _scan_lambda(lifecycle)
    finally:
        boto3.client("events").enable_rule(Name=rule)

    assert summary["closed"] == {pin.key.id: "lifted"}
    closed = lifecycle.pin_record("tripped")
    assert closed is not None and closed.stage is Stage.LIFTED


DENY_INVOKE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": "*"}],
}


def _after(lifecycle: Lifecycle, step: timedelta, check: Callable[[], bool]) -> Callable[[], bool]:
    """A wait_for condition that first lets `step` of emulated time pass."""

    def moved_then_checked() -> bool:
        lifecycle.aws.state.clock.advance(step)
        return check()

    return moved_then_checked


def test_a_canary_whose_role_loses_lambda_invoke_keeps_rolling_back_until_it_restores(
    lifecycle: Lifecycle,
) -> None:
    """Mid-bake, a change to the state machine's role denies it lambda:InvokeFunction (IAM is
    enforced). The judge's task is refused, and so is every Rollback: the execution neither
    dies nor gives up, it waits and tries again. Once the role is mended, the next attempt
    restores the function exactly, with the ledger back to tracking."""
    baseline, pinned, pin = _canary_in_its_first_bake(lifecycle, "inventory")
    role = lifecycle.sfn.describe_state_machine(stateMachineArn=lifecycle.state_machine_arn)[
        "roleArn"
    ].rsplit("/", 1)[1]
    iam = boto3.client("iam")
    iam.put_role_policy(RoleName=role, PolicyName="broken", PolicyDocument=json.dumps(DENY_INVOKE))
    try:
        wait_for(
            _after(
                lifecycle,
                timedelta(minutes=30),
                lambda: _entered(lifecycle, pin.execution_arn, "Rollback") >= 3,
            ),
            what="three refused rollbacks",
        )
        assert _status(lifecycle, pin.execution_arn) == "RUNNING"
        # Nothing restored yet: the alias still weighted, the canary's record in place.
        assert _weighted(lifecycle, "inventory")
        held = lifecycle.pin_record("inventory")
        assert held is not None and CANARY_IN_FLIGHT in held.evidence
    finally:
        iam.delete_role_policy(RoleName=role, PolicyName="broken")

    wait_for(
        _after(
            lifecycle,
            timedelta(hours=1),
            lambda: CANARY_IN_FLIGHT not in (lifecycle.pin_record("inventory") or pin).evidence,
        ),
        what="the rollback after the role is mended",
    )
    lifecycle.settle()
    _assert_restored(lifecycle, "inventory", baseline, pinned)
    assert _status(lifecycle, pin.execution_arn) == "RUNNING"  # tracking goes on
