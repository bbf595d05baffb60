"""The emulator server is concurrent and asynchronous where AWS is.

On a server (port 0) with the rollforward stack deployed, as `rollforward emulator --deploy`
runs it: a handler's call back into the emulator, the CloudTrail delivery it causes (which runs
the detect handler) and users' calls never wait for each other; handlers run concurrently, each
in its own environment. A probe function whose handler lives in `rollforward.handlers` (so the
emulator runs it in process, like rollforward's own) makes the calls.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import types
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from emulator.state import STATE
from tests.serving import REGION, Served, served

PROBE_MODULE = "rollforward.handlers.concurrency_probe"
# Real seconds a call may take before the test calls it blocked (the deadlock took 30 s+).
PROMPT = 10.0
FAIL_FAST = {"read_timeout": PROMPT, "retries": {"max_attempts": 1, "mode": "standard"}}

_barrier = threading.Barrier(2, timeout=PROMPT)
_release = threading.Event()
_holding = threading.Event()


def _probe(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """What the probe function does, by `event["action"]`; it answers with its environment."""
    action = event["action"]
    if action == "pin":  # a handler's call back into the emulator (the canary does this)
        lam = boto3.client(
            "lambda", endpoint_url=os.environ["AWS_ENDPOINT_URL"], config=Config(**FAIL_FAST)
        )
        lam.put_runtime_management_config(
            FunctionName=event["function"],
            UpdateRuntimeOn="Manual",
            RuntimeVersionArn=event["runtime_arn"],
        )
    elif action == "rendezvous":  # both invocations must be running at once to pass
        _barrier.wait()
    elif action == "hold":  # runs until the test releases it
        _holding.set()
        if not _release.wait(PROMPT * 3):
            raise TimeoutError("never released")
    seen: dict[str, str] = {}
    worker = threading.Thread(target=lambda: seen.update(id=os.environ.get("PROBE_ID", "")))
    worker.start()
    worker.join()
    return {"probe_id": os.environ.get("PROBE_ID"), "thread_probe_id": seen.get("id")}


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    module = types.ModuleType(PROBE_MODULE)
    module.handler = _probe  # type: ignore[attr-defined]
    sys.modules[PROBE_MODULE] = module
    try:
        with served() as serving:
            yield serving
    finally:
        sys.modules.pop(PROBE_MODULE, None)


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def _role(server: Served) -> str:
    iam = server.client("iam")
    name = "probe-role"
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        arn = str(
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
                "Arn"
            ]
        )
        allow_all = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_role_policy(RoleName=name, PolicyName="probe", PolicyDocument=json.dumps(allow_all))
        return arn


def _probe_function(server: Served, name: str) -> None:
    server.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=_role(server),
        Handler=f"{PROBE_MODULE}.handler",
        Code={"ZipFile": _zip("# runs in process\n")},
        Environment={"Variables": {"PROBE_ID": name}},
        Timeout=60,
    )


def _fleet_function(server: Served, name: str) -> str:
    lam = server.client("lambda")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=_role(server),
        Handler="app.handler",
        Code={"ZipFile": _zip("def handler(event, context):\n    return 'ok'\n")},
    )
    config = lam.get_function(FunctionName=name)["Configuration"]
    return str(config["RuntimeVersionConfig"]["RuntimeVersionArn"])


def _invoke(server: Served, name: str, event: dict[str, Any]) -> dict[str, Any]:
    lam = server.client("lambda", **FAIL_FAST)
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return dict(payload)


def test_a_handler_calling_back_into_the_emulator_is_answered_and_detect_runs(
    server: Served,
) -> None:
    """The server-mode deadlock: a handler's mutating call back into the emulator caused a
    CloudTrail delivery that ran the detect handler inside that call, and detect waited for
    the first handler to finish. Now the call returns at once and detect runs after it."""
    _probe_function(server, "probe-caller")
    runtime_arn = _fleet_function(server, "pinned-by-a-handler")

    answer = _invoke(
        server,
        "probe-caller",
        {"action": "pin", "function": "pinned-by-a-handler", "runtime_arn": runtime_arn},
    )

    assert answer["probe_id"] == "probe-caller"
    STATE.drain()
    ledger = server.client("dynamodb")
    arn = f"arn:aws:lambda:{REGION}:123456789012:function:pinned-by-a-handler"
    item = ledger.get_item(
        TableName=server.discovery["ledger_table"], Key={"pin_id": {"S": f"{arn}#$LATEST"}}
    ).get("Item")
    assert item is not None, "detect did not record the pin"


def test_handlers_run_concurrently_each_in_its_own_environment(server: Served) -> None:
    _probe_function(server, "probe-left")
    _probe_function(server, "probe-right")

    with ThreadPoolExecutor(2) as pool:
        left = pool.submit(_invoke, server, "probe-left", {"action": "rendezvous"})
        right = pool.submit(_invoke, server, "probe-right", {"action": "rendezvous"})
        answers = [left.result(), right.result()]

    # A thread a handler starts sees the handler's environment too.
    assert answers == [
        {"probe_id": "probe-left", "thread_probe_id": "probe-left"},
        {"probe_id": "probe-right", "thread_probe_id": "probe-right"},
    ]
    # Nothing leaked into the process environment the server runs in.
    assert "PROBE_ID" not in os.environ


def test_the_decision_api_and_aws_calls_answer_while_a_handler_runs(server: Served) -> None:
    _probe_function(server, "probe-holder")
    _release.clear()
    _holding.clear()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(_invoke, server, "probe-holder", {"action": "hold"})
        try:
            assert _holding.wait(PROMPT), "the held handler never started"
            # Another handler (the decision API's) and plain AWS calls are answered meanwhile.
            status, body = _post_decision(server, b"not json")
            assert status == 400, body
            server.client("lambda", **FAIL_FAST).list_functions()
        finally:
            _release.set()
        assert held.result()["probe_id"] == "probe-holder"


def _post_decision(server: Served, body: bytes) -> tuple[int, str]:
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    api, stage = server.discovery["decision_api_id"], server.discovery["decision_api_stage"]
    url = f"{server.endpoint}/restapis/{api}/{stage}/_user_request_/decisions"
    request = AWSRequest(
        method="POST", url=url, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials("testing", "testing"), "execute-api", REGION).add_auth(request)
    try:
        response = requests.post(url, data=body, headers=dict(request.headers), timeout=PROMPT)
    except requests.Timeout as error:
        raise AssertionError("the decision API did not answer while a handler ran") from error
    return response.status_code, response.text


def test_a_call_never_waits_for_the_delivery_it_causes(server: Served) -> None:
    """The Put returns while the detect handler its event runs is still blocked: delivery is
    after the call, as EventBridge's is."""
    runtime_arn = _fleet_function(server, "pinned-while-detect-is-held")
    gate = threading.Event()
    entered = threading.Event()
    from rollforward.handlers import detect

    original = detect.handler

    def held_detect(event: dict[str, Any], context: Any) -> Any:
        entered.set()
        gate.wait(PROMPT * 3)
        return original(event, context)

    detect.handler = held_detect  # type: ignore[assignment]
    try:
        lam = server.client("lambda", **FAIL_FAST)
        try:
            lam.put_runtime_management_config(
                FunctionName="pinned-while-detect-is-held",
                UpdateRuntimeOn="Manual",
                RuntimeVersionArn=runtime_arn,
            )
        except ReadTimeoutError as error:
            raise AssertionError("the Put waited for its delivery") from error
        assert entered.wait(PROMPT), "the delivery never ran detect"
    finally:
        gate.set()
        detect.handler = original  # type: ignore[assignment]
    STATE.drain()


