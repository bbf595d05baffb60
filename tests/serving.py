"""An emulator server in this process, on a free port, with the rollforward stack deployed:
what `rollforward emulator --deploy` runs, for the tests that need the HTTP path."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from rollforward.model import discovery_parameter

from emulator.server import EmulatorServer
from emulator.stack import deploy_rollforward
from emulator.state import STATE
from emulator.stepfunctions import stop_leftover_executions, wait_for_interpreters

REGION = "us-east-1"
ROOT_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass(frozen=True)
class IamUser:
    """An IAM user of the served account: one inline policy, one access key."""

    arn: str
    access_key_id: str
    secret_access_key: str
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        """The user's keys as a shell (or the CLI) reads them."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    @property
    def session(self) -> boto3.Session:
        return boto3.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=REGION,
        )

    def client(self, service: str) -> Any:
        """A boto3 client of the server, signed with the user's key."""
        return self.session.client(service, endpoint_url=self.endpoint)


@dataclass(frozen=True)
class Served:
    server: EmulatorServer
    discovery: dict[str, Any]

    @property
    def endpoint(self) -> str:
        return self.server.endpoint_url

    def client(self, service: str, keys: dict[str, str] | None = None, **config: Any) -> Any:
        """A boto3 client of the server (root's keys unless `keys`); `config` for botocore."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            config=Config(**config) if config else None,
            **(keys or ROOT_KEYS),
        )

    def iam_user(self, name: str, policy: dict[str, Any]) -> IamUser:
        """Create the IAM user `name` with `policy` inline (e.g. the operator policy) and a key."""
        iam = self.client("iam")
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return IamUser(str(arn), key["AccessKeyId"], key["SecretAccessKey"], self.endpoint)


@contextmanager
def served(
    *, throttling: bool = False, deploy: bool = True, context: dict[str, Any] | None = None
) -> Iterator[Served]:
    """Start a server (port 0), deploy the stack through HTTP (with the CDK `context`, e.g. a
    policy), stop everything afterwards."""
    saved_env = dict(os.environ)
    for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(key, None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # A fresh account: EmulatorServer.start() resets moto's process-wide backends.
    server = EmulatorServer(port=0, throttling=throttling).start()
    try:
        discovery: dict[str, Any] = {}
        if deploy:
            deployment = deploy_rollforward(region=REGION, context=context)
            ssm = Served(server, {}).client("ssm")
            name = discovery_parameter(deployment.stack_name)
            parameter = ssm.get_parameter(Name=name)["Parameter"]["Value"]
            discovery = json.loads(parameter)
        yield Served(server, discovery)
    finally:
        try:
            STATE.drain(timeout=30.0)
        finally:
            stop_executions(Served(server, {}))
            stop_leftover_executions()  # other regions or accounts, late starts
            # A stopped execution finishes the task it is in: here, not in the next server.
            wait_for_interpreters(timeout=20.0)
            server.stop()
            STATE.endpoint_url = None
            os.environ.clear()
            os.environ.update(saved_env)


def stop_executions(served: Served) -> None:
    """Executions wait on the virtual clock: stop them so no thread outlives the server."""
    try:
        sfn = served.client("stepfunctions")
        for machine in sfn.list_state_machines()["stateMachines"]:
            for execution in sfn.list_executions(
                stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
            )["executions"]:
                sfn.stop_execution(executionArn=execution["executionArn"])
    except ClientError:
        pass
