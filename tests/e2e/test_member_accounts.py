"""Hub and spokes on the emulator server (issue 12): a pin in a member account, end to end.

`rollforward emulator --deploy --member-accounts 222233334444` as a test: an Organization of
the hub's account and one member; the hub stack, whose StackSet deploys the member stack into
the member (as the StackSet's execution role there). Then, in the member account, a developer
pins a function served through an alias; the member's rule forwards the CloudTrail event to the
hub's bus (its policy admits the organization only); the hub's Detect assumes the member's
reader role and opens the pin; the ladder climbs on the emulated clock; on-call approves from
the hub; the canary, as the member's canary role, shifts the alias bake after bake and promotes.

IAM is enforced throughout: every hub call in the member runs under a member role's policy,
so a call the member stack does not allow fails this story (tests/infra/test_member_stack.py
holds the roles to the code's call sites; this shows them sufficient on the real path).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from rollforward.model import discovery_parameter
from rollforward_cli.aws import Target
from rollforward_cli.console import make_app
from rollforward_cli.main import main
from werkzeug.test import Client

from emulator.accounts import stack_set_credentials
from emulator.functions import handler_environment
from emulator.stack import HUB_STACK_NAME
from emulator.state import STATE, ApiCall
from tests.serving import REGION, IamUser, Served, served

MEMBER = "222233334444"
NAME, ALIAS = "orders", "live"
FUNCTION = f"arn:aws:lambda:{REGION}:{MEMBER}:function:{NAME}"
OPERATOR = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@pytest.fixture(scope="module")
def hub() -> Iterator[Served]:
    with served(deploy=False) as serving:
        # As an operator would: `rollforward emulator deploy --member-accounts` (the control
        # route runs deploy_hub in the server, as `emulator --deploy --member-accounts` does).
        stdout, stderr = io.StringIO(), io.StringIO()
        with handler_environment({"AWS_ENDPOINT_URL": serving.endpoint}):
            code = main(
                ["emulator", "deploy", "--member-accounts", MEMBER, "--region", REGION],
                stdout=stdout,
                stderr=stderr,
            )
        assert code == 0, stderr.getvalue()
        assert f"stack {HUB_STACK_NAME}" in stdout.getvalue()
        # The hub's own account is a target too (its instance forwards nothing in this region).
        hub_account = serving.client("sts").get_caller_identity()["Account"]
        members = f"member stacks in {hub_account}/{REGION}, {MEMBER}/{REGION}"
        assert members in stdout.getvalue()
        parameter = serving.client("ssm").get_parameter(Name=discovery_parameter(HUB_STACK_NAME))
        yield Served(serving.server, json.loads(parameter["Parameter"]["Value"]))


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 'ok'\n")
    return buffer.getvalue()


def _in_member(hub: Served, service: str) -> Any:
    """A client acting in the member account (its administrator's role, as a developer)."""
    return boto3.client(
        service, endpoint_url=hub.endpoint, region_name=REGION, **stack_set_credentials(MEMBER)
    )


def _cli(hub: Served, user: IamUser, *argv: str) -> str:
    stdout, stderr = io.StringIO(), io.StringIO()
    with handler_environment({**user.env, "AWS_ENDPOINT_URL": hub.endpoint}):
        code = main(list(argv), stdout=stdout, stderr=stderr)
    assert code == 0, f"rollforward {' '.join(argv)} → {code}: {stderr.getvalue()}"
    return stdout.getvalue()


def _settle(hub: Served, timeout: float = 60.0) -> None:
    """Deliveries done and every running execution parked (a Wait or a task token), twice."""
    sfn = hub.client("stepfunctions")

    def parked() -> bool:
        for machine in sfn.list_state_machines()["stateMachines"]:
            for execution in sfn.list_executions(
                stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
            )["executions"]:
                events = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
                if not events or events[-1]["type"] not in {"WaitStateEntered", "TaskSubmitted"}:
                    return False
        return True

    deadline = time.monotonic() + timeout
    while True:
        STATE.drain()
        if parked():
            STATE.drain()
            if parked():
                return
        assert time.monotonic() < deadline, "the executions never settled"
        time.sleep(0.2)


def _console_fleet(hub: Served, user: IamUser) -> str:
    """The console's fleet page as on-call sees it (the WSGI app, no browser)."""
    target = Target(user.session, hub.endpoint)
    page = Client(make_app(target)).get("/", headers={"Host": "127.0.0.1"})
    assert page.status_code == 200, page.text
    return page.text


def _pin(hub: Served, user: IamUser) -> dict[str, Any]:
    (pin,) = json.loads(_cli(hub, user, "status", "--all", "--output", "json"))["pins"]
    return dict(pin)


def test_a_pin_in_a_member_account_is_tracked_escalated_and_rolled_forward_there(
    hub: Served,
) -> None:
    oncall = hub.iam_user("oncall-alice", OPERATOR)
    lam = _in_member(hub, "lambda")
    role = _in_member(hub, "iam").create_role(
        RoleName="orders-role", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName=NAME,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _zip()},
        Tags={"rollforward:owner": "omar@example.com"},
    )
    pinned = lam.get_function(FunctionName=NAME)["Configuration"]["RuntimeVersionConfig"][
        "RuntimeVersionArn"
    ]
    lam.put_runtime_management_config(
        FunctionName=NAME, UpdateRuntimeOn="Manual", RuntimeVersionArn=pinned
    )
    baseline = lam.publish_version(FunctionName=NAME)["Version"]
    lam.create_alias(FunctionName=NAME, Name=ALIAS, FunctionVersion=baseline)
    _settle(hub)

    # Tracked by the hub within the event's delivery, with the member's account and region.
    pin = _pin(hub, oncall)
    assert (pin["pin_id"], pin["account"], pin["region"], pin["stage"]) == (
        f"{FUNCTION}#$LATEST",
        MEMBER,
        REGION,
        "tracking",
    )
    assert f"{MEMBER}/{REGION}" in _cli(hub, oncall, "status")
    shown = json.loads(_cli(hub, oncall, "show", FUNCTION, "--output", "json"))
    assert (shown["pin"]["account"], shown["pin"]["region"]) == (MEMBER, REGION)
    assert f"{MEMBER}/{REGION}" in _cli(hub, oncall, "show", FUNCTION)
    assert f"<td>{MEMBER}/{REGION}</td>" in _console_fleet(hub, oncall)

    for _day in range(16):  # the ladder, a day at a time, to on-call's approval request
        if _pin(hub, oncall).get("approval_id"):
            break
        _cli(hub, oncall, "emulator", "clock", "advance", "1d")
        _settle(hub)
    approval_id = _pin(hub, oncall)["approval_id"]
    assert approval_id, "the ladder never asked on-call"

    # From here on, what the member account's CloudTrail records (who changes its function).
    recorded: list[ApiCall] = []
    STATE.api_call_listeners.append(recorded.append)
    _cli(hub, oncall, "emulator", "runtime", "release", "python3.12")
    _cli(hub, oncall, "approve", approval_id, "--reason", "newer runtime is out")
    for _bake in range(12):  # traffic in the member account, bake after bake
        _settle(hub)
        if not _pin(hub, oncall)["is_open"]:
            break
        _cli(hub, oncall, "emulator", "traffic", f"{FUNCTION}:{ALIAS}", "--rps", "50",
             "--duration", "10m")  # fmt: skip
    _settle(hub)

    STATE.api_call_listeners.remove(recorded.append)

    assert _pin(hub, oncall)["stage"] == "resolved"
    # The canary acted in the member as the member stack's canary role, and only it changed
    # the function there (the reader role cannot: tests/infra/test_member_stack.py).
    changes = {
        (call.event_name, str(call.user_identity.get("arn", "")))
        for call in recorded
        if call.account_id == MEMBER and call.event_source == "lambda.amazonaws.com"
    }
    canary_role = f"arn:aws:sts::{MEMBER}:assumed-role/rollforward-canary-{REGION}/rollforward@"
    assert {"UpdateAlias20150331", "PutRuntimeManagementConfig"} <= {name for name, _ in changes}
    assert all(arn.startswith(canary_role) for _, arn in changes), changes
    alias = lam.get_alias(FunctionName=NAME, Name=ALIAS)
    assert alias["FunctionVersion"] != baseline
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert lam.get_runtime_management_config(FunctionName=NAME)["UpdateRuntimeOn"] == "Auto"


