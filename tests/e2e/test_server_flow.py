"""The README's hand-driven flow, on the emulator server, to the canary's end.

`rollforward emulator --deploy` (a server on port 0 in this process, throttling on as by
default, the stack deployed through HTTP); then, as the README has an operator do it from other
shells: a function with an alias, created and pinned with one IAM user's keys (`dev-dana`);
the ladder climbed with `rollforward emulator clock advance`; `rollforward emulator runtime
release`; the pinner's own approval refused and another IAM user's (`oncall-alice`) accepted
through `rollforward approve`; `rollforward emulator traffic checkout:live` bake after bake until
the pin is closed. The canary must end — promoted here, since the released runtime version is
good — and the decision API must answer every call within API Gateway's 29 s integration limit meanwhile (the server
used to deadlock: a canary's call back into the emulator ran detect inside it).

Every CLI call runs in process with `main([...])`, in its own environment overlay (as a separate
shell would have it), so its keys never reach the server's handlers.
"""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from rollforward_cli.main import main

from emulator.functions import handler_environment
from emulator.state import STATE
from tests.serving import REGION, Served, served

NAME, ALIAS = "checkout", "live"
# The deadlock made every decision-API answer wait 30 s or more: past API Gateway's 29 s
# integration limit, which is what the probe holds each answer to. A limit, not a speed target
# (how fast the API answers under load is not this test's business: the machine may be loaded).
INTEGRATION_LIMIT = 29.0
ACCOUNT = "123456789012"
ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


@dataclass(frozen=True)
class User:
    name: str
    arn: str
    keys: dict[str, str]

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.keys["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": self.keys["aws_secret_access_key"],
        }


def _user(server: Served, name: str) -> User:
    iam = server.client("iam")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    # What the flow needs (Lambda, the CLI's reads, execute-api): broad, as an operator's is.
    iam.put_user_policy(UserName=name, PolicyName="operator", PolicyDocument=ALLOW_ALL)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return User(
        name,
        str(arn),
        {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]},
    )


def _cli(server: Served, user: User, *argv: str) -> tuple[int, str, str]:
    """`rollforward argv...` from a shell with `AWS_ENDPOINT_URL` and `user`'s keys."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with handler_environment({**user.env, "AWS_ENDPOINT_URL": server.endpoint}):
        code = main(list(argv), stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def _ok(server: Served, user: User, *argv: str) -> str:
    code, out, err = _cli(server, user, *argv)
    assert code == 0, f"rollforward {' '.join(argv)} → {code}: {err}{out}"
    return out


class DecisionProbe:
    """A user asking the decision API something twice a second: each answer's real latency."""

    def __init__(self, server: Served, user: User) -> None:
        api, stage = server.discovery["decision_api_id"], server.discovery["decision_api_stage"]
        self.url = f"{server.endpoint}/restapis/{api}/{stage}/_user_request_/decisions"
        self.credentials = Credentials(
            user.keys["aws_access_key_id"], user.keys["aws_secret_access_key"]
        )
        self.latencies: list[float] = []
        self.statuses: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            body = b'{"action": "approve"}'  # no approval id: refused by the decision handler
            request = AWSRequest(method="POST", url=self.url, data=body)
            SigV4Auth(self.credentials, "execute-api", REGION).add_auth(request)
            started = time.monotonic()
            try:
                answer = requests.post(
                    self.url, data=body, headers=dict(request.headers), timeout=60
                )
                self.statuses.add(answer.status_code)
            except requests.RequestException:
                self.statuses.add(0)
            self.latencies.append(time.monotonic() - started)
            self._stop.wait(0.5)

    def __enter__(self) -> DecisionProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with served(throttling=True) as serving:  # `rollforward emulator` throttles by default
        yield serving


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 'ok'\n")
    return buffer.getvalue()


def _parked(server: Served) -> bool:
    """Every running execution waits (a Wait state, or an approval's task token)."""
    sfn = server.client("stepfunctions")
    for machine in sfn.list_state_machines()["stateMachines"]:
        running = sfn.list_executions(
            stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
        )["executions"]
        for execution in running:
            events = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
            if not events or events[-1]["type"] not in {"WaitStateEntered", "TaskSubmitted"}:
                return False
    return True


