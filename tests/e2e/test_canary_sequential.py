"""The sequential judge on the embedded AWS (`canary.judge: sequential`, docs/judge.md).

The deployed state machine looks every `look_interval` (its Bake/JudgeStep Wait loop); each look
folds the settled minutes of both versions' `AWS/Lambda` counts into the judge's evidence. A
healthy busy function is promoted at the first look that suffices, whatever the step; a 0.1% →
1% regression is rolled back exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from rollforward.ledger import Stage

from emulator.inprocess import EmbeddedAws
from emulator.stack import deploy_rollforward
from emulator.traffic import generate_traffic
from tests.e2e.conftest import TEST_POLICY
from tests.e2e.harness import Lifecycle, Principal, approve_pending, wait_for

SERVE = timedelta(minutes=10)
POLICY = {**TEST_POLICY, "canary": {"judge": "sequential"}}


@pytest.fixture
def lifecycle() -> Iterator[Lifecycle]:
    with EmbeddedAws() as aws:
        yield Lifecycle(aws, deploy_rollforward(context={"policy": POLICY}))


def _to_canary(
    lifecycle: Lifecycle, *, baseline_error_rate: float, candidate_error_rate: float
) -> str:
    catalog = lifecycle.aws.state.catalog
    catalog.release("python3.12", "us-east-1", error_rate=baseline_error_rate)
    lifecycle.create_function("checkout")
    lifecycle.pin("checkout")
    baseline = lifecycle.lam.publish_version(FunctionName="checkout")["Version"]
    lifecycle.lam.create_alias(FunctionName="checkout", Name="live", FunctionVersion=baseline)
    wait_for(lambda: lifecycle.pin_record("checkout"), what="the ledger item")
    catalog.release("python3.12", "us-east-1", error_rate=candidate_error_rate)
    lifecycle.advance(14.2, settle=lambda: lifecycle.pending_approval("checkout"))
    approve_pending(lifecycle, "checkout", Principal("oncall-alice"))
    return str(baseline)


def _serve_until(lifecycle: Lifecycle, rps: float, done: object) -> None:
    for _ in range(12):
        lifecycle.settle()
        if done():  # type: ignore[operator]
            return
        generate_traffic("checkout", "live", rps, SERVE)
    lifecycle.settle()
    assert done(), "the canary did not end"  # type: ignore[operator]


def _looks(canary: dict) -> list[dict]:
    return [v for v in canary["verdicts"] if v.get("look")]


def test_a_busy_healthy_function_is_promoted_at_the_first_look_that_suffices(lifecycle: Lifecycle):
    baseline = _to_canary(lifecycle, baseline_error_rate=0.001, candidate_error_rate=0.001)
    _serve_until(lifecycle, 100, lambda: not lifecycle.pin_record("checkout").is_open)

    pin = lifecycle.pin_record("checkout")
    assert pin.stage is Stage.RESOLVED
    canary = pin.evidence["canary"]
    assert canary["judge"] == "sequential"
    looks = _looks(canary)
    assert looks and looks[-1]["outcome"] == "PASS"
    assert {v["outcome"] for v in looks[:-1]} <= {"CONTINUE"}
    # Promoted before the plan's last weight: the evidence ruled out the regression early.
    assert canary["step_index"] < 2 and len(looks) <= 3
    assert looks[-1]["candidate_invocations"] >= 528
    alias = lifecycle.lam.get_alias(FunctionName="checkout", Name="live")
    assert alias["FunctionVersion"] != baseline
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    latest = lifecycle.lam.get_runtime_management_config(FunctionName="checkout")
    assert latest["UpdateRuntimeOn"] == "Auto"
    started = [n for n in lifecycle.notices("owner") if n["kind"] == "canary_started"]
    # The plan, told to the owner (a function created for this test has no traffic history).
    assert canary["plan_summary"].startswith("no invocations in the last 7 days")
    assert started and canary["plan_summary"] in str(started[0])
    steps = [r.details.get("step", "") for r in lifecycle.audit.read(pin_id=pin.key.id)]
    assert any(str(s).startswith("look 1") for s in steps)


def test_a_tenfold_regression_is_rolled_back_exactly(lifecycle: Lifecycle):
    baseline = _to_canary(lifecycle, baseline_error_rate=0.001, candidate_error_rate=0.01)
    pinned = lifecycle.pin_record("checkout").pinned_runtime_version_arn
    _serve_until(lifecycle, 100, lambda: "last_canary" in lifecycle.pin_record("checkout").evidence)

    pin = lifecycle.pin_record("checkout")
    assert pin.is_open and pin.stage is not Stage.RESOLVED
    last = pin.evidence["last_canary"]
    assert _looks(last)[-1]["outcome"] == "FAIL"
    assert "error rate regressed" in last["rolled_back_because"]
    alias = lifecycle.lam.get_alias(FunctionName="checkout", Name="live")
    assert alias["FunctionVersion"] == baseline
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    latest = lifecycle.lam.get_runtime_management_config(FunctionName="checkout")
    assert latest["UpdateRuntimeOn"] == "Manual" and latest["RuntimeVersionArn"] == pinned
