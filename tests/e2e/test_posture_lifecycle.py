"""A stack whose template pins Manual: CloudFormation's pin is detected as CloudFormation's,
the approval request (and the canary's preflight) warns that the stack's next deploy would undo
the roll-forward, and once promoted, that deploy's re-pin is recorded as drift on the same
ledger item, with a ladder that says which property of which stack to change."""

from __future__ import annotations

from datetime import timedelta

import boto3
from rollforward.ledger import Stage

from emulator import posture_fleet
from emulator.traffic import generate_traffic
from tests.e2e.harness import REGION, Lifecycle, Principal, approve_pending, wait_for


def test_the_approval_request_warns_about_the_template_and_its_re_pin_is_drift(
    lifecycle: Lifecycle,
) -> None:
    oldest = lifecycle.aws.state.catalog.versions("python3.12", REGION, "x86_64")[0].arn
    lifecycle.aws.state.catalog.release("python3.12", REGION)
    cloudformation = boto3.client("cloudformation")
    posture_fleet.create_pinning_stack(cloudformation, boto3.client("iam"), lifecycle.role, oldest)
    pin = wait_for(lambda: lifecycle.pin_record("billing"), what="the stack's pin")
    assert pin.pinned_by.endswith("assumed-role/billing-deployer/AWSCloudFormation")

    lifecycle.advance(14.2, settle=lambda: lifecycle.pending_approval("billing"))

    [request] = [n for n in lifecycle.notices("oncall") if n["kind"] == "approval_request"]
    assert "Warning" in request["text"]
    assert "CloudFormation stack billing-stack pins this function to Manual" in request["text"]
    assert "Resources.Billing.Properties.RuntimeManagementConfig" in request["text"]
    noted = lifecycle.pin_record("billing").evidence["template_pin"]
    assert noted["stack"] == "billing-stack"
    assert noted["property"] == "Resources.Billing.Properties.RuntimeManagementConfig"

    # Approved (no alias, no test events: on the bake alone), the canary's preflight says it
    # again, then promotes.
    approve_pending(lifecycle, "billing", Principal("oncall-alice"), accept_untested=True)
    for _ in range(6):
        lifecycle.settle()
        if not lifecycle.pin_record("billing").is_open:
            break
        generate_traffic("billing", None, 2, timedelta(minutes=15))
    promoted = lifecycle.pin_record("billing")
    assert promoted.stage is Stage.RESOLVED, promoted.evidence
    warned = [
        r.details
        for r in lifecycle.audit.read(pin_id=promoted.key.id)
        if r.event == "canary_step" and r.details.get("step") == "preflight"
    ]
    assert warned and warned[0]["stack"] == "billing-stack"
    lifecycle.notices("owner")  # (read so far)

    # The stack's next deploy re-applies its RuntimeManagementConfig, as CloudFormation.
    cloudformation.update_stack(
        StackName=posture_fleet.STACK,
        TemplateBody=posture_fleet.pinning_template(lifecycle.role, oldest, description="v2"),
    )
    lifecycle.aws.state.drain()
    lifecycle.settle()

    drifted = lifecycle.pin_record("billing")
    assert (drifted.key, drifted.generation) == (promoted.key, promoted.generation + 1)
    [drift] = drifted.evidence["drift"]
    assert drift["stack"] == "billing-stack" and drift["property"] == noted["property"]
    assert drift["by"].endswith("assumed-role/billing-deployer/AWSCloudFormation")
    [told] = [n for n in lifecycle.notices("owner") if n["kind"] == "detected"]
    assert (
        "Your template re-pins: change property "
        "Resources.Billing.Properties.RuntimeManagementConfig in stack billing-stack"
    ) in told["text"]


def test_no_warning_for_a_function_no_template_pins(lifecycle: Lifecycle) -> None:
    lifecycle.create_function("orders")
    lifecycle.pin("orders")
    wait_for(lambda: lifecycle.pin_record("orders"), what="the pin")

    lifecycle.advance(14.2, settle=lambda: lifecycle.pending_approval("orders"))

    [request] = [n for n in lifecycle.notices("oncall") if n["kind"] == "approval_request"]
    assert "Warning" not in request["text"]
    assert "template_pin" not in lifecycle.pin_record("orders").evidence


def test_the_daily_posture_function_counts_rows_and_tells_the_image_owner(
    lifecycle: Lifecycle,
) -> None:
    import json

    posture_fleet.create_image_function(
        lifecycle.lam, lifecycle.role, account_id="123456789012", region=REGION
    )
    lifecycle.create_function("orders")
    function = lifecycle.deployment.find("AWS::Lambda::Function", "Posture")

    answer = lifecycle.lam.invoke(FunctionName=function, Payload=b"{}")

    assert "FunctionError" not in answer, answer["Payload"].read()
    summary = json.loads(answer["Payload"].read())
    assert summary["rows"]["container_image"] == {"versions": 1, "unmet": 1, "due": 0}
    assert summary["owner_notices"] == 1
    [notice] = [n for n in lifecycle.notices("owner") if n["kind"] == "image_outdated"]
    assert "reports" in notice["subject"] and "120 days" in notice["subject"]
    assert "/reports@sha256:" in notice["text"]  # the image it runs, by digest
    assert "Rebuild the image from the latest version of its base image" in notice["text"]
