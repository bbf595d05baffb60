"""The embedded AWS in this process: moto's `mock_aws` plus rollforward's additions.

with EmbeddedAws() as aws:
    boto3.client("lambda").get_runtime_management_config(FunctionName="f")
    aws.state.clock.advance(timedelta(days=3))
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

from moto import mock_aws

from emulator import iam, install, stepfunctions
from emulator.state import STATE, EmulatorState, reset

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"

MOTO_CONFIG: Any = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


class EmbeddedAws:
    """Context manager: fresh moto backends, fresh emulator state, the account root's keys.

    `validation=False` and `iam=False` give moto's leniency back (requests AWS would refuse
    pass; no SigV4 verification, no IAM enforcement)."""

    def __init__(
        self,
        *,
        throttling: bool = False,
        region: str = DEFAULT_REGION,
        validation: bool = True,
        iam: bool = True,
    ) -> None:
        self.region = region
        self._throttling = throttling
        self._validation = validation  # False: moto's leniency (requests AWS would refuse pass)
        self._iam = iam
        self._mock = mock_aws(config=MOTO_CONFIG)
        self._saved_env: dict[str, str | None] = {}

    @property
    def state(self) -> EmulatorState:
        return STATE

    def __enter__(self) -> EmbeddedAws:
        for key in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION",
            "AWS_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
        ):
            self._saved_env[key] = os.environ.get(key)
        install.install_all()
        reset()
        STATE.throttle.enabled = self._throttling
        STATE.validation = self._validation
        self._saved_enforcement = iam.ENFORCEMENT.enabled
        iam.ENFORCEMENT.enabled = self._iam
        iam.reset()
        self._mock.start()
        # After mock_aws started: it puts its own fake keys in the environment.
        env = {
            "AWS_ACCESS_KEY_ID": iam.ROOT_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": iam.ROOT_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }
        for key, value in env.items():
            os.environ[key] = value
        # Root's keys are long-term: a session token with them is refused.
        for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(key, None)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            try:
                # Deliveries still in flight would act on the next embedded AWS.
                STATE.drain(timeout=30.0)
            finally:
                stop_running_executions(self.region)
                stepfunctions.stop_leftover_executions()  # other regions, late starts
                # A stopped execution finishes the task it is in: here, not in the next one.
                stepfunctions.wait_for_interpreters(timeout=20.0)
        finally:
            for work in STATE.background:
                work.discard_pending()
            # Whatever happened, the next embedded AWS must start from nothing.
            self._mock.stop()
            iam.ENFORCEMENT.enabled = self._saved_enforcement
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def stop_running_executions(region: str) -> int:
    """Stop every running execution, so no interpreter thread outlives its embedded AWS and
    acts on the next one (executions wait on the process-wide clock)."""
    import boto3

    sfn = boto3.client("stepfunctions", region_name=region)
    stopped = 0
    for machine in sfn.list_state_machines().get("stateMachines", []):
        running = sfn.list_executions(
            stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
        ).get("executions", [])
        for execution in running:
            try:
                sfn.stop_execution(
                    executionArn=execution["executionArn"], cause="embedded AWS shut down"
                )
                stopped += 1
            except Exception:
                continue
    return stopped
