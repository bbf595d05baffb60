"""Adversarial inputs at rollforward's two trust boundaries, against the deployed stack.

The decision API (approve / reject / snooze / exempt) and the detect handler (CloudTrail-shaped
EventBridge events) are driven in process through the deployed functions (their handlers, with
the deployed environment), with hypothesis generating at least 1,000 cases each. For every case:
no crash (the handler answers, never raises: a 502 on API Gateway); a refused request changes
nothing (ledger, approvals, executions, the functions' runtime settings); and every refusal is
audited — on the pin's timeline whenever the request names the pin or its approval. The counts
are printed at the end of each property test.

The cases the adversarial review found are explicit tests above the property tests; the last
test answers the approval's task token with a bare SendTaskSuccess, as a principal that read it
from the execution history would, and shows that no canary starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.awslambda.utils import get_backend

from emulator.functions import run_project_handler
from emulator.inprocess import EmbeddedAws
from emulator.scenario import OPERATOR_POLICY
from emulator.stack import deploy_rollforward
from tests.e2e.conftest import TEST_POLICY
from tests.e2e.harness import ACCOUNT, REGION, Lifecycle, Principal, wait_for

ROOT = f"arn:aws:iam::{ACCOUNT}:root"


@dataclass
class World:
    lifecycle: Lifecycle
    pinner: Principal
    approver: Principal
    outsider: Principal
    nested: str  # user/oncall-x/mallory2: `oncall-*` must not admit it
    pin_id: str
    approval_id: str
    lifted_pin_id: str
    lifted_approval_id: str

    def invoke(self, logical: str, event: Any) -> tuple[dict[str, Any] | Any, bool]:
        name = self.lifecycle.deployment.find("AWS::Lambda::Function", logical)
        fn = get_backend(ACCOUNT, REGION).get_function(name)
        payload, errored = run_project_handler(fn, event)
        return json.loads(payload), errored

    def decide(self, caller: str, body: str | None) -> tuple[int, dict[str, Any], bool]:
        event = {"body": body, "requestContext": {"identity": {"userArn": caller}}}
        answer, errored = self.invoke("Decision", event)
        if errored:
            return 502, answer, True
        return int(answer["statusCode"]), json.loads(answer["body"]), False

    def snapshot(self) -> str:
        """Everything a refused request must leave as it was."""
        lc = self.lifecycle
        executions = [
            (
                e["executionArn"],
                e["status"],
                len(lc.sfn.get_execution_history(executionArn=e["executionArn"])["events"]),
            )
            for e in lc.executions()
        ]
        settings_ = [
            lc.lam.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"]
            for name in ("checkout", "billing")
        ]
        return json.dumps(
            [
                sorted(lc.ledger._table.scan()["Items"], key=lambda i: i["pin_id"]),
                sorted(lc.approvals_table.scan()["Items"], key=lambda i: i["approval_id"]),
                executions,
                settings_,
            ],
            default=str,
            sort_keys=True,
        )

    def timeline(self, pin_id: str, event: str = "refused") -> int:
        return sum(1 for r in self.lifecycle.audit.read(pin_id=pin_id) if r.event == event)


FORGER_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        *OPERATOR_POLICY["Statement"],
        {"Effect": "Allow", "Action": ["states:SendTask*"], "Resource": "*"},
    ],
}


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with EmbeddedAws() as aws:
        lifecycle = Lifecycle(aws, deploy_rollforward(context={"policy": TEST_POLICY}))
        pinner, approver = Principal("oncall-pinner"), Principal("oncall-bob")
        # The threat: a principal with broad Step Functions rights (reads execution history,
        # answers task tokens) who is not an approver.
        outsider = Principal("mallory", policy=FORGER_POLICY)
        nested = boto3.client("iam").create_user(UserName="mallory2", Path="/oncall-x/")["User"]
        for name in ("checkout", "billing"):
            lifecycle.create_function(name)
            lifecycle.pin(name, by=pinner)
        lifecycle.advance(14)
        checkout = wait_for(lambda: lifecycle.pending_approval("checkout"), what="an approval")
        billing = wait_for(lambda: lifecycle.pending_approval("billing"), what="an approval")
        lifecycle.lift("billing", by=pinner)
        wait_for(lambda: not lifecycle.pin_record("billing").is_open, what="billing lifted")
        lifecycle.settle()
        yield World(
            lifecycle,
            pinner,
            approver,
            outsider,
            str(nested["Arn"]),
            lifecycle.key("checkout").id,
            str(checkout["approval_id"]),
            lifecycle.key("billing").id,
            str(billing["approval_id"]),
        )


def refused_on_timeline(world: World, caller: str, fields: dict[str, Any], status: int) -> str:
    """Post `fields` as `caller`; assert it is refused with `status`, changed nothing and is on
    the timeline of the pin it names. Returns the refusal's reason."""
    pin_id = fields.get("pin_id") or (
        world.lifted_pin_id
        if fields.get("approval_id") == world.lifted_approval_id
        else world.pin_id
    )
    before, audited = world.snapshot(), world.timeline(pin_id)
    got, body, crashed = world.decide(caller, json.dumps(fields))
    assert not crashed and got == status, body
    assert world.snapshot() == before
    assert world.timeline(pin_id) == audited + 1
    return str(body["refused"])


