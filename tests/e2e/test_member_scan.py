"""The scan cycle over the hub and a member account, on the emulator server (issue 12, part 2).

`rollforward emulator deploy --member-accounts` (as tests/e2e/test_member_accounts.py does);
the hub's scan targets the hub's own (account, region) and the member's (`SCAN_TARGETS`). The
hub's scan machine (the one synthesized from the CDK app) runs one Distributed Map child per
target; the member's child scans through the member stack's role, so with IAM enforced a call
the member role does not allow fails that target. The member's pin is then in the hub's
ledger, and `rollforward scan --status` shows a complete line per (account, region).
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
from rollforward_cli.commands.scan import cycle_status, render_status
from rollforward_cli.main import main

from emulator.accounts import stack_set_credentials
from emulator.functions import handler_environment
from emulator.stack import HUB_STACK_NAME
from emulator.state import STATE
from tests.serving import REGION, Served, served

MEMBER = "222233334444"
NAME = "ledgers"


@pytest.fixture(scope="module")
def hub() -> Iterator[Served]:
    with served(deploy=False) as serving:
        stdout, stderr = io.StringIO(), io.StringIO()
        with handler_environment({"AWS_ENDPOINT_URL": serving.endpoint}):
            code = main(
                ["emulator", "deploy", "--member-accounts", MEMBER, "--region", REGION],
                stdout=stdout,
                stderr=stderr,
            )
        assert code == 0, stderr.getvalue()
        parameter = serving.client("ssm").get_parameter(Name=discovery_parameter(HUB_STACK_NAME))
        yield Served(serving.server, json.loads(parameter["Parameter"]["Value"]))


def _in_member(hub: Served, service: str) -> Any:
    return boto3.client(
        service, endpoint_url=hub.endpoint, region_name=REGION, **stack_set_credentials(MEMBER)
    )


def _pinned_function_in_member(hub: Served) -> str:
    """A function in the member account, `$LATEST` pinned to the version it runs."""
    iam, lam = _in_member(hub, "iam"), _in_member(hub, "lambda")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("app.py", "def handler(event, context):\n    return 'ok'\n")
    created = lam.create_function(
        FunctionName=NAME, Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": archive.getvalue()},
    )  # fmt: skip
    running = lam.get_function(FunctionName=NAME)["Configuration"]["RuntimeVersionConfig"]
    lam.put_runtime_management_config(
        FunctionName=NAME, UpdateRuntimeOn="Manual", RuntimeVersionArn=running["RuntimeVersionArn"]
    )
    return str(created["FunctionArn"])


def _cycle(sfn: Any, machine: str, *, timeout: float) -> dict[str, Any]:
    """Start a scan cycle and wait for it to end; its DescribeExecution."""
    started = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=started))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the scan cycle never ended"
        STATE.drain()
        time.sleep(0.5)
    return dict(described)


def _why(sfn: Any, described: dict[str, Any]) -> str:
    """An ended execution's error and cause, and the failures in its history: what a failed
    cycle's assertion shows (DescribeExecution alone is cut short by pytest)."""
    events = sfn.get_execution_history(
        executionArn=described["executionArn"], reverseOrder=True, maxResults=50
    )["events"]
    failures = [
        {key: value for key, value in event.items() if key.endswith("Details")}
        | {"type": event["type"]}
        for event in events
        if "Failed" in event["type"] or "TimedOut" in event["type"]
    ]
    return json.dumps(
        {"error": described.get("error"), "cause": described.get("cause"), "failures": failures},
        default=str,
    )[:4000]


def test_a_cycle_scans_the_hub_and_the_member_each_on_its_own_target(hub: Served) -> None:
    lam, sfn = hub.client("lambda"), hub.client("stepfunctions")
    hub_account = hub.client("sts").get_caller_identity()["Account"]
    scan = hub.discovery["scan_function"]
    variables = lam.get_function_configuration(FunctionName=scan)["Environment"]["Variables"]
    targets = f"{hub_account}/{REGION},{MEMBER}/{REGION}"
    lam.update_function_configuration(
        FunctionName=scan, Environment={"Variables": {**variables, "SCAN_TARGETS": targets}}
    )
    function_arn = _pinned_function_in_member(hub)
    machine = hub.discovery["scan_state_machine_arn"]

    described = _cycle(sfn, machine, timeout=180)

    assert described["status"] == "SUCCEEDED", _why(sfn, described)
    report = json.loads(described["output"])
    lines = {line["target"]: line for line in report["per_target"]}
    assert set(lines) == {f"{hub_account}/{REGION}", f"{MEMBER}/{REGION}"}
    member = lines[f"{MEMBER}/{REGION}"]
    assert member["complete"] and member["error"] == "", member  # the member role sufficed
    assert member["functions_seen"] >= 1
    assert (report["targets_complete"], report["targets_failed"]) == (2, [])
    ledger = hub.client("dynamodb").scan(TableName=hub.discovery["ledger_table"])["Items"]
    pins = {item["pin_id"]["S"]: item for item in ledger}
    pin = pins[f"{function_arn}#$LATEST"]  # in the hub's ledger, with its account and region
    assert (pin["account"]["S"], pin["region"]["S"]) == (MEMBER, REGION)

    status = cycle_status(sfn, machine)
    assert status["last"]["coverage"] == 1.0
    assert f"{MEMBER}/{REGION}" in render_status(status)


UNREACHABLE = [f"3000000{index:05d}" for index in range(700)]  # accounts with no member role


def test_a_cycle_of_hundreds_of_targets_finishes_and_names_every_failed_one(
    hub: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """Children record their outcomes and end with a constant-size output: the Map's result
    no longer gathers every child's progress (which failed a cycle with
    States.DataLimitExceeded at about 600 targets). 700 targets the hub cannot act in fail
    each on its own target, recorded; the member's and the hub's complete."""
    lam, sfn = hub.client("lambda"), hub.client("stepfunctions")
    hub_account = hub.client("sts").get_caller_identity()["Account"]
    scan = hub.discovery["scan_function"]
    variables = lam.get_function_configuration(FunctionName=scan)["Environment"]["Variables"]
    targets = [f"{hub_account}/{REGION}", f"{MEMBER}/{REGION}"]
    targets += [f"{account}/{REGION}" for account in UNREACHABLE]
    lam.update_function_configuration(
        FunctionName=scan,
        Environment={"Variables": {**variables, "SCAN_TARGETS": ",".join(targets)}},
    )
    machine = hub.discovery["scan_state_machine_arn"]
    try:
        described = _cycle(sfn, machine, timeout=600)
    finally:
        lam.update_function_configuration(FunctionName=scan, Environment={"Variables": variables})

    children = [r.getMessage() for r in caplog.records if r.name == "emulator.stepfunctions"]
    assert described["status"] == "SUCCEEDED", f"{children[:3]} {_why(sfn, described)}"
    report = json.loads(described["output"])
    assert (report["targets"], report["targets_complete"]) == (702, 2)
    assert report["targets_failed_total"] == len(UNREACHABLE)
    unreachable = {f"{account}/{REGION}" for account in UNREACHABLE}
    assert {entry.split(":")[0] for entry in report["targets_failed"]} <= unreachable
    assert len(report["targets_failed"]) == 100  # named within the report's bound
    # The report lists the failed first, within its bound; the records hold every target.
    assert len(report["per_target"]) == 500 and report["per_target_omitted"] == 202
    assert {line["target"] for line in report["per_target"]} <= unreachable
    assert "assum" in report["per_target"][0]["error"].lower()  # why: the role was refused
    assert len(described["output"]) < 256 * 1024
