"""The trust boundaries' must-show cases on the emulator SERVER (port 0), over HTTP, signed.

Every request here crosses the wire as on AWS: SigV4-signed with each principal's own keys,
verified by the server, the decision API's caller named by API Gateway from that signature.
A principal that reads the approval's task token from the execution history and answers it
with SendTaskSuccess starts no canary, and the attempt is on the pin's timeline; an
unauthorized principal's snooze and exemption, the pinner's exemption, an exemption beyond
the policy's maximum and an approval of a lifted pin are refused and on the timeline; a request
signed with a wrong secret is refused. None of the refusals changes anything (the emulator's
count of state-changing calls, audit writes aside).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from rollforward.adapters.cloudwatch_audit import CloudWatchAuditTrail
from rollforward_cli.aws import DecisionClient, Target

from emulator import mutations
from emulator.scenario import OPERATOR_POLICY, code_zip, wait_for
from emulator.state import STATE
from tests.e2e.conftest import TEST_POLICY
from tests.e2e.test_adversarial import FORGER_POLICY
from tests.serving import REGION, IamUser, Served, served

ACCOUNT = "123456789012"
AUDIT_WRITES = {("logs", "PutLogEvents"), ("logs", "CreateLogStream")}


@dataclass
class World:
    server: Served
    pinner: IamUser
    approver: IamUser
    outsider: IamUser
    audit: CloudWatchAuditTrail

    def decide(self, by: IamUser, **fields: Any) -> tuple[int, dict[str, Any]]:
        return DecisionClient(Target(by.session, self.server.endpoint), self.server.discovery).post(
            **fields
        )

    def item(self, table: str, key: str, value: str) -> dict[str, Any]:
        answer = self.server.client("dynamodb").get_item(
            TableName=self.server.discovery[table], Key={key: {"S": value}}
        )
        return {k: next(iter(v.values())) for k, v in answer.get("Item", {}).items()}

    def pin(self, name: str) -> dict[str, Any]:
        return self.item("ledger_table", "pin_id", pin_id(name))

    def timeline(self, name: str, event: str) -> int:
        return sum(1 for r in self.audit.read(pin_id=pin_id(name)) if r.event == event)

    def pending(self, name: str) -> dict[str, Any] | None:
        items = self.server.client("dynamodb").scan(
            TableName=self.server.discovery["approvals_table"]
        )
        pending = [
            {k: next(iter(v.values())) for k, v in i.items()}
            for i in items["Items"]
            if i["pin_id"]["S"] == pin_id(name) and i["status"]["S"] == "pending"
        ]
        return pending[0] if pending else None


def pin_id(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}#$LATEST"


def writes() -> Counter[tuple[str, str]]:
    counts = mutations.snapshot()
    for key in AUDIT_WRITES:
        counts.pop(key, None)
    return counts


def _parked(server: Served) -> bool:
    sfn = server.client("stepfunctions")
    for execution in sfn.list_executions(
        stateMachineArn=server.discovery["state_machine_arn"], statusFilter="RUNNING"
    )["executions"]:
        events = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        if not events or events[-1]["type"] not in {"WaitStateEntered", "TaskSubmitted"}:
            return False
    return True


def _settle(server: Served) -> None:
    deadline = time.monotonic() + 60
    while True:
        STATE.drain()
        if _parked(server) and (time.sleep(0.2) or _parked(server)):
            return
        assert time.monotonic() < deadline, "the executions never settled"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with served(context={"policy": TEST_POLICY}) as server:
        pinner = server.iam_user("oncall-pinner", OPERATOR_POLICY)
        approver = server.iam_user("oncall-bob", OPERATOR_POLICY)
        # The threat: broad Step Functions rights (reads histories, answers tokens), no approver.
        outsider = server.iam_user("mallory", FORGER_POLICY)
        role = server.client("iam").create_role(
            RoleName="fleet-role", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        lam = pinner.client("lambda")
        for name in ("checkout", "billing"):
            lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Handler="app.handler",
                Role=role,
                Code={"ZipFile": code_zip()},
                Tags={"rollforward:owner": "dana@example.com"},
            )
            runtime = lam.get_function(FunctionName=name)["Configuration"]["RuntimeVersionConfig"]
            lam.put_runtime_management_config(
                FunctionName=name,
                UpdateRuntimeOn="Manual",
                RuntimeVersionArn=runtime["RuntimeVersionArn"],
            )
        _settle(server)
        for _day in range(14):
            STATE.clock.advance(timedelta(days=1))
            time.sleep(0.1)
            _settle(server)
        audit = CloudWatchAuditTrail(server.client("logs"), server.discovery["audit_log_group"])
        world = World(server, pinner, approver, outsider, audit)
        wait_for(lambda: world.pending("checkout"), what="checkout's approval")
        wait_for(lambda: world.pending("billing"), what="billing's approval")
        yield world


def refused(world: World, by: IamUser, name: str, status: int, **fields: Any) -> str:
    """As `by`, over HTTP: refused with `status`, nothing written, on `name`'s timeline."""
    before, audited = writes(), world.timeline(name, "refused")
    got, body = world.decide(by, **fields)
    assert got == status, body
    assert writes() == before, writes() - before
    assert world.timeline(name, "refused") == audited + 1
    return str(body.get("refused"))


