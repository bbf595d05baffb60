"""Step Functions in the embedded AWS refuses what AWS refuses.

Each test runs a small hand-written ASL definition in the embedded AWS and asserts what AWS
does (docs/parity/stepfunctions.md has the source of each rule). moto's interpreter, left
alone, would take another branch, drop a result, catch an uncatchable error or accept a
closed task's token.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/states"
TERMINAL = {"SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"}


@pytest.fixture(autouse=True)
def _states_role(aws: Any) -> None:
    """The machines' role, allowed what their tasks call (IAM enforcement holds them to it)."""
    iam = boto3.client("iam")
    iam.create_role(RoleName="states", AssumeRolePolicyDocument="{}")
    allow_all = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName="states", PolicyName="tasks", PolicyDocument=json.dumps(allow_all))


def _machine(definition: dict[str, Any]) -> str:
    sfn = boto3.client("stepfunctions")
    return sfn.create_state_machine(  # type: ignore[no-any-return]
        name=f"m-{uuid.uuid4().hex[:12]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]


def _finish(execution_arn: str, timeout: float = 10.0) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in TERMINAL or time.monotonic() > deadline:
            return described  # type: ignore[no-any-return]
        time.sleep(0.02)


def run(definition: dict[str, Any], execution_input: Any = None) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=_machine(definition), input=json.dumps(execution_input or {})
    )
    return _finish(started["executionArn"])


def choice(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}], "Default": "No"},
            "Yes": {"Type": "Pass", "Result": "yes", "End": True},
            "No": {"Type": "Pass", "Result": "no", "End": True},
        },
    }


def one_pass(**fields: Any) -> dict[str, Any]:
    return {"StartAt": "P", "States": {"P": {"Type": "Pass", **fields, "End": True}}}


def assert_runtime_failure(described: dict[str, Any], *words: str) -> None:
    assert described["status"] == "FAILED", described
    assert described["error"] == "States.Runtime"
    for word in words:
        assert word in described["cause"]


# --- Choice ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        {"Variable": "$.canary.next", "StringEquals": "bake"},
        {"Variable": "$.next.requests_approval", "BooleanEquals": True},
        {"Variable": "$.n", "NumericGreaterThan": 1},
        {"Variable": "$.at", "TimestampLessThan": "2026-01-01T00:00:00Z"},
        {
            "Or": [
                {"Variable": "$.a", "StringEquals": "x"},
                {"Variable": "$.a", "StringEquals": "y"},
            ]
        },
        {"Not": {"Variable": "$.a", "StringEquals": "x"}},
    ],
)
def test_choice_on_a_missing_path_fails_the_execution(aws, rule):
    assert_runtime_failure(run(choice(rule), {"canary": {}}), "Invalid path")


def test_choice_on_a_present_path_still_chooses(aws):
    described = run(
        choice({"Variable": "$.canary.next", "StringEquals": "bake"}), {"canary": {"next": "bake"}}
    )
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == "yes"


def test_ispresent_guards_a_missing_path(aws):
    rule = {
        "And": [
            {"Variable": "$.canary", "IsPresent": True},
            {"Variable": "$.canary.next", "StringEquals": "bake"},
        ]
    }
    described = run(choice(rule), {"status": "superseded"})
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == "no"


def test_choice_on_a_value_of_another_type_is_false_not_an_error(aws):
    described = run(choice({"Variable": "$.a", "StringEquals": "1"}), {"a": 1})
    assert json.loads(described["output"]) == "no"


# --- paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"InputPath": "$.missing"},
        {"OutputPath": "$.missing"},
        {"Parameters": {"a.$": "$.missing"}},
        {"Parameters": {"a.$": "$$.Execution.Nope"}},
    ],
    ids=["InputPath", "OutputPath", "Parameters", "Parameters-context"],
)
def test_a_missing_path_fails_the_execution(aws, fields):
    assert_runtime_failure(
        run(one_pass(**fields)), "missing" if "Nope" not in str(fields) else "Nope"
    )


def test_a_missing_items_path_fails_the_map(aws):
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "Iterator": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}},
                "End": True,
            }
        },
    }
    assert_runtime_failure(run(definition), "$.items")


def test_a_missing_result_selector_path_fails_even_with_a_catch_all(aws):
    definition = {
        "StartAt": "Par",
        "States": {
            "Par": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}],
                "ResultSelector": {"x.$": "$.missing"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "Result": "caught", "End": True},
        },
    }
    assert_runtime_failure(run(definition), "$.missing")


def test_a_missing_wait_timestamp_path_fails_the_execution(aws):
    definition = {
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "TimestampPath": "$.due_at", "End": True}},
    }
    assert_runtime_failure(run(definition), "$.due_at")


