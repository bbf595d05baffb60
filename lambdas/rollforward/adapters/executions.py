"""`Executions` on boto3's Step Functions client, for one state machine."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from rollforward.adapters.aws_errors import call, error_code
from rollforward.ports import ExecutionInfo

# What Step Functions answers for an execution (or token) that is not there (any more).
_GONE = frozenset({"ExecutionDoesNotExist", "InvalidArn", "StateMachineDoesNotExist"})
LIST_EXECUTIONS_PAGE = 1000  # ListExecutions' maximum page
_NOT_AWAITED = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


class StepFunctionsExecutions:
    """`client` is a boto3 Step Functions client (exposed: the scan paces calls made through
    it); `state_machine_arn` the remediation state machine."""

    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self.client = client
        self.state_machine_arn = state_machine_arn

    def execution_arn(self, name: str) -> str:
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"

    def start(self, name: str, input: Mapping[str, Any]) -> str:
        try:
            response = call(
                self.client.start_execution,
                stateMachineArn=self.state_machine_arn,
                name=name,
                input=json.dumps(dict(input), separators=(",", ":"), default=str),
            )
        except ClientError as error:
            if error_code(error) != "ExecutionAlreadyExists":
                raise
            return self.execution_arn(name)
        return str(response["executionArn"])

    def stop(self, execution_arn: str, *, error: str, cause: str) -> None:
        try:
            call(
                self.client.stop_execution,
                executionArn=execution_arn,
                error=error,
                cause=cause[:32768],
            )
        except ClientError as failure:
            if error_code(failure) not in _GONE:
                raise

    def describe(self, execution_arn: str) -> ExecutionInfo | None:
        try:
            response = call(self.client.describe_execution, executionArn=execution_arn)
        except ClientError as error:
            if error_code(error) in _GONE:
                return None
            raise
        return ExecutionInfo(arn=execution_arn, status=str(response["status"]))

    def running(self) -> set[str]:
        return set(self.running_since())

    def running_since(self) -> dict[str, datetime]:
        """The RUNNING executions' ARNs and when each started (one call per 1,000)."""
        running: dict[str, datetime] = {}
        kwargs: dict[str, Any] = {
            "stateMachineArn": self.state_machine_arn,
            "statusFilter": "RUNNING",
            "maxResults": LIST_EXECUTIONS_PAGE,
        }
        while True:
            page = call(self.client.list_executions, **kwargs)
            running.update(
                (str(e["executionArn"]), e["startDate"]) for e in page.get("executions", [])
            )
            token = page.get("nextToken")
            if not token:
                return running
            kwargs["nextToken"] = token

    def send_task_success(self, task_token: str, output: Mapping[str, Any]) -> bool:
        try:
            call(self.client.send_task_success, taskToken=task_token, output=json.dumps(output))
        except ClientError as error:
            if error_code(error) in _NOT_AWAITED:
                return False
            raise
        return True