def test_a_forged_send_task_success_starts_no_canary_and_is_on_the_timeline(
    world: World,
) -> None:
    pending = world.pending("checkout")
    assert pending is not None
    pin = world.pin("checkout")
    sfn = world.outsider.client("stepfunctions")  # signed with mallory's keys
    history = sfn.get_execution_history(executionArn=pin["execution_arn"])["events"]
    scheduled = [e for e in history if e["type"] == "TaskScheduled"]
    token = json.loads(scheduled[-1]["taskScheduledEventDetails"]["parameters"])["Payload"][
        "task_token"
    ]
    forged = {"decision": "approved", "approver": world.approver.arn, "accept_untested": True}
    sfn.send_task_success(taskToken=token, output=json.dumps(forged))
    wait_for(lambda: world.timeline("checkout", "forged_decision") == 1, what="the forgery audited")
    _settle(world.server)

    after = world.pin("checkout")
    assert after["stage"] == "awaiting_approval" and after["approval_id"] == pending["approval_id"]
    record = world.item("approvals_table", "approval_id", str(pending["approval_id"]))
    assert record["status"] == "pending"
    events = [r.event for r in world.audit.read(pin_id=pin_id("checkout"))]
    assert "approved" not in events and "canary_step" not in events
    setting = world.pinner.client("lambda").get_runtime_management_config(FunctionName="checkout")
    assert setting["UpdateRuntimeOn"] == "Manual"


def test_an_unauthorized_principals_snooze_and_exempt_are_refused(world: World) -> None:
    for action in ("snooze", "exempt"):
        reason = refused(
            world,
            world.outsider,
            "checkout",
            403,
            action=action,
            pin_id=pin_id("checkout"),
            until="2d",
            reason="mine",
        )
        assert "allowed_approvers" in reason


def test_the_pinners_exemption_is_refused(world: World) -> None:
    reason = refused(
        world,
        world.pinner,
        "checkout",
        403,
        action="exempt",
        pin_id=pin_id("checkout"),
        until="5d",
        reason="mine",
    )
    assert reason.startswith("separation of duties")


def test_an_exemption_beyond_the_policy_maximum_is_refused(world: World) -> None:
    reason = refused(
        world,
        world.approver,
        "checkout",
        400,
        action="exempt",
        pin_id=pin_id("checkout"),
        until="91d",
        reason="long",
    )
    assert "exceeds approval.max_exemption (90d)" in reason


def test_approving_a_lifted_pin_is_refused(world: World) -> None:
    pending = world.pending("billing")
    assert pending is not None
    world.pinner.client("lambda").put_runtime_management_config(
        FunctionName="billing", UpdateRuntimeOn="Auto"
    )
    STATE.drain()
    wait_for(lambda: world.pin("billing")["stage"] == "lifted", what="billing lifted")
    reason = refused(
        world,
        world.approver,
        "billing",
        409,
        action="approve",
        approval_id=str(pending["approval_id"]),
        reason="go",
    )
    assert "no longer tracked (lifted)" in reason


def test_a_request_signed_with_a_wrong_secret_is_refused(world: World) -> None:
    pending = world.pending("checkout")
    assert pending is not None
    key_id = world.approver.session.get_credentials().access_key
    url = DecisionClient(
        Target(world.approver.session, world.server.endpoint), world.server.discovery
    ).url
    body = json.dumps(
        {"action": "approve", "approval_id": pending["approval_id"], "reason": "forged"}
    )
    request = AWSRequest(method="POST", url=url, data=body)
    SigV4Auth(Credentials(key_id, "not-the-secret"), "execute-api", REGION).add_auth(request)
    before = writes()
    answer = requests.post(url, data=body, headers=dict(request.headers.items()), timeout=30)
    assert answer.status_code == 403, answer.text
    assert writes() == before
    assert (
        world.item("approvals_table", "approval_id", str(pending["approval_id"]))["status"]
        == "pending"
    )
    # The same key with its real secret is let in (and refused by the handler: no such id).
    assert world.decide(world.approver, action="approve", approval_id="")[0] == 404