def _settle(server: Served, timeout: float = 60.0) -> None:
    """Deliveries done and executions parked, twice in a row (a Wait may be about to end)."""
    deadline = time.monotonic() + timeout
    while True:
        STATE.drain()
        if _parked(server) and (time.sleep(0.2) or _parked(server)):
            return
        if time.monotonic() > deadline:
            raise AssertionError("the executions never settled")
        time.sleep(0.2)


def _status(server: Served, user: User) -> dict[str, Any]:
    out = _ok(server, user, "status", "--output", "json")
    pins = [p for p in json.loads(out)["pins"] if p["function_name"] == NAME]
    assert len(pins) == 1, pins
    return dict(pins[0])


def test_the_hand_driven_flow_runs_a_canary_to_its_end(server: Served) -> None:
    dana, alice = _user(server, "dev-dana"), _user(server, "oncall-alice")
    lam = server.client("lambda", dana.keys, retries={"mode": "adaptive", "max_attempts": 10})
    role = server.client("iam").create_role(
        RoleName="checkout-role", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]

    # Dana's function: pinned on $LATEST, served through alias `live` on version 1.
    lam.create_function(
        FunctionName=NAME,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _zip()},
        Tags={"rollforward:owner": "dana@example.com", "rollforward:team": "payments"},
    )
    pinned_arn = lam.get_function(FunctionName=NAME)["Configuration"]["RuntimeVersionConfig"][
        "RuntimeVersionArn"
    ]
    lam.put_runtime_management_config(
        FunctionName=NAME, UpdateRuntimeOn="Manual", RuntimeVersionArn=pinned_arn
    )
    baseline = lam.publish_version(FunctionName=NAME)["Version"]
    lam.create_alias(FunctionName=NAME, Name=ALIAS, FunctionVersion=baseline)
    _settle(server)
    pin = _status(server, dana)
    assert pin["stage"] == "tracking"

    with DecisionProbe(server, alice) as probe:
        # The ladder, a day at a time, until on-call is asked to approve.
        for _day in range(16):
            if _status(server, dana)["approval_id"]:
                break
            _ok(server, dana, "emulator", "clock", "advance", "1d")
            _settle(server)
        approval_id = _status(server, dana)["approval_id"]
        assert approval_id, "no approval was requested"

        # AWS ships a newer runtime version; the pinner may not approve their own pin.
        _ok(server, dana, "emulator", "runtime", "release", "python3.12")
        code, _out, err = _cli(server, dana, "approve", approval_id, "--reason", "mine")
        assert code == 1, err
        _ok(server, alice, "approve", approval_id, "--reason", "newer runtime is out")

        # Bake after bake of traffic through the alias, until the pin is closed.
        for _bake in range(12):
            _settle(server)
            if not _status_open(server, dana):
                break
            _ok(server, dana, "emulator", "traffic", f"{NAME}:{ALIAS}", "--rps", "50",
                "--duration", "10m")  # fmt: skip
        _settle(server)

    record = _ledger_item(server)
    assert record["stage"] == "resolved", record
    alias = lam.get_alias(FunctionName=NAME, Name=ALIAS)
    assert alias["FunctionVersion"] != baseline
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert lam.get_runtime_management_config(FunctionName=NAME)["UpdateRuntimeOn"] == "Auto"
    # Every probe was answered by the decision handler (a refusal), none timed out or failed.
    assert probe.latencies and all(400 <= s < 500 for s in probe.statuses), probe.statuses
    assert max(probe.latencies) < INTEGRATION_LIMIT, (
        f"slowest decision-API answer {max(probe.latencies):.1f}s"
    )


def _status_open(server: Served, user: User) -> bool:
    out = _ok(server, user, "status", "--all", "--output", "json")
    pins = [p for p in json.loads(out)["pins"] if p["function_name"] == NAME]
    return bool(pins) and bool(pins[0]["is_open"])


def _ledger_item(server: Served) -> dict[str, Any]:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{NAME}"
    item = server.client("dynamodb").get_item(
        TableName=server.discovery["ledger_table"], Key={"pin_id": {"S": f"{arn}#$LATEST"}}
    )["Item"]
    return {key: next(iter(value.values())) for key, value in item.items()}