@pytest.mark.parametrize("state_input", [[1, 2], "text", {"x": 5}])
def test_result_path_into_a_value_that_is_not_an_object_fails(aws, state_input):
    described = run(one_pass(Result={"r": 1}, ResultPath="$.x.y"), state_input)
    assert_runtime_failure(described, "ResultPath")


def test_result_path_creates_missing_objects(aws):
    described = run(one_pass(Result={"r": 1}, ResultPath="$.x.y"), {"keep": True})
    assert json.loads(described["output"]) == {"keep": True, "x": {"y": {"r": 1}}}


def _timeout_path_machine() -> str:
    queue = boto3.client("sqs").create_queue(QueueName=f"t-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
        "TimeoutSecondsPath": "$.timeout",
        "End": True,
    }
    return _machine({"StartAt": "Ask", "States": {"Ask": task}})


@pytest.mark.parametrize("timeout", [0, -5, 1.5, "10", True, 100_000_000])
def test_timeout_seconds_path_must_select_a_positive_integer(aws, timeout):
    sfn = boto3.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=_timeout_path_machine(), input=json.dumps({"timeout": timeout})
    )
    assert_runtime_failure(_finish(started["executionArn"]), "TimeoutSecondsPath")


def test_timeout_seconds_path_with_a_positive_integer_waits(aws):
    sfn = boto3.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=_timeout_path_machine(), input=json.dumps({"timeout": 86400})
    )
    time.sleep(0.5)
    assert sfn.describe_execution(executionArn=started["executionArn"])["status"] == "RUNNING"


# --- errors that no catch-all catches ------------------------------------------------------


def _catching(state: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    return {
        "StartAt": "S",
        "States": {
            "S": {
                **state,
                "Retry": [{"ErrorEquals": errors, "MaxAttempts": 2, "IntervalSeconds": 1}],
                "Catch": [{"ErrorEquals": errors, "Next": "Caught", "ResultPath": "$.failure"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "Result": "caught", "End": True},
        },
    }


def _sqs_task(parameters: dict[str, Any]) -> dict[str, Any]:
    queue_url = boto3.client("sqs").create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {"QueueUrl": queue_url, **parameters},
    }


@pytest.mark.parametrize("errors", [["States.ALL"], ["States.Runtime"]])
def test_states_runtime_is_neither_retried_nor_caught(aws, errors):
    task = _sqs_task({"MessageBody.$": "$.missing"})
    described = run(_catching(task, errors))
    assert_runtime_failure(described, "$.missing")
    history = boto3.client("stepfunctions").get_execution_history(
        executionArn=described["executionArn"]
    )["events"]
    assert not [e for e in history if e["type"] == "TaskScheduled"]  # failed before the call


def _too_big_parallel(errors: list[str]) -> dict[str, Any]:
    big = {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "a" * 140_000, "End": True}}}
    state = {"Type": "Parallel", "Branches": [big, big]}
    definition = _catching(state, errors)
    del definition["States"]["S"]["Retry"]
    return definition


def test_data_limit_exceeded_is_not_caught_by_states_all(aws):
    described = run(_too_big_parallel(["States.ALL"]))
    assert described["status"] == "FAILED"
    assert described["error"] == "States.DataLimitExceeded"


def test_a_state_output_over_256_kib_fails(aws):
    described = run(one_pass(Result="a" * (256 * 1024)))  # 256 KiB of text + 2 quotes
    assert described["status"] == "FAILED"
    assert described["error"] == "States.DataLimitExceeded"


def test_a_state_output_of_exactly_256_kib_passes(aws):
    described = run(one_pass(Result="a" * (256 * 1024 - 2)))
    assert described["status"] == "SUCCEEDED"


# --- task tokens ----------------------------------------------------------------------------


class Parked:
    """An execution parked in `.waitForTaskToken` (SQS carries the token out)."""

    def __init__(self, timeout_seconds: int | None = None) -> None:
        self.sfn = boto3.client("stepfunctions")
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName=f"tokens-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        task: dict[str, Any] = {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
            "ResultPath": "$.answer",
            "End": True,
        }
        if timeout_seconds is not None:
            task["TimeoutSeconds"] = timeout_seconds
        machine = _machine({"StartAt": "Ask", "States": {"Ask": task}})
        self.arn = self.sfn.start_execution(stateMachineArn=machine)["executionArn"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=queue).get("Messages", [])
            if messages:
                self.token: str = json.loads(messages[0]["Body"])["token"]
                return
            time.sleep(0.02)
        raise AssertionError("the task never sent its token")


def refusal(call: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    error = raised.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]


