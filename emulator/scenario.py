"""A deployed rollforward in the embedded AWS, driven only through AWS APIs.

Shared by the e2e tests and the demo. It talks to "AWS" like a user would: boto3 clients with
the credentials of IAM users it creates, EventBridge/CloudTrail delivering events, SQS queues
subscribed to the notice topics.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import boto3
from rollforward.adapters.cloudwatch_audit import CloudWatchAuditTrail as AuditTrail
from rollforward.adapters.dynamodb_ledger import DynamoLedger as Ledger
from rollforward.ledger import Pin
from rollforward.model import PinKey, discovery_parameter
from rollforward_cli.aws import DecisionClient, Target

from emulator.deploy import Deployment
from emulator.inprocess import EmbeddedAws
from emulator.stepfunctions import last_event_type

T = TypeVar("T")
ACCOUNT = "123456789012"
REGION = "us-east-1"


# A wait ends when its condition holds; the ceiling only bounds a hang. On a loaded 2-core
# machine (CI, pytest-xdist) a handler run in process can take many seconds: 15 s was too short.
WAIT_CEILING_SECONDS = 90.0


def wait_for(
    predicate: Callable[[], T | None],
    *,
    timeout: float = WAIT_CEILING_SECONDS,
    what: str = "condition",
) -> T:
    """Poll until `predicate()` is truthy; executions run in background threads. The interval
    grows from 20 ms to 250 ms: each poll is API calls into the embedded AWS, which compete
    for the CPU with the executions being waited for."""
    deadline = time.monotonic() + timeout
    interval = 0.02
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.25)


# A function update's polling interval (botocore's function_updated_v2 waiter polls every 1 s: the
# emulator's updates complete within a fraction of a second, emulator.lambda_api.updates).
UPDATE_POLL_SECONDS = 0.05


def wait_until_updated(lam: Any, name: str) -> None:
    """Wait, as a careful user does, until the function's last update has completed: Lambda
    refuses another update or a PublishVersion meanwhile (ResourceConflictException)."""
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": UPDATE_POLL_SECONDS, "MaxAttempts": 600}
    )


def code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {'ok': True}\n")
    return buffer.getvalue()


# What the scenario's people (function owners, on-call) may do: change and read Lambda functions,
# call the decision API, read what the CLI shows. IAM enforcement holds them to it.
OPERATOR_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["lambda:*", "execute-api:Invoke"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": [
                "states:Describe*",
                "states:List*",
                "states:GetExecutionHistory",
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:Scan",
                "ssm:GetParameter",
                "ssm:GetParametersByPath",
                "logs:FilterLogEvents",
                "logs:GetLogEvents",
                "cloudwatch:GetMetricData",
                "cloudwatch:DescribeAlarms",
                # `rollforward doctor`: the account's CloudTrail trail
                "cloudtrail:DescribeTrails",
                "cloudtrail:GetTrailStatus",
                "cloudtrail:GetEventSelectors",
            ],
            "Resource": "*",
        },
        {  # `rollforward scan`: a cycle of the scan's machine (`<stack>-scan`), nothing else
            "Effect": "Allow",
            "Action": "states:StartExecution",
            "Resource": "arn:aws:states:*:*:stateMachine:*-scan",
        },
    ],
}


class Principal:
    """An IAM user with its own access key, held to `policy` (identity policy, inline):
    what it does is attributed to it."""

    def __init__(self, name: str, policy: dict[str, Any] | None = OPERATOR_POLICY) -> None:
        iam = boto3.client("iam")
        self.arn = iam.create_user(UserName=name)["User"]["Arn"]
        if policy is not None:
            iam.put_user_policy(
                UserName=name, PolicyName="operator", PolicyDocument=json.dumps(policy)
            )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        self.session = boto3.Session(
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            region_name=REGION,
        )

    def client(self, service: str) -> Any:
        return self.session.client(service)


class Lifecycle:
    def __init__(self, aws: EmbeddedAws, deployment: Deployment) -> None:
        self.aws = aws
        self.deployment = deployment
        self.lam = boto3.client("lambda")
        self.sfn = boto3.client("stepfunctions")
        self.sqs = boto3.client("sqs")
        self.state_machine_arn = deployment.find("AWS::StepFunctions::StateMachine", "Remediation")
        self.ledger = Ledger(
            boto3.resource("dynamodb").Table(deployment.find("AWS::DynamoDB::Table", "Ledger"))
        )
        self.approvals_table = boto3.resource("dynamodb").Table(
            deployment.find("AWS::DynamoDB::Table", "Approvals")
        )
        self.audit = AuditTrail(
            boto3.client("logs"), deployment.find("AWS::Logs::LogGroup", "AuditTrail")
        )
        self.role = boto3.client("iam").create_role(
            RoleName="fleet-role", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        self.queues = {
            audience: self._subscribe(audience) for audience in ("owner", "team", "oncall")
        }
        self.discovery = json.loads(
            boto3.client("ssm").get_parameter(Name=discovery_parameter(deployment.stack_name))[
                "Parameter"
            ]["Value"]
        )

    def _subscribe(self, audience: str) -> str:
        topic = self.deployment.find("AWS::SNS::Topic", f"{audience.capitalize()}Topic")
        url: str = self.sqs.create_queue(QueueName=f"notices-{audience}")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        boto3.client("sns").subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        return url

    # --- the fleet ------------------------------------------------------------------------
    def create_function(
        self, name: str, *, owner: str = "alice@example.com", team: str = "payments"
    ) -> str:
        self.lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Handler="app.handler",
            Role=self.role,
            Code={"ZipFile": code_zip()},
            Tags={"rollforward:owner": owner, "rollforward:team": team},
        )
        return str(self.lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"])

    def runtime_arn(self, name: str) -> str:
        config = self.lam.get_function(FunctionName=name)["Configuration"]
        return str(config["RuntimeVersionConfig"]["RuntimeVersionArn"])

    def pin(self, name: str, by: Principal | None = None) -> None:
        """Pin `name` and wait until its CloudTrail event has been delivered (detect has run)."""
        client = by.client("lambda") if by else self.lam
        client.put_runtime_management_config(
            FunctionName=name, UpdateRuntimeOn="Manual", RuntimeVersionArn=self.runtime_arn(name)
        )
        self.aws.state.drain()

    def lift(self, name: str, by: Principal | None = None) -> None:
        """Lift the pin and wait until its CloudTrail event has been delivered."""
        client = by.client("lambda") if by else self.lam
        client.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Auto")
        self.aws.state.drain()

    # --- observations ---------------------------------------------------------------------
    def key(self, name: str) -> PinKey:
        return PinKey(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")

    def pin_record(self, name: str) -> Pin | None:
        return self.ledger.get(self.key(name))

    def executions(self, status: str | None = None) -> list[dict[str, Any]]:
        kwargs = {"stateMachineArn": self.state_machine_arn}
        if status:
            kwargs["statusFilter"] = status
        return list(self.sfn.list_executions(**kwargs)["executions"])

    def notices(self, audience: str) -> list[dict[str, Any]]:
        """Drain the audience's queue: each item is the `lambda`/`sqs` body of one notice."""
        received: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queues[audience], MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return received
            for message in messages:
                body = json.loads(message["Body"])
                received.append(json.loads(body["sqs"]) if "sqs" in body else body)
                self.sqs.delete_message(
                    QueueUrl=self.queues[audience], ReceiptHandle=message["ReceiptHandle"]
                )

    def pending_approval(self, name: str) -> dict[str, Any] | None:
        pin_id = self.key(name).id
        items = self.approvals_table.scan()["Items"]
        pending = [i for i in items if i["pin_id"] == pin_id and i["status"] == "pending"]
        return max(pending, key=lambda i: i["requested_at"]) if pending else None

    def quiescent(self) -> bool:
        """Every running execution is parked: in a Wait, or waiting for an approval token."""
        for execution in self.executions("RUNNING"):
            # (the last event of GetExecutionHistory, read in process: the API copies and
            # serializes the whole history, ~20 ms a call, on every poll of every execution)
            if last_event_type(execution["executionArn"]) not in {
                "WaitStateEntered",
                "TaskSubmitted",
            }:
                return False
        return True

    def settle(self) -> None:
        """Wait until executions are parked twice in a row (a Wait may be about to exit)."""

        def parked_twice() -> bool:
            if not self.quiescent():
                return False
            time.sleep(0.1)
            return self.quiescent()

        # (wall time only bounds a hang: on a loaded machine a storm's retries, each a
        # handler run in process, take longer than the 15 s other waits allow)
        wait_for(parked_twice, timeout=90.0, what="quiescence")

    def advance(
        self, days: float, *, step_days: float = 1.0, settle: Callable[[], object] | None = None
    ) -> None:
        """Let `days` pass a step at a time, letting executions catch up after each step,
        as they would in real time."""
        self.settle()
        remaining = days
        while remaining > 1e-9:
            step = min(step_days, remaining)
            self.aws.state.clock.advance(timedelta(days=step))
            remaining -= step
            time.sleep(0.1)
            self.settle()
        if settle:
            wait_for(settle, what="the executions to settle")

    def decide(self, by: Principal, **fields: Any) -> tuple[int, dict[str, Any]]:
        answer: tuple[int, dict[str, Any]] = DecisionClient(
            Target(by.session, None), self.discovery
        ).post(**fields)
        return answer


def approve_pending(lifecycle: Lifecycle, name: str, approver: Principal, **extra: Any) -> str:
    approval = wait_for(lambda: lifecycle.pending_approval(name), what="an approval request")
    status, body = lifecycle.decide(
        approver,
        action="approve",
        approval_id=approval["approval_id"],
        reason="roll it forward",
        **extra,
    )
    assert status == 200, body
    return str(approval["approval_id"])