# --------------------------------------------------------------------------- explicit cases
def test_a_path_segment_is_not_crossed_by_the_approver_pattern(world: World) -> None:
    reason = refused_on_timeline(
        world,
        world.nested,
        {"action": "approve", "approval_id": world.approval_id, "reason": "x"},
        403,
    )
    assert "matches none of approval.allowed_approvers" in reason


def test_the_pinner_and_root_may_not_approve(world: World) -> None:
    for caller in (world.pinner.arn, ROOT):
        refused_on_timeline(
            world,
            caller,
            {"action": "approve", "approval_id": world.approval_id, "reason": "x"},
            403,
        )


@pytest.mark.parametrize("reason", [None, False, 0, {}, [], "", " "])
def test_a_reason_that_is_not_a_string_is_a_400(world: World, reason: object) -> None:
    refused_on_timeline(
        world,
        world.approver.arn,
        {"action": "approve", "approval_id": world.approval_id, "reason": reason},
        400,
    )


@pytest.mark.parametrize("until", ["3000000d", "0001-01-01", "9999-12-31T23:59:59-01:00", 5, None])
def test_extreme_until_values_are_a_400(world: World, until: object) -> None:
    fields = {"action": "exempt", "pin_id": world.pin_id, "until": until, "reason": "freeze"}
    reason = refused_on_timeline(world, world.approver.arn, fields, 400)
    assert "until" in reason or "future" in reason


def test_an_unauthorized_principals_snooze_and_exempt_are_refused(world: World) -> None:
    for action in ("snooze", "exempt"):
        fields = {"action": action, "pin_id": world.pin_id, "until": "2d", "reason": "mine"}
        reason = refused_on_timeline(world, world.outsider.arn, fields, 403)
        assert "allowed_approvers" in reason


def test_the_pinners_own_exemption_is_refused(world: World) -> None:
    fields = {"action": "exempt", "pin_id": world.pin_id, "until": "5d", "reason": "mine"}
    reason = refused_on_timeline(world, world.pinner.arn, fields, 403)
    assert reason.startswith("separation of duties")


def test_an_exemption_beyond_the_policy_maximum_is_refused(world: World) -> None:
    for until in ("91d", "9999-12-31"):
        fields = {"action": "exempt", "pin_id": world.pin_id, "until": until, "reason": "long"}
        reason = refused_on_timeline(world, world.approver.arn, fields, 400)
        assert "exceeds approval.max_exemption (90d)" in reason


def test_approving_a_lifted_pin_is_refused(world: World) -> None:
    fields = {"action": "approve", "approval_id": world.lifted_approval_id, "reason": "go"}
    reason = refused_on_timeline(world, world.approver.arn, fields, 409)
    assert "no longer tracked (lifted)" in reason