def test_put_events_of_a_cloudtrail_shaped_event_is_accepted_and_detect_runs(
    server: Served,
) -> None:
    """`aws events put-events` on the server with a CloudTrail-shaped pin event: 200, and the
    deployed detection rule delivers it to detect (moto alone answered 500 for a rule whose
    targets include a state machine, and has no Lambda target)."""
    events = server.client("events")
    [rule] = [
        r["Name"]
        for r in events.list_rules()["Rules"]
        if "PutRuntimeManagementConfig" in r.get("EventPattern", "")
    ]
    runtime_arn = _fleet_function(server, "pinned-while-the-rule-was-off")
    events.disable_rule(Name=rule)  # the pin's own event reaches nobody
    try:
        lam = server.client("lambda")
        lam.put_runtime_management_config(
            FunctionName="pinned-while-the-rule-was-off",
            UpdateRuntimeOn="Manual",
            RuntimeVersionArn=runtime_arn,
        )
        STATE.drain()
    finally:
        events.enable_rule(Name=rule)
    arn = f"arn:aws:lambda:{REGION}:123456789012:function:pinned-while-the-rule-was-off"
    pin_id = {"pin_id": {"S": f"{arn}#$LATEST"}}
    table = server.discovery["ledger_table"]
    dynamodb = server.client("dynamodb")
    assert "Item" not in dynamodb.get_item(TableName=table, Key=pin_id)
    detail = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "Root",
            "principalId": "123456789012",
            "arn": "arn:aws:iam::123456789012:root",
            "accountId": "123456789012",
        },
        "eventTime": STATE.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "lambda.amazonaws.com",
        "eventName": "PutRuntimeManagementConfig",
        "awsRegion": REGION,
        "requestParameters": {
            "functionName": "pinned-while-the-rule-was-off",
            "qualifier": "$LATEST",
            "updateRuntimeOn": "Manual",
            "runtimeVersionArn": runtime_arn,
        },
        "responseElements": {"updateRuntimeOn": "Manual", "functionArn": arn},
        "eventID": "0b7e1f52-7d8e-4a34-9f3c-3c1f0f6f0a11",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "123456789012",
    }

    answer = events.put_events(
        Entries=[
            {
                "Source": "aws.lambda",
                "DetailType": "AWS API Call via CloudTrail",
                "Detail": json.dumps(detail),
            }
        ]
    )

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["FailedEntryCount"] == 0
    STATE.drain()
    assert "Item" in dynamodb.get_item(TableName=table, Key=pin_id), "detect did not run"


