"""A stack whose template pins Manual: CloudFormation's pin is detected as CloudFormation's,
and the approval request warns that the stack's next deploy would undo the roll-forward."""

from __future__ import annotations

import boto3

from emulator import posture_fleet
from tests.e2e.harness import REGION, Lifecycle, wait_for


def test_the_approval_request_warns_about_the_template_that_pins(lifecycle: Lifecycle) -> None:
    oldest = lifecycle.aws.state.catalog.versions("python3.12", REGION, "x86_64")[0].arn
    lifecycle.aws.state.catalog.release("python3.12", REGION)
    posture_fleet.create_pinning_stack(
        boto3.client("cloudformation"), boto3.client("iam"), lifecycle.role, oldest
    )
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
    assert "reports" in notice["subject"]