def _all_three_refused(parked: Parked, code: str) -> None:
    sfn = parked.sfn
    assert refusal(sfn.send_task_success, taskToken=parked.token, output="{}") == (code, 400)
    assert refusal(sfn.send_task_failure, taskToken=parked.token, error="E") == (code, 400)
    assert refusal(sfn.send_task_heartbeat, taskToken=parked.token) == (code, 400)


def test_a_token_is_answered_once(aws):
    parked = Parked()
    parked.sfn.send_task_success(taskToken=parked.token, output='{"decision": "approved"}')
    described = _finish(parked.arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["answer"] == {"decision": "approved"}
    _all_three_refused(parked, "TaskTimedOut")


def test_the_token_of_a_stopped_execution_is_refused(aws):
    parked = Parked()
    parked.sfn.stop_execution(
        executionArn=parked.arn, error="rollforward.Lifted", cause="pin lifted"
    )
    _all_three_refused(parked, "TaskTimedOut")
    assert _finish(parked.arn)["status"] == "ABORTED"


def test_the_token_of_a_timed_out_task_is_refused(aws):
    parked = Parked(timeout_seconds=3600)
    aws.state.clock.advance(timedelta(hours=2))
    described = _finish(parked.arn)
    assert (described["status"], described["error"]) == ("FAILED", "States.Timeout")
    _all_three_refused(parked, "TaskTimedOut")


def test_the_token_of_a_failed_execution_is_refused(aws):
    parked = Parked()
    parked.sfn.send_task_failure(taskToken=parked.token, error="rollforward.Denied", cause="no")
    described = _finish(parked.arn)
    assert (described["status"], described["error"], described["cause"]) == (
        "FAILED",
        "rollforward.Denied",
        "no",
    )
    _all_three_refused(parked, "TaskTimedOut")


def test_an_unknown_token_is_invalid(aws):
    sfn = boto3.client("stepfunctions")
    assert refusal(sfn.send_task_success, taskToken="not-a-token", output="{}") == (
        "InvalidToken",
        400,
    )


def test_output_that_is_not_json_is_refused_and_changes_nothing(aws):
    parked = Parked()
    assert refusal(parked.sfn.send_task_success, taskToken=parked.token, output="{nope") == (
        "InvalidOutput",
        400,
    )
    assert parked.sfn.describe_execution(executionArn=parked.arn)["status"] == "RUNNING"
    parked.sfn.send_task_success(taskToken=parked.token, output="{}")
    assert _finish(parked.arn)["status"] == "SUCCEEDED"


def test_a_heartbeat_on_an_open_task_is_accepted(aws):
    parked = Parked()
    parked.sfn.send_task_heartbeat(taskToken=parked.token)
    assert parked.sfn.describe_execution(executionArn=parked.arn)["status"] == "RUNNING"


def test_send_task_failure_hands_error_and_cause_to_the_catch(aws):
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="tokens-catch")["QueueUrl"]
    definition = {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "Next": "Caught", "ResultPath": "$.failure"}
                ],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=_machine(definition))["executionArn"]
    token = None
    for _ in range(500):
        messages = sqs.receive_message(QueueUrl=queue).get("Messages", [])
        if messages:
            token = json.loads(messages[0]["Body"])["token"]
            break
        time.sleep(0.02)
    assert token is not None
    sfn.send_task_failure(taskToken=token, error="rollforward.Rejected", cause="by oncall-b")
    output = json.loads(_finish(arn)["output"])
    assert output["failure"] == {"Error": "rollforward.Rejected", "Cause": "by oncall-b"}


# --- StopExecution and StartExecution -------------------------------------------------------


def test_stop_execution_aborts_at_once_and_keeps_error_and_cause(aws):
    parked = Parked()
    stopped = parked.sfn.stop_execution(executionArn=parked.arn, error="Lifted", cause="pin lifted")
    assert stopped["stopDate"] is not None
    described = parked.sfn.describe_execution(executionArn=parked.arn)
    assert (described["status"], described["error"], described["cause"]) == (
        "ABORTED",
        "Lifted",
        "pin lifted",
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        events = parked.sfn.get_execution_history(executionArn=parked.arn)["events"]
        if events[-1]["type"] == "ExecutionAborted":
            break
        time.sleep(0.02)
    assert events[-1]["type"] == "ExecutionAborted"
    assert not [e for e in events if e["type"] == "ExecutionFailed"]


def test_stopping_an_execution_that_already_ended_changes_nothing(aws):
    """StopExecution's errors (API reference) are ExecutionDoesNotExist, InvalidArn,
    ValidationException (Express) and KMS ones: none for an execution that is no longer
    running. It answers 200 and the ended execution keeps its status, stopDate and (absent)
    error and cause; its history gains no ExecutionAborted."""
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=_machine(definition))["executionArn"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        ended = sfn.describe_execution(executionArn=arn)
        if ended["status"] != "RUNNING":
            break
        time.sleep(0.02)
    assert ended["status"] == "SUCCEEDED"

    answer = sfn.stop_execution(executionArn=arn, error="Lifted", cause="too late")

    assert answer["stopDate"] == ended["stopDate"]
    after = sfn.describe_execution(executionArn=arn)
    assert (after["status"], after["stopDate"]) == ("SUCCEEDED", ended["stopDate"])
    assert "error" not in after and "cause" not in after
    events = sfn.get_execution_history(executionArn=arn)["events"]
    assert [e["type"] for e in events][-1] == "ExecutionSucceeded"


def test_stop_execution_ends_a_wait_at_once(aws):
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 86400, "End": True}}}
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=_machine(definition))["executionArn"]
    time.sleep(0.1)
    sfn.stop_execution(executionArn=arn)
    deadline = time.monotonic() + 2
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = sfn.get_execution_history(executionArn=arn)["events"]
        if events[-1]["type"] == "ExecutionAborted":
            break
        time.sleep(0.02)
    assert events[-1]["type"] == "ExecutionAborted"
    assert "error" not in sfn.describe_execution(executionArn=arn)