def test_deeply_nested_and_malformed_bodies_are_a_400(world: World) -> None:
    before = world.snapshot()
    for body in ("[" * 100_000, '{"a":' * 50_000, "{", "null", "[]", '"x"', "\udcff"):
        status, answer, crashed = world.decide(world.approver.arn, body)
        assert not crashed and status == 400, answer
    assert world.snapshot() == before


@pytest.mark.parametrize(
    "function_name",
    [
        f"arn:aws:lambda:{REGION}:999999999999:function:checkout",
        f"arn:aws-cn:lambda:{REGION}:{ACCOUNT}:function:checkout",
        f"arn:aws-us-gov:lambda:{REGION}:{ACCOUNT}:function:checkout",
        f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:checkout",
        "999999999999:function:checkout",
    ],
)
def test_a_function_of_another_account_partition_or_region_is_refused(
    world: World, function_name: str
) -> None:
    before = world.snapshot()
    answer, crashed = world.invoke("Detect", detect_event(functionName=function_name))
    assert not crashed and "but the call was made in" in answer["rejected"]
    assert world.snapshot() == before


def detect_event(**request: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.lambda",
        "account": ACCOUNT,
        "time": "2026-03-01T09:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "IAMUser",
                "arn": f"arn:aws:iam::{ACCOUNT}:user/oncall-pinner",
            },
            "eventTime": "2026-03-01T09:00:00Z",
            "eventSource": "lambda.amazonaws.com",
            "eventName": "PutRuntimeManagementConfig20211020",
            "awsRegion": REGION,
            "recipientAccountId": ACCOUNT,
            "eventID": "e5d7f5b2-1111-2222-3333-444455556666",
            "requestParameters": {
                "functionName": "checkout",
                "updateRuntimeOn": "Manual",
                **request,
            },
        },
    }


# --------------------------------------------------------------------------- the task token
def test_a_bare_send_task_success_starts_no_canary_and_is_on_the_timeline(world: World) -> None:
    """A principal that read RequestApproval's token from the execution history answers it
    with an approval of its own making: nothing moves, the forgery is on the pin's timeline,
    and the same approval id stays good for on-call."""
    lifecycle = world.lifecycle
    pin = lifecycle.pin_record("checkout")
    assert pin is not None
    history = lifecycle.sfn.get_execution_history(executionArn=pin.execution_arn)["events"]
    scheduled = [e for e in history if e["type"] == "TaskScheduled"]
    token = json.loads(scheduled[-1]["taskScheduledEventDetails"]["parameters"])["Payload"][
        "task_token"
    ]
    forged = {"decision": "approved", "approver": world.approver.arn, "accept_untested": True}
    world.outsider.client("stepfunctions").send_task_success(
        taskToken=token, output=json.dumps(forged)
    )
    wait_for(
        lambda: world.timeline(world.pin_id, "forged_decision") == 1, what="the forgery audited"
    )
    lifecycle.settle()
    pin = lifecycle.pin_record("checkout")
    assert pin is not None and str(pin.stage) == "awaiting_approval"
    assert pin.approval_id == world.approval_id
    record = lifecycle.approvals_table.get_item(Key={"approval_id": world.approval_id})["Item"]
    assert record["status"] == "pending" and record["task_token"] != token
    events = [r.event for r in lifecycle.audit.read(pin_id=world.pin_id)]
    assert "approved" not in events and "canary_step" not in events

    # The approval on-call was paged with still works, through the decision API only.
    status, body = lifecycle.decide(
        world.approver, action="approve", approval_id=world.approval_id, reason="roll it"
    )
    assert status == 200, body
    approved = wait_for(
        lambda: (p := lifecycle.pin_record("checkout")) and p.evidence.get("approval") and p,
        what="the verified approval",
    )
    assert approved.evidence["approval"]["approver"] == world.approver.arn
    assert approved.evidence["approval"]["accept_untested"] is False
