"""The synthetic canary, for functions invoked unqualified (no alias) — docs/design.md §2, issue 4.

The candidate version is invoked with the owner's test events (an SSM parameter named by the
function's `rollforward:test-events` tag, holding a JSON list); if they pass, `$LATEST` goes Auto
and is baked against its own earlier window. With no test events, only an approval that says
`accept_untested: true` may roll forward on a bake alone; a plain approval stops before any
change, and says why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest
from rollforward.canary.state import IN_FLIGHT
from rollforward.ledger import Pin, Stage

from emulator import faults
from emulator.inprocess import EmbeddedAws
from emulator.stack import deploy_rollforward
from emulator.traffic import generate_traffic
from tests.e2e.harness import Lifecycle, Principal, approve_pending, wait_for
from tests.e2e.test_canary_faults import FAULT_POLICY

TEST_EVENTS_TAG = "rollforward:test-events"
POST_PROMOTION_BAKE = timedelta(minutes=15)
EVENTS = [{"order": 1, "amount": 12.5}, {"order": 2, "amount": 0}, {"refund": 3}]


@dataclass(frozen=True)
class World:
    lifecycle: Lifecycle
    approver: Principal


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """One deployment (approval is requested at once: a one-rung ladder); one function a test."""
    with EmbeddedAws() as aws:
        lifecycle = Lifecycle(aws, deploy_rollforward(context={"policy": FAULT_POLICY}))
        yield World(lifecycle, Principal("oncall-alice"))


@dataclass
class Unqualified:
    """An alias-less function pinned on `$LATEST`, waiting for approval."""

    lifecycle: Lifecycle
    name: str
    pinned_arn: str

    def setting(self) -> dict[str, Any]:
        return dict(
            self.lifecycle.lam.get_runtime_management_config(
                FunctionName=self.name, Qualifier="$LATEST"
            )
        )

    def versions(self) -> list[str]:
        listed = self.lifecycle.lam.list_versions_by_function(FunctionName=self.name)["Versions"]
        return [str(v["Version"]) for v in listed]

    def pin(self) -> Pin:
        pin = self.lifecycle.pin_record(self.name)
        assert pin is not None
        return pin

    def canary_over(self) -> Pin | None:
        pin = self.pin()
        return (
            pin
            if (not pin.is_open or "last_canary" in pin.evidence or "stopped" in pin.evidence)
            else None
        )


def _unqualified(
    world: World,
    name: str,
    *,
    test_events: list[Any] | None,
    error_rate: float = 0.0,
    rps: float = 2,
) -> Unqualified:
    lifecycle = world.lifecycle
    catalog = lifecycle.aws.state.catalog
    catalog.release("python3.12", "us-east-1")  # a healthy baseline, whatever another test released
    arn = lifecycle.create_function(name)
    if test_events is not None:
        parameter = f"/rollforward/test-events/{name}"
        boto3.client("ssm").put_parameter(
            Name=parameter, Value=json.dumps(test_events), Type="String"
        )
        lifecycle.lam.tag_resource(Resource=arn, Tags={TEST_EVENTS_TAG: parameter})
    lifecycle.pin(name)
    function = Unqualified(lifecycle, name, lifecycle.runtime_arn(name))
    wait_for(lambda: lifecycle.pending_approval(name), what="the approval request")
    lifecycle.settle()
    # Recent traffic before the canary: the window the post-promotion bake is compared against.
    generate_traffic(name, None, rps, POST_PROMOTION_BAKE)
    catalog.release("python3.12", "us-east-1", error_rate=error_rate)
    return function


def _roll(world: World, function: Unqualified, rps: float = 2, **decision: Any) -> Pin:
    """Approve, then serve unqualified traffic bake by bake until the canary is over."""
    lifecycle = function.lifecycle
    approve_pending(lifecycle, function.name, world.approver, **decision)
    for _ in range(6):
        lifecycle.settle()
        if (pin := function.canary_over()) is not None:
            return pin
        generate_traffic(function.name, None, rps, POST_PROMOTION_BAKE)
    lifecycle.settle()
    pin = function.canary_over()
    assert pin is not None, f"the canary did not finish: {function.pin()}"
    return pin


def test_a_good_runtime_passes_its_test_events_and_is_promoted(world: World) -> None:
    function = _unqualified(world, "orders", test_events=EVENTS)

    pin = _roll(world, function)

    assert pin.stage is Stage.RESOLVED
    assert function.setting()["UpdateRuntimeOn"] == "Auto"
    canary = pin.evidence["canary"]
    assert (
        canary["strategy"] == "synthetic" and canary["candidate_runtime_arn"] != function.pinned_arn
    )
    steps = [
        r.details for r in world.lifecycle.audit.read(pin_id=pin.key.id) if r.event == "canary_step"
    ]
    synthetic = next(step for step in steps if step.get("step") == "synthetic")
    assert synthetic["events"] == len(EVENTS) and synthetic["failures"] == []


def test_a_broken_runtime_fails_its_test_events_and_is_rolled_back(world: World) -> None:
    function = _unqualified(world, "refunds", test_events=EVENTS, error_rate=1.0)

    pin = _roll(world, function)

    assert pin.is_open and pin.stage is not Stage.RESOLVED
    setting = function.setting()
    assert (
        setting["UpdateRuntimeOn"] == "Manual"
        and setting["RuntimeVersionArn"] == function.pinned_arn
    )
    last = pin.evidence["last_canary"]
    assert last["strategy"] == "synthetic"
    assert last["rolled_back_because"] == "test events [0, 1, 2] failed on the candidate runtime"
    assert any("$LATEST Manual" in restored for restored in last["restored"])


def test_no_test_events_and_a_plain_approval_stops_before_any_change(world: World) -> None:
    function = _unqualified(world, "reports", test_events=None)
    versions_before = function.versions()

    pin = _roll(world, function)

    reason = pin.evidence["stopped"]["reason"]
    assert "accept_untested" in reason and TEST_EVENTS_TAG in reason
    assert function.versions() == versions_before  # not even a baseline was published
    setting = function.setting()
    assert (
        setting["UpdateRuntimeOn"] == "Manual"
        and setting["RuntimeVersionArn"] == function.pinned_arn
    )
    assert pin.is_open


def test_accept_untested_in_the_decision_rolls_forward_on_the_bake_alone(world: World) -> None:
    function = _unqualified(world, "nightly", test_events=None)
    approval = wait_for(lambda: world.lifecycle.pending_approval(function.name))
    status, body = world.lifecycle.decide(
        world.approver,
        action="approve",
        approval_id=approval["approval_id"],
        reason="ok",
        accept_untested="yes",
    )
    assert status == 400 and "accept_untested" in body["refused"]  # only a JSON boolean counts

    pin = _roll(world, function, accept_untested=True)

    assert pin.stage is Stage.RESOLVED
    assert function.setting()["UpdateRuntimeOn"] == "Auto"
    assert pin.evidence["approval"]["accept_untested"] is True
    assert pin.evidence["canary"]["accept_untested"] is True
    approved = [r for r in world.lifecycle.audit.read(pin_id=pin.key.id) if r.event == "approved"]
    assert approved and approved[-1].details["accept_untested"] is True


def test_a_throttled_start_is_retried_and_resumes_on_the_same_baseline(world: World) -> None:
    function = _unqualified(world, "ledger-sync", test_events=EVENTS)
    with faults.retries_on_virtual_clock():
        # The candidate's PublishVersion (the baseline's is the first) outlasts botocore's retries:
        # Step Functions retries StartCanary, which finds its own half-made candidate.
        throttle = faults.inject(
            "PublishVersion", "TooManyRequestsException", 12, function=function.name, after=1
        )
        try:
            pin = _roll(world, function)
        finally:
            faults.clear()

    assert throttle.fired == 12
    assert pin.stage is Stage.RESOLVED
    canary = pin.evidence["canary"]
    assert (canary["baseline_version"], canary["candidate_version"]) == ("1", "2")
    assert function.versions() == ["$LATEST", "1", "2"]  # no second "baseline" of a moved $LATEST
    assert canary["baseline_setting"]["UpdateRuntimeOn"] == "Manual"
    assert IN_FLIGHT not in pin.evidence


def test_a_one_percent_regression_after_the_move_is_rolled_back_exactly(world: World) -> None:
    """Issue 11 (a 1% regression rolled back exactly in each strategy): unqualified, approved to
    roll forward on the bake alone, the new runtime errs on 1% of calls. The post-promotion bake
    compares the function's own traffic with the span before; Verify fails, and Rollback puts
    `$LATEST` back exactly as it was, running the pinned runtime version again. (At 2/s, 1,800
    calls a bake, the fixed-horizon judge does not call 1% against 0% a FAIL, and an
    inconclusive verdict after promotion is accepted: 4/s, as the version_synthetic e2e.)"""
    function = _unqualified(world, "invoices", test_events=None, error_rate=0.01, rps=4)

    pin = _roll(world, function, rps=4, accept_untested=True)

    assert pin.is_open and pin.stage is Stage.TRACKING, (pin.stage, pin.evidence)
    last = pin.evidence["last_canary"]
    assert last["strategy"] == "synthetic" and last["promoted"] is True
    assert last["verdicts"][-1]["step"] == "post-promotion"
    assert last["verdicts"][-1]["outcome"] == "FAIL", last["verdicts"]
    assert last["rolled_back_because"].startswith("after promotion")
    setting = function.setting()
    assert (setting["UpdateRuntimeOn"], setting["RuntimeVersionArn"]) == (
        "Manual",
        function.pinned_arn,
    )
    configuration = world.lifecycle.lam.get_function(FunctionName=function.name)["Configuration"]
    assert configuration["RuntimeVersionConfig"]["RuntimeVersionArn"] == function.pinned_arn