def test_the_handler_environment_is_an_overlay_of_the_process_environment() -> None:
    """The mechanism: inside an invocation `os.environ`/`os.getenv` see the function's
    variables first; threads the handler starts inherit them; the AWS side of a call
    (`process_environment`, and the threads it starts) and everything else do not."""
    from emulator.functions import handler_environment, process_environment

    os.environ["OVERLAY_BASE"] = "process"
    seen: dict[str, str | None] = {}

    def look(key: str) -> None:
        seen[key] = os.getenv("OVERLAY_PROBE")

    try:
        with handler_environment({"OVERLAY_PROBE": "handler", "OVERLAY_BASE": "mine"}):
            assert os.environ["OVERLAY_PROBE"] == "handler" and os.getenv("OVERLAY_BASE") == "mine"
            os.environ["OVERLAY_WRITTEN"] = "stays in the invocation"
            del os.environ["OVERLAY_BASE"]
            assert "OVERLAY_BASE" not in os.environ and "OVERLAY_BASE" not in dict(os.environ)
            child = threading.Thread(target=look, args=("child",))
            child.start()
            child.join()
            with process_environment():
                assert os.getenv("OVERLAY_PROBE") is None
                assert os.environ["OVERLAY_BASE"] == "process"
                aws_side = threading.Thread(target=look, args=("aws_side",))
                aws_side.start()
                aws_side.join()
        other = threading.Thread(target=look, args=("other",))
        other.start()
        other.join()
        assert seen == {"child": "handler", "aws_side": None, "other": None}
        assert os.environ["OVERLAY_BASE"] == "process"
        assert "OVERLAY_WRITTEN" not in os.environ and "OVERLAY_PROBE" not in os.environ
    finally:
        os.environ.pop("OVERLAY_BASE", None)