def test_unnamed_executions_get_distinct_names(aws):
    sfn = boto3.client("stepfunctions")
    machine = _machine(one_pass())
    first = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert first != second


# --- the clock ------------------------------------------------------------------------------


def test_a_wait_ends_when_the_clock_reaches_it_and_not_before(aws):
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=_machine(definition))["executionArn"]
    time.sleep(0.2)
    aws.state.clock.advance(timedelta(minutes=59))
    time.sleep(0.2)
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    aws.state.clock.advance(timedelta(minutes=2))
    assert _finish(arn, timeout=2)["status"] == "SUCCEEDED"


def test_a_stopped_execution_leaves_no_interpreter_behind(aws):
    """What an embedded AWS waits for when it shuts down (`wait_for_interpreters`): while an
    execution runs its program is being evaluated; once stopped, none is, so nothing it was
    doing can act in the next embedded AWS."""
    from emulator.stepfunctions import wait_for_interpreters

    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=_machine(definition))["executionArn"]
    time.sleep(0.2)
    assert wait_for_interpreters(timeout=0.2) == 1  # parked in its Wait
    sfn.stop_execution(executionArn=arn)
    assert wait_for_interpreters(timeout=5.0) == 0


# --- a definition's syntax tree is parsed once ----------------------------------------------


def test_a_definition_refused_for_its_syntax_is_refused_again(aws):
    """The syntax tree (and its errors) is cached per definition: a second creation of the same
    broken definition is refused as the first was."""
    sfn = boto3.client("stepfunctions")
    broken = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Ends": True}}})
    messages = []
    for _ in range(2):
        with pytest.raises(ClientError) as refused:
            sfn.create_state_machine(
                name=f"m-{uuid.uuid4().hex[:12]}", definition=broken, roleArn=ROLE
            )
        assert refused.value.response["Error"]["Code"] == "InvalidDefinition"
        messages.append(refused.value.response["Error"]["Message"])
    assert messages[0] == messages[1]


def test_executions_of_one_definition_do_not_share_their_state(aws):
    """Each execution gets a program preprocessed afresh from the cached tree."""
    definition = {
        "StartAt": "Count",
        "States": {
            "Count": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "Double",
                    "States": {"Double": {"Type": "Pass", "Parameters": {"n.$": "$"}, "End": True}},
                },
                "End": True,
            }
        },
    }
    sfn = boto3.client("stepfunctions")
    machine = _machine(definition)
    arns = [
        sfn.start_execution(stateMachineArn=machine, input=json.dumps({"items": items}))[
            "executionArn"
        ]
        for items in ([1, 2, 3], [7])
    ]
    outputs = [json.loads(_finish(arn)["output"]) for arn in arns]
    assert outputs == [[{"n": 1}, {"n": 2}, {"n": 3}], [{"n": 7}]]


def test_the_last_event_read_in_process_is_the_history_s_last(aws):
    """What a test's wait for quiescence reads (`last_event_type`) is GetExecutionHistory's
    last event, parked in a Wait and after the execution ended."""
    from emulator.stepfunctions import last_event_type

    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=_machine(definition))["executionArn"]

    def last_in_history() -> str:
        return str(sfn.get_execution_history(executionArn=arn)["events"][-1]["type"])

    deadline = time.monotonic() + 5
    while last_in_history() != "WaitStateEntered" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert last_event_type(arn) == last_in_history() == "WaitStateEntered"
    aws.state.clock.advance(timedelta(hours=2))
    assert _finish(arn)["status"] == "SUCCEEDED"
    assert last_event_type(arn) == last_in_history() == "ExecutionSucceeded"
