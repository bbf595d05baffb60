"""The `rollforward` CLI against a real emulator server, as an operator would use it.

One emulator server per module (in this process, on a free port) with the rollforward stack
deployed through HTTP. The CLI is called in process (`main([...])`) with `AWS_ENDPOINT_URL`
pointing at the server; functions are created and pinned with plain boto3 against the same
endpoint, so detection runs through the CloudTrail → EventBridge → detect path.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from rollforward.clock import parse_iso
from rollforward_cli.main import main

from emulator.scenario import OPERATOR_POLICY
from emulator.server import EmulatorServer
from emulator.state import STATE
from tests.serving import served

REGION = "us-east-1"
# Real seconds to wait for asynchronous work (event delivery, a Wait state waking up).
PATIENCE = 30.0


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass(frozen=True)
class Emulator:
    server: EmulatorServer
    discovery: dict[str, Any]
    approver_env: dict[str, str]

    @property
    def endpoint(self) -> str:
        return self.server.endpoint_url

    def client(self, service: str, **config: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(**config) if config else None,
        )

    def table(self, key: str) -> Any:
        return boto3.resource(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).Table(self.discovery[key])

    def cli(self, *argv: str, env: dict[str, str] | None = None) -> Result:
        """Run `rollforward argv...` in process, reaching the server through AWS_ENDPOINT_URL.

        `env` overrides a few variables for this call only. Only those keys are set and put
        back: the server's in-process Lambda handlers set and restore their own variables in
        the same `os.environ`, so swapping the whole environment would pull it from under them.
        """
        stdout, stderr = io.StringIO(), io.StringIO()
        saved = {key: os.environ.get(key) for key in env or {}}
        os.environ.update(env or {})
        try:
            code = main(list(argv), stdout=stdout, stderr=stderr)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        return Result(code, stdout.getvalue(), stderr.getvalue())


def _eventually(check: Callable[[], Any], what: str, timeout: float = PATIENCE) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with served() as running:
        # For the whole module, as an operator's shell would have it. The server's handlers set
        # the same value while they run, so their save/restore cannot take it away mid-command.
        os.environ["AWS_ENDPOINT_URL"] = running.endpoint
        approver = running.iam_user("oncall-alice", OPERATOR_POLICY).env
        yield Emulator(running.server, running.discovery, approver)


def _pin_new_function(emulator: Emulator, name: str) -> str:
    """Create a function and pin `$LATEST` to the runtime version it runs; its pin id."""
    lam, iam = emulator.client("lambda"), emulator.client("iam")
    try:
        role = iam.get_role(RoleName="fn-role")["Role"]["Arn"]
    except ClientError:
        role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("app.py", "def handler(event, context):\n    return 'ok'\n")
    created = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": archive.getvalue()},
        Tags={"owner": f"{name}-owner@example.com", "team": "payments"},
    )
    runtime_arn = lam.get_function(FunctionName=name)["Configuration"]["RuntimeVersionConfig"][
        "RuntimeVersionArn"
    ]
    lam.put_runtime_management_config(
        FunctionName=name, UpdateRuntimeOn="Manual", RuntimeVersionArn=runtime_arn
    )
    pin_id = f"{created['FunctionArn']}#$LATEST"
    ledger = emulator.table("ledger_table")
    _eventually(
        lambda: ledger.get_item(Key={"pin_id": pin_id}).get("Item"), f"the ledger to record {name}"
    )
    # The pin's tracking execution writes the item again (the owner's rung): a test comparing
    # the item before and after a refused command must not start before that write.
    STATE.drain()  # the server runs in this process: detect (and its StartExecution) is done
    _quiesce(emulator)
    return pin_id


def _status_entry(emulator: Emulator, pin_id: str) -> dict[str, Any]:
    result = emulator.cli("status", "--output", "json")
    assert result.code == 0, result.err
    entry: dict[str, Any] = next(p for p in result.json()["pins"] if p["pin_id"] == pin_id)
    return entry


def _quiesce(emulator: Emulator) -> None:
    """Wait until every workflow is waiting (a Wait state, or a callback task for a token).

    The emulator measures Lambda task timeouts on the virtual clock, so moving the clock on
    while a task runs fails that execution with States.Timeout; AWS's clock never jumps.
    """
    sfn = emulator.client("stepfunctions")
    machine = emulator.discovery["state_machine_arn"]

    def waiting(arn: str) -> bool:
        # (an execution that has just started may have no history event yet)
        events = sfn.get_execution_history(executionArn=arn)["events"]
        return bool(events) and events[-1]["type"] in {"WaitStateEntered", "TaskSubmitted"}

    def busy() -> list[str]:
        running = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")
        return [e["name"] for e in running["executions"] if not waiting(e["executionArn"])]

    _eventually(lambda: not busy(), "every tracking execution to be waiting")


def _advance_clock(emulator: Emulator, by: str) -> Result:
    _quiesce(emulator)
    advanced = emulator.cli("emulator", "clock", "advance", by, "--output", "json")
    assert advanced.code == 0, advanced.err
    return advanced


@pytest.fixture(scope="module")
def orders(emulator: Emulator) -> str:
    return _pin_new_function(emulator, "orders")


@pytest.fixture(scope="module")
def billing(emulator: Emulator) -> str:
    return _pin_new_function(emulator, "billing")


@pytest.fixture(scope="module")
def approval_id(emulator: Emulator, orders: str) -> str:
    """Climb the ladder to the approval request, led by what `status` says comes next.

    Each rung is due a policy gap after the previous rung was actually sent, so one big jump
    of the clock would only release the next rung; instead advance to each predicted due time,
    let the workflow send it, and repeat — which also checks that the prediction is right.
    """
    deadline = time.monotonic() + 4 * PATIENCE
    while time.monotonic() < deadline:
        entry = _status_entry(emulator, orders)
        if entry["approval_id"]:
            assert entry["stage"] == "awaiting_approval"
            return str(entry["approval_id"])
        due = entry["next"]["due_at"] if entry["next"] else None
        now = parse_iso(emulator.cli("emulator", "clock", "now").out.strip())
        if due and parse_iso(due) > now:
            step = parse_iso(due) - now + timedelta(seconds=1)
            _advance_clock(emulator, f"{int(step.total_seconds())}s")
        time.sleep(0.2)
    pytest.fail("no approval was requested after climbing the escalation ladder")


# ------------------------------------------------------------------------ read commands


def test_status_lists_the_pin_with_its_runtime_age_owner_and_next_rung(
    emulator: Emulator, orders: str
) -> None:
    entry = _status_entry(emulator, orders)

    assert entry["function_name"] == "orders"
    assert entry["qualifier"] == "$LATEST"
    assert entry["account"] == "123456789012" and entry["region"] == REGION
    assert entry["pinned_runtime_version_arn"].startswith(f"arn:aws:lambda:{REGION}::runtime:")
    assert entry["owner"] == "orders-owner@example.com"
    assert entry["is_open"] is True
    assert entry["age_seconds"] >= 0

    table = emulator.cli("status")
    assert table.code == 0, table.err
    header, *rows = table.out.splitlines()
    assert header.split()[:3] == ["ACCOUNT/REGION", "FUNCTION", "QUALIFIER"]
    assert any(" orders " in row and "$LATEST" in row for row in rows)
    assert "open pin" in table.out.splitlines()[-1]


def test_show_prints_the_timeline_from_the_audit_trail(emulator: Emulator, orders: str) -> None:
    shown = emulator.cli("show", "orders")
    assert shown.code == 0, shown.err
    assert orders in shown.out
    timeline = shown.out.split("Timeline", 1)[1]
    assert "detected" in timeline

    as_json = emulator.cli("show", "orders", "--qualifier", "LATEST", "--output", "json").json()
    assert as_json["pin"]["pin_id"] == orders
    assert as_json["timeline"][0]["event"] == "detected"
    assert as_json["timeline"][0]["details"]["owner"] == "orders-owner@example.com"


def test_show_of_an_unknown_function_fails_with_exit_1(emulator: Emulator, orders: str) -> None:
    result = emulator.cli("show", "no-such-function")
    assert result.code == 1
    assert "no pin matches 'no-such-function'" in result.err


# ------------------------------------------------------------------------ decisions


def test_approvals_lists_the_request_with_its_round_attempts_and_target(
    emulator: Emulator, orders: str, approval_id: str
) -> None:
    """Issue 9: what a pending approval is about, counted from round 1 (before it is spent)."""
    listed = emulator.cli("approvals", "--output", "json")
    assert listed.code == 0, listed.err
    entry = next(a for a in listed.json()["approvals"] if a["approval_id"] == approval_id)
    assert entry["pin_id"] == orders and entry["round"] == "round 1"
    assert entry["attempts"] == {"count": 0, "kept": []}
    assert entry["target_runtime"].startswith("the newest")
    table = emulator.cli("approvals")
    assert table.code == 0, table.err
    row = next(line for line in table.out.splitlines() if line.startswith(approval_id))
    assert "round 1" in row and " none" in row
    assert emulator.cli("show", "orders", "--output", "json").json()["round"] == "round 1"


def test_approve_by_an_allowed_principal_then_the_id_is_spent(
    emulator: Emulator, orders: str, approval_id: str
) -> None:
    approved = emulator.cli(
        "approve", approval_id, "--reason", "canary it", env=emulator.approver_env
    )
    assert approved.code == 0, approved.err
    assert f"approved {approval_id}" in approved.out
    assert "arn:aws:iam::123456789012:user/oncall-alice" in approved.out

    record = emulator.table("approvals_table").get_item(Key={"approval_id": approval_id})["Item"]
    assert record["status"] == "approved"
    assert record["decided_by"] == "arn:aws:iam::123456789012:user/oncall-alice"

    again = emulator.cli("approve", approval_id, "--reason", "twice", env=emulator.approver_env)
    assert again.code == 1
    assert "already approved" in again.err and "single-use" in again.err
    assert again.err.count("\n") == 1

    timeline = [
        r["event"] for r in emulator.cli("show", orders, "--output", "json").json()["timeline"]
    ]
    assert "approval_requested" in timeline and "approved" in timeline


def test_snooze_with_an_unreadable_until_changes_nothing(emulator: Emulator, billing: str) -> None:
    ledger = emulator.table("ledger_table")
    before = ledger.get_item(Key={"pin_id": billing})["Item"]

    result = emulator.cli("snooze", "billing", "--until", "next tuesday", "--reason", "freeze")

    assert result.code == 2
    assert "'next tuesday' is neither a duration" in result.err
    assert result.out == ""
    after = ledger.get_item(Key={"pin_id": billing})["Item"]
    assert after.get("snooze") == before.get("snooze") is None
    assert after["updated_at"] == before["updated_at"]


def test_snooze_beyond_the_policy_maximum_is_refused_and_changes_nothing(
    emulator: Emulator, billing: str
) -> None:
    result = emulator.cli("snooze", "billing", "--until", "90d", "--reason", "freeze")

    assert result.code == 1, result.err
    assert "exceeds approval.max_snooze" in result.err, result.err
    item = emulator.table("ledger_table").get_item(Key={"pin_id": billing})["Item"]
    assert "snooze" not in item


def test_snooze_then_status_shows_it_snoozed_and_the_ladder_waits(emulator: Emulator) -> None:
    # A pin of its own, fresh on the ladder: the other pins' stages depend on test order.
    inventory = _pin_new_function(emulator, "inventory")

    # A hold takes an approver's authority (root may never hold a pin).
    result = emulator.cli(
        "snooze",
        "inventory",
        "--until",
        "5d",
        "--reason",
        "release freeze",
        env=emulator.approver_env,
    )
    assert result.code == 0, result.err
    assert f"snoozed {inventory}" in result.out

    entry = _status_entry(emulator, inventory)
    assert entry["stage"] == "snoozed"
    assert entry["snoozed_until"] is not None
    assert parse_iso(entry["next"]["due_at"]) >= parse_iso(entry["snoozed_until"])


def test_status_is_sorted_oldest_first(emulator: Emulator, orders: str, billing: str) -> None:
    pins = emulator.cli("status", "--all", "--output", "json").json()["pins"]
    first_seen = [pin["first_seen"] for pin in pins]
    ids = [pin["pin_id"] for pin in pins]

    assert first_seen == sorted(first_seen)
    assert ids.index(orders) < ids.index(billing)


# ------------------------------------------------------------------------ emulator controls


def test_emulator_controls_drive_the_running_server(emulator: Emulator) -> None:
    before = parse_iso(emulator.cli("emulator", "clock", "now").out.strip())
    advanced = _advance_clock(emulator, "1h")
    assert parse_iso(advanced.json()["now"]) - before >= timedelta(hours=1)

    released = emulator.cli(
        "emulator", "runtime", "release", "python3.13", "--error-rate", "0.05", "--output", "json"
    )
    assert released.code == 0, released.err
    versions = released.json()["released"]
    assert {v["architecture"] for v in versions} == {"x86_64", "arm64"}
    assert all(v["error_rate"] == 0.05 for v in versions)


def test_replay_and_traffic_reach_the_server(
    emulator: Emulator, orders: str, tmp_path: Path
) -> None:
    record = {
        "eventSource": "lambda.amazonaws.com",
        "eventName": "PutRuntimeManagementConfig20230126",
        "awsRegion": REGION,
        "userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root"},
        "requestParameters": {"functionName": "orders", "updateRuntimeOn": "Manual"},
    }
    (tmp_path / "event.json").write_text(json.dumps({"Records": [record]}))

    replayed = emulator.cli("emulator", "replay", str(tmp_path / "event.json"))

    assert replayed.code == 0, replayed.err
    assert replayed.out.startswith("replayed 1 event; delivered to 1 rule target")

    _quiesce(emulator)  # a traffic window moves the virtual clock on too
    traffic = emulator.cli(
        "emulator", "traffic", "orders", "--rps", "2", "--duration", "1m", "--output", "json"
    )
    assert traffic.code == 0, traffic.err
    assert traffic.json()["invocations"] == 120


def test_a_throttled_command_still_succeeds(emulator: Emulator, orders: str) -> None:
    """With the shared bucket at 1 req/s and drained, `status` gets 429s and retries through."""
    assert emulator.cli("emulator", "throttle", "on", "--rate", "1").code == 0
    try:
        impatient = emulator.client("lambda", retries={"max_attempts": 1, "mode": "standard"})
        with pytest.raises(ClientError) as throttled:
            for _ in range(20):
                impatient.get_function_configuration(FunctionName="orders")
        assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"

        result = emulator.cli("status", "--output", "json")

        assert result.code == 0, result.err
        assert "warning" not in result.err  # the policy was read, after retries
        assert any(pin["pin_id"] == orders for pin in result.json()["pins"])
    finally:
        assert emulator.cli("emulator", "throttle", "off", "--rate", "15").code == 0


def test_scan_runs_the_deployed_scan_function(emulator: Emulator) -> None:
    # find_spec, not import: the handler module must first be imported inside its function's
    # environment (Powertools reads POWERTOOLS_METRICS_NAMESPACE when the module loads).
    if importlib.util.find_spec("rollforward.handlers.scan") is None:
        pytest.xfail("rollforward.handlers.scan is not written yet (another engineer's task)")
    result = emulator.cli("scan", "--dry-run", "--output", "json")
    assert result.code == 0, result.err
    assert result.json()["dry_run"] is True


def test_scan_status_reads_the_scan_machine_through_the_server(emulator: Emulator) -> None:
    """`rollforward scan --status` finds the scan machine by discovery and reads it back
    (cli/commands/scan.py; the cycle itself is run in tests/e2e/test_scan.py)."""
    result = emulator.cli("scan", "--status", "--output", "json")
    assert result.code == 0, result.err
    status = result.json()
    assert status["state_machine_arn"] == emulator.discovery["scan_state_machine_arn"]
    assert ":stateMachine:" in status["state_machine_arn"]
    text = emulator.cli("scan", "--status")
    assert text.code == 0 and text.out.strip(), text.err


def test_scan_starts_a_cycle_of_the_scan_machine_as_the_schedule_does(emulator: Emulator) -> None:
    """`rollforward scan`, as on-call (the operator policy may start only the scan machine):
    a cycle of the scan's machine, the one `scan --status` then shows, audited by its Plan
    with who asked."""
    result = emulator.cli("scan", "--full", "--output", "json", env=emulator.approver_env)
    assert result.code == 0, result.err
    arn = result.json()["execution_arn"]
    sfn = emulator.client("stepfunctions")
    described = sfn.describe_execution(executionArn=arn)
    assert described["stateMachineArn"] == emulator.discovery["scan_state_machine_arn"]
    assert json.loads(described["input"])["full"] is True

    def ended() -> dict[str, Any] | None:
        now = sfn.describe_execution(executionArn=arn)
        return now if now["status"] != "RUNNING" else None

    assert _eventually(ended, "the scan cycle", timeout=120)["status"] == "SUCCEEDED"
    status = emulator.cli("scan", "--status", "--output", "json").json()
    assert status["last"]["execution_arn"] == arn
    assert status["last"]["report"]["cycle"]["full"] is True
    logs = emulator.client("logs")
    events = logs.filter_log_events(
        logGroupName=emulator.discovery["audit_log_group"], filterPattern='"cycle_requested"'
    )["events"]
    (record,) = [json.loads(e["message"]) for e in events if arn in e["message"]]
    assert record["actor"].endswith(":user/oncall-alice")


# ------------------------------------------------------------------------ errors on-call can act on
def test_https_to_an_http_emulator_is_one_line_and_exit_3(emulator: Emulator) -> None:
    https = emulator.endpoint.replace("http://", "https://")
    result = emulator.cli("--endpoint-url", https, "status")
    assert result.code == 3
    assert result.out == ""
    (line,) = result.err.splitlines()
    assert line.startswith("rollforward: Cannot reach https://127.0.0.1:")
    assert "use an http:// URL" in line
    assert "Traceback" not in result.err


def test_debug_adds_the_details_after_the_sentence(emulator: Emulator) -> None:
    https = emulator.endpoint.replace("http://", "https://")
    result = emulator.cli("--endpoint-url", https, "--debug", "status")
    assert result.code == 3
    first, *details = result.err.splitlines()
    assert first.startswith("rollforward: Cannot reach")
    assert any("Traceback" in line for line in details)


def test_a_region_the_endpoint_does_not_serve_is_a_sentence_not_a_web_page(
    emulator: Emulator,
) -> None:
    result = emulator.cli("--region", "xx-bogus-9", "status")
    assert result.code == 3, result.err
    (line,) = result.err.splitlines()
    assert "<" not in line and "html" not in line.lower()
    assert "--endpoint-url and --region" in line
