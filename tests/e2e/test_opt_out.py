"""The opt-out tag (`rollforward:opt-out` = reason): a function carrying it is never moved.

Detection records it as opted out (ledger, audit, the owner told once) and starts no ladder; a
tag added while the ladder runs ends the episode at the next rung; a tag added mid-canary
makes the next judge step refuse, and the rollback leaves the function exactly as it was.
"""

from __future__ import annotations

import json
from datetime import timedelta

from rollforward.ledger import Stage
from rollforward.model import STOP_ERROR_PREFIX

from emulator.traffic import generate_traffic
from tests.e2e.harness import Lifecycle, Principal, approve_pending, wait_for

OPT_OUT = "rollforward:opt-out"
REASON = "regulated: changes go through the change board"


def _scan(lifecycle: Lifecycle) -> dict[str, object]:
    response = lifecycle.lam.invoke(
        FunctionName=lifecycle.deployment.find("AWS::Lambda::Function", "Scan"), Payload=b"{}"
    )
    assert "FunctionError" not in response
    return dict(json.loads(response["Payload"].read()))


def _events(lifecycle: Lifecycle, name: str) -> list[str]:
    return [r.event for r in lifecycle.audit.read(pin_id=lifecycle.key(name).id)]


def _setting(lifecycle: Lifecycle, name: str) -> dict[str, object]:
    setting = lifecycle.lam.get_runtime_management_config(FunctionName=name)
    return {k: v for k, v in setting.items() if k != "ResponseMetadata"}


def test_a_tagged_function_is_recorded_once_and_never_tracked(lifecycle: Lifecycle) -> None:
    arn = lifecycle.create_function("ledger-core")
    lifecycle.lam.tag_resource(Resource=arn, Tags={OPT_OUT: REASON})
    lifecycle.pin("ledger-core")
    pinned = _setting(lifecycle, "ledger-core")

    pin = lifecycle.pin_record("ledger-core")
    assert pin is not None and pin.stage is Stage.OPTED_OUT and not pin.is_open
    assert pin.outcome["detail"] == REASON
    assert not lifecycle.executions()
    assert [n["kind"] for n in lifecycle.notices("owner")] == ["opted_out"]
    assert _events(lifecycle, "ledger-core") == ["opted_out"]

    # Weeks pass and the scan runs: nothing moves, nobody is told again.
    lifecycle.advance(15, step_days=5)
    _scan(lifecycle)
    again = lifecycle.pin_record("ledger-core")
    assert again is not None and again.stage is Stage.OPTED_OUT
    assert again.generation == pin.generation
    assert not lifecycle.executions() and not lifecycle.notices("owner")
    assert _events(lifecycle, "ledger-core") == ["opted_out"]
    assert _setting(lifecycle, "ledger-core") == pinned

    # The owner removes the tag: the next scan tracks the pin (a new episode).
    lifecycle.lam.untag_resource(Resource=arn, TagKeys=[OPT_OUT])
    _scan(lifecycle)
    tracked = lifecycle.pin_record("ledger-core")
    assert tracked is not None and tracked.stage is Stage.TRACKING
    assert tracked.generation == pin.generation + 1
    assert [e["status"] for e in lifecycle.executions()] == ["RUNNING"]


def test_a_tag_added_while_the_ladder_runs_stops_it(lifecycle: Lifecycle) -> None:
    arn = lifecycle.create_function("checkout")
    lifecycle.pin("checkout")
    pinned = _setting(lifecycle, "checkout")
    lifecycle.advance(4)
    assert lifecycle.pin_record("checkout").stage is Stage.TRACKING  # type: ignore[union-attr]
    lifecycle.notices("owner")

    lifecycle.lam.tag_resource(Resource=arn, Tags={OPT_OUT: REASON})
    lifecycle.advance(4)  # the next rung (day 7) checks the tag first

    pin = lifecycle.pin_record("checkout")
    assert pin is not None and pin.stage is Stage.OPTED_OUT and not pin.is_open
    wait_for(lambda: not lifecycle.executions("RUNNING"), what="the ladder to end")
    (execution,) = lifecycle.executions()
    described = lifecycle.sfn.describe_execution(executionArn=execution["executionArn"])
    # Ended as rollforward ends its own executions: never a page.
    assert described["status"] == "SUCCEEDED" or (
        described["status"] == "ABORTED" and described["error"].startswith(STOP_ERROR_PREFIX)
    ), described
    assert [n["kind"] for n in lifecycle.notices("owner")] == ["opted_out"]
    assert not lifecycle.notices("team")  # the day-7 rung was not sent
    assert "opted_out" in _events(lifecycle, "checkout")
    assert _setting(lifecycle, "checkout") == pinned


def test_a_tag_added_mid_canary_rolls_back_to_exactly_as_it_was(lifecycle: Lifecycle) -> None:
    arn = lifecycle.create_function("checkout")
    lifecycle.pin("checkout")
    baseline = lifecycle.lam.publish_version(FunctionName="checkout")["Version"]
    lifecycle.lam.create_alias(FunctionName="checkout", Name="live", FunctionVersion=baseline)
    pinned = _setting(lifecycle, "checkout")
    lifecycle.aws.state.catalog.release("python3.12", "us-east-1")
    lifecycle.advance(14.2, settle=lambda: lifecycle.pending_approval("checkout"))
    approve_pending(lifecycle, "checkout", Principal("oncall-alice"))
    lifecycle.settle()
    alias = lifecycle.lam.get_alias(FunctionName="checkout", Name="live")
    assert (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights"), "no canary step"

    lifecycle.lam.tag_resource(Resource=arn, Tags={OPT_OUT: REASON})
    for _ in range(4):
        generate_traffic("checkout", "live", 50, timedelta(minutes=10))
        lifecycle.settle()
        if not lifecycle.pin_record("checkout").is_open:  # type: ignore[union-attr]
            break

    pin = lifecycle.pin_record("checkout")
    assert pin is not None and pin.stage is Stage.OPTED_OUT
    assert "opt-out" in pin.evidence["last_canary"]["rolled_back_because"]
    alias = lifecycle.lam.get_alias(FunctionName="checkout", Name="live")
    assert alias["FunctionVersion"] == baseline
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert _setting(lifecycle, "checkout") == pinned
    events = _events(lifecycle, "checkout")
    assert "rolled_back" in events and "opted_out" in events and "promoted" not in events
