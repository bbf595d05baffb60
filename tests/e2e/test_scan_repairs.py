"""The scan repairs what a dead execution left behind (issue 11, item 4), on the strict embedded
AWS, through the deployed Scan Lambda (its own role: it may invoke the canary's rollback, not
change functions itself):

- a canary whose execution was stopped mid-bake (alias weighted, `$LATEST` in FunctionUpdate,
  ledger `canary`) is restored exactly and tracked again;
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
from rollforward.detection.observation import CANARY_IN_FLIGHT
from rollforward.ledger import Pin, Stage
from rollforward.model import PinKey

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


def test_a_canary_stopped_during_its_first_bake_is_restored_by_the_next_scan(
    lifecycle: Lifecycle,
) -> None:
    baseline, pinned, pin = _canary_in_its_first_bake(lifecycle, "checkout")
    _stop(lifecycle, pin)

    summary = _scan_lambda(lifecycle)

    assert summary["restored"] == [pin.key.id]
    after = _assert_restored(lifecycle, "checkout", baseline, pinned)
    # Tracking goes on: a new execution of the same episode.
    assert summary["restarted"][pin.key.id] == after.execution_arn != pin.execution_arn
    assert after.generation == pin.generation
    assert _status(lifecycle, after.execution_arn) == "RUNNING"
    actions = [r.details.get("action") for r in lifecycle.audit.read(pin_id=pin.key.id)]
    assert "canary_restored" in actions
    assert "rolled_back" in [r.event for r in lifecycle.audit.read(pin_id=pin.key.id)]
    # A second scan finds nothing left to repair.
    again = _scan_lambda(lifecycle)
    assert again["restored"] == [] and again["opened"] == [] and again["restarted"] == {}


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


def _entered(lifecycle: Lifecycle, execution_arn: str, state: str) -> int:
    history = lifecycle.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)
    return sum(
        1
        for event in history["events"]
        if (event.get("stateEnteredEventDetails") or {}).get("name") == state
    )


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
        assert (_alias(lifecycle, "inventory").get("RoutingConfig") or {}).get(
            "AdditionalVersionWeights"
        )
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