def test_the_hubs_scan_cycle_covers_the_member_through_its_reader_role(hub: Served) -> None:
    """A pin the hub was never told of (the member's forwarding rule disabled): the hourly
    scan cycle lists the Organization (the StackSet's root), scans the member as its reader
    role on the member's own budget, and opens the pin with the member's account and region."""
    oncall = hub.iam_user("oncall-bob", OPERATOR)
    events = _in_member(hub, "events")
    (forwarding,) = (
        rule["Name"]
        for rule in events.list_rules()["Rules"]
        if "RuntimeConfigChanged" in rule["Name"]
    )
    events.disable_rule(Name=forwarding)
    lam = _in_member(hub, "lambda")
    role = _in_member(hub, "iam").create_role(
        RoleName="billing-role", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName="billing",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _zip()},
    )
    pinned = lam.get_function(FunctionName="billing")["Configuration"]["RuntimeVersionConfig"][
        "RuntimeVersionArn"
    ]
    lam.put_runtime_management_config(
        FunctionName="billing", UpdateRuntimeOn="Manual", RuntimeVersionArn=pinned
    )
    _settle(hub)
    billing = f"arn:aws:lambda:{REGION}:{MEMBER}:function:billing#$LATEST"

    def pins() -> dict[str, dict[str, Any]]:
        listed = json.loads(_cli(hub, oncall, "status", "--all", "--output", "json"))["pins"]
        return {pin["pin_id"]: pin for pin in listed}

    assert billing not in pins(), "the forwarding rule was disabled: only the scan can find it"

    sfn = hub.client("stepfunctions")
    (machine,) = (
        m["stateMachineArn"]
        for m in sfn.list_state_machines()["stateMachines"]
        if m["name"] == f"{HUB_STACK_NAME}-scan"
    )
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 180
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the scan cycle never ended"
        STATE.drain()
        time.sleep(0.2)
    events.enable_rule(Name=forwarding)

    assert described["status"] == "SUCCEEDED", described
    report = json.loads(described["output"])
    assert (report["targets"], report["targets_complete"], report["targets_failed"]) == (2, 2, [])
    found = pins()[billing]
    assert (found["account"], found["region"], found["stage"]) == (MEMBER, REGION, "tracking")
