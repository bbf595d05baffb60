"""Lifecycle II on the embedded AWS: the canary promotes, rolls back, or stops (issue 4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rollforward.canary.judge import Outcome
from rollforward.ledger import Stage

from emulator.inprocess import EmbeddedAws
from emulator.stack import deploy_rollforward
from emulator.traffic import generate_traffic
from tests.e2e.conftest import TEST_POLICY
from tests.e2e.harness import (
    Lifecycle,
    Principal,
    approve_pending,
    wait_for,
    wait_until_updated,
)

BAKE = timedelta(minutes=10)
# As the owner's stack wrote it: a canary, promoted or rolled back, leaves it so on `$LATEST`.
OWNERS_DESCRIPTION = "checkout API (payments team)"


def _aliased_function(lifecycle: Lifecycle, name: str = "checkout") -> str:
    """A function serving through alias `live` on version 1, pinned on $LATEST."""
    lifecycle.create_function(name)
    lifecycle.lam.update_function_configuration(FunctionName=name, Description=OWNERS_DESCRIPTION)
    wait_until_updated(lifecycle.lam, name)
    lifecycle.pin(name)
    version = lifecycle.lam.publish_version(FunctionName=name)["Version"]
    lifecycle.lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    wait_for(lambda: lifecycle.pin_record(name), what="the ledger item")
    return version


def _to_canary(lifecycle: Lifecycle, name: str, approver: Principal, **extra) -> None:
    lifecycle.advance(14.2, settle=lambda: lifecycle.pending_approval(name))
    approve_pending(lifecycle, name, approver, **extra)


def _canary_stage(lifecycle: Lifecycle, name: str) -> Stage:
    return lifecycle.pin_record(name).stage


def _bake_with_traffic(lifecycle: Lifecycle, name: str, rps: float, *, until) -> None:
    """Serve traffic through the alias bake by bake until `until()` holds."""
    for _ in range(12):
        lifecycle.settle()
        if until():
            return
        generate_traffic(name, "live", rps, BAKE)
    lifecycle.settle()
    assert until(), "the canary did not reach the expected end"


def _alias(lifecycle: Lifecycle, name: str) -> dict:
    return lifecycle.lam.get_alias(FunctionName=name, Name="live")


def _description(lifecycle: Lifecycle, name: str, qualifier: str = "$LATEST") -> str:
    config = lifecycle.lam.get_function_configuration(FunctionName=name, Qualifier=qualifier)
    return str(config.get("Description", ""))


def _setting(lifecycle: Lifecycle, name: str, qualifier: str = "$LATEST") -> dict:
    return lifecycle.lam.get_runtime_management_config(FunctionName=name, Qualifier=qualifier)


def test_a_good_new_runtime_is_promoted_and_verified(lifecycle: Lifecycle):
    baseline = _aliased_function(lifecycle)
    pinned = lifecycle.runtime_arn("checkout")
    released = lifecycle.aws.state.catalog.release("python3.12", "us-east-1")
    _to_canary(lifecycle, "checkout", Principal("oncall-alice"))

    _bake_with_traffic(
        lifecycle, "checkout", 100, until=lambda: not lifecycle.pin_record("checkout").is_open
    )

    pin = lifecycle.pin_record("checkout")
    assert pin.stage is Stage.RESOLVED
    alias = _alias(lifecycle, "checkout")
    candidate = alias["FunctionVersion"]
    assert candidate != baseline and not (alias.get("RoutingConfig") or {}).get(
        "AdditionalVersionWeights"
    )
    assert _setting(lifecycle, "checkout")["UpdateRuntimeOn"] == "Auto"
    assert _setting(lifecycle, "checkout", candidate)["UpdateRuntimeOn"] == "Auto"
    new_arn = lifecycle.lam.get_function(FunctionName="checkout", Qualifier=candidate)[
        "Configuration"
    ]["RuntimeVersionConfig"]["RuntimeVersionArn"]
    assert new_arn != pinned and new_arn in {v.arn for v in released}
    canary = pin.evidence["canary"]
    assert canary["candidate_runtime_arn"] == new_arn
    assert [v["outcome"] for v in canary["verdicts"]][-1] in {Outcome.PASS, Outcome.INCONCLUSIVE}
    events = [r.event for r in lifecycle.audit.read(pin_id=pin.key.id)]
    assert "promoted" in events and "resolved" in events and "rolled_back" not in events
    assert lifecycle.executions("SUCCEEDED")
    assert _description(lifecycle, "checkout") == OWNERS_DESCRIPTION
    assert _description(lifecycle, "checkout", candidate).startswith("rollforward candidate")


def test_a_broken_new_runtime_is_rolled_back_exactly(lifecycle: Lifecycle):
    baseline = _aliased_function(lifecycle)
    pinned = lifecycle.runtime_arn("checkout")
    lifecycle.aws.state.catalog.release("python3.12", "us-east-1", error_rate=0.05)
    _to_canary(lifecycle, "checkout", Principal("oncall-alice"))

    _bake_with_traffic(
        lifecycle,
        "checkout",
        20,
        until=lambda: "last_canary" in lifecycle.pin_record("checkout").evidence,
    )

    pin = lifecycle.pin_record("checkout")
    assert pin.is_open and pin.stage in {Stage.TRACKING, Stage.AWAITING_APPROVAL}
    alias = _alias(lifecycle, "checkout")
    assert alias["FunctionVersion"] == baseline
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    setting = _setting(lifecycle, "checkout")
    assert setting["UpdateRuntimeOn"] == "Manual" and setting["RuntimeVersionArn"] == pinned
    assert _description(lifecycle, "checkout") == OWNERS_DESCRIPTION
    evidence = pin.evidence["last_canary"]
    assert "error" in evidence["rolled_back_because"]
    assert any(v["outcome"] == Outcome.FAIL for v in evidence["verdicts"])
    owner = [n["kind"] for n in lifecycle.notices("owner")]
    assert "rolled_back" in owner
    assert "rolled_back" in [r.event for r in lifecycle.audit.read(pin_id=pin.key.id)]


def test_too_little_traffic_is_inconclusive_and_never_promotes():
    # The sequential judge decides INCONCLUSIVE only at the plan's end: a one-hour plan.
    policy = {**TEST_POLICY, "canary": {"max_duration": "1h"}}
    with EmbeddedAws() as aws:
        lifecycle = Lifecycle(aws, deploy_rollforward(context={"policy": policy}))
        _too_little_traffic(lifecycle)


def _too_little_traffic(lifecycle: Lifecycle) -> None:
    baseline = _aliased_function(lifecycle)
    lifecycle.aws.state.catalog.release("python3.12", "us-east-1")
    _to_canary(lifecycle, "checkout", Principal("oncall-alice"))

    _bake_with_traffic(
        lifecycle,
        "checkout",
        0.2,
        until=lambda: "last_canary" in lifecycle.pin_record("checkout").evidence,
    )

    pin = lifecycle.pin_record("checkout")
    assert pin.stage is not Stage.RESOLVED
    last = pin.evidence["last_canary"]
    assert last["next"] == "ask_human" and last["verdicts"][-1]["outcome"] == "INCONCLUSIVE"
    assert {v["outcome"] for v in last["verdicts"][:-1]} <= {"CONTINUE"}  # never a pass
    assert "undecided at the plan's end" in last["rolled_back_because"]
    assert _alias(lifecycle, "checkout")["FunctionVersion"] == baseline
    assert _setting(lifecycle, "checkout")["UpdateRuntimeOn"] == "Manual"
    oncall = [n["kind"] for n in lifecycle.notices("oncall")]
    assert "rolled_back" in oncall  # on-call is told a human decision is needed


def test_unpublished_changes_stop_before_any_change(lifecycle: Lifecycle):
    baseline = _aliased_function(lifecycle)
    lifecycle.aws.state.catalog.release("python3.12", "us-east-1")
    lifecycle.lam.update_function_configuration(FunctionName="checkout", MemorySize=1024)
    before_versions = lifecycle.lam.list_versions_by_function(FunctionName="checkout")["Versions"]
    _to_canary(lifecycle, "checkout", Principal("oncall-alice"))

    pin = wait_for(
        lambda: (p := lifecycle.pin_record("checkout")) and "stopped" in p.evidence and p
    )
    assert "unpublished changes" in pin.evidence["stopped"]["reason"]
    assert "MemorySize" in pin.evidence["stopped"]["reason"]
    assert (
        lifecycle.lam.list_versions_by_function(FunctionName="checkout")["Versions"]
        == before_versions
    )
    assert _alias(lifecycle, "checkout")["FunctionVersion"] == baseline
    assert _setting(lifecycle, "checkout")["UpdateRuntimeOn"] == "Manual"
    seen: list[str] = []
    wait_for(
        lambda: seen.extend(n["kind"] for n in lifecycle.notices("owner")) or "stopped" in seen,
        what="the owner's 'stopped' notice",
    )


@pytest.mark.parametrize("change", ["alias", "pin"])
def test_a_human_changing_things_mid_canary_gets_them_handed_back(
    lifecycle: Lifecycle, change: str
):
    _aliased_function(lifecycle)
    lifecycle.aws.state.catalog.release("python3.12", "us-east-1")
    _to_canary(lifecycle, "checkout", Principal("oncall-alice"))
    wait_for(lambda: _canary_stage(lifecycle, "checkout") is Stage.CANARY, what="the canary")
    lifecycle.settle()
    if change == "alias":
        # A human ships their own version and points the alias at it mid-canary.
        lifecycle.lam.update_function_configuration(FunctionName="checkout", Description="hotfix")
        wait_until_updated(lifecycle.lam, "checkout")
        hotfix = lifecycle.lam.publish_version(FunctionName="checkout")["Version"]
        lifecycle.lam.update_alias(
            FunctionName="checkout",
            Name="live",
            FunctionVersion=hotfix,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )
    else:
        lifecycle.lift("checkout")
    generate_traffic("checkout", "live", 5, BAKE)
    if change == "alias":
        pin = wait_for(
            lambda: (p := lifecycle.pin_record("checkout")) and "last_canary" in p.evidence and p
        )
    else:
        pin = wait_for(lambda: (p := lifecycle.pin_record("checkout")) and not p.is_open and p)
    restored = pin.evidence["last_canary"]["restored"]
    if change == "alias":
        assert any("left as a human set it" in r for r in restored)
        assert _alias(lifecycle, "checkout")["FunctionVersion"] == hotfix
    else:
        assert _setting(lifecycle, "checkout")["UpdateRuntimeOn"] == "Auto"  # not fought
        assert not pin.is_open and pin.stage is Stage.LIFTED
