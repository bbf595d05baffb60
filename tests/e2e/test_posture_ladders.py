"""The table's rows on the ladder, on the emulated clock: a FunctionUpdate function left behind
gets its own ladder and, approved, is switched to Auto behind the canary (issue 13)."""

from __future__ import annotations

import json
from datetime import timedelta

from rollforward.ledger import PinKind, Stage

from emulator.traffic import generate_traffic
from tests.e2e.harness import REGION, Lifecycle, Principal, approve_pending

NAME = "ledger-sync"
BAKE = timedelta(minutes=10)


def _run_posture(lifecycle: Lifecycle) -> dict[str, object]:
    function = lifecycle.deployment.find("AWS::Lambda::Function", "Posture")
    answer = lifecycle.lam.invoke(FunctionName=function, Payload=b"{}")
    assert "FunctionError" not in answer, answer["Payload"].read()
    return dict(json.loads(answer["Payload"].read()))


def test_a_function_update_function_left_behind_is_switched_to_auto_behind_a_canary(
    lifecycle: Lifecycle,
) -> None:
    lam = lifecycle.lam
    lifecycle.create_function(NAME, owner="ledger@example.com", team="finance")
    lam.put_runtime_management_config(FunctionName=NAME, UpdateRuntimeOn="FunctionUpdate")
    baseline = lam.publish_version(FunctionName=NAME)["Version"]
    lam.create_alias(FunctionName=NAME, Name="live", FunctionVersion=baseline)
    lifecycle.aws.state.drain()
    old = lifecycle.runtime_arn(NAME)
    # 31 days without a deploy; AWS releases a new runtime version; another function is
    # deployed and gets it (phase 1): the newest version this fleet has seen.
    lifecycle.aws.state.clock.advance(timedelta(days=31))
    lifecycle.aws.state.catalog.release("python3.12", REGION)
    lifecycle.create_function("orders")

    summary = _run_posture(lifecycle)

    assert summary["function_update_items_opened"] == 1
    item = lifecycle.pin_record(NAME)
    assert item is not None
    assert (item.kind, item.pinned_runtime_version_arn) == (PinKind.FUNCTION_UPDATE, old)
    assert _run_posture(lifecycle)["function_update_items_opened"] == 0  # once

    # Its ladder: the owner at once, the team a week later, on-call asked a week after that.
    lifecycle.advance(14.2, settle=lambda: lifecycle.pending_approval(NAME))
    [told] = [n for n in lifecycle.notices("owner") if n["kind"] == "detected"]
    assert "Runtime update mode FunctionUpdate" in told["text"]
    assert "not updated for 31 days" in told["text"]
    assert told["subject"] == f"[rollforward] Runtime left behind: {NAME} (Function update mode)"
    assert [n["kind"] for n in lifecycle.notices("team")] == ["team"]

    approve_pending(lifecycle, NAME, Principal("oncall-alice"))  # nobody pinned it: no refusal
    for _ in range(12):  # the same canary: weighted steps through the alias, judged, promoted
        lifecycle.settle()
        if not lifecycle.pin_record(NAME).is_open:
            break
        generate_traffic(NAME, "live", 100, BAKE)

    item = lifecycle.pin_record(NAME)
    assert item.stage is Stage.RESOLVED, item.evidence.get("last_canary")
    assert lam.get_runtime_management_config(FunctionName=NAME)["UpdateRuntimeOn"] == "Auto"
    alias = lam.get_alias(FunctionName=NAME, Name="live")
    assert alias["FunctionVersion"] != baseline
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    candidate = lam.get_function(FunctionName=NAME, Qualifier=alias["FunctionVersion"])
    assert candidate["Configuration"]["RuntimeVersionConfig"]["RuntimeVersionArn"] != old
    assert item.evidence["canary"]["verdicts"]
