"""Every emulator server starts on a fresh account, whatever ran in the process before it:
moto's backends are process-wide, and a test module must not depend on which ran first."""

from __future__ import annotations

from typing import Any

import boto3

from emulator.server import EmulatorServer


def _iam(server: EmulatorServer) -> Any:
    return boto3.client(
        "iam",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_a_server_does_not_see_what_an_earlier_server_left() -> None:
    first = EmulatorServer(port=0, throttling=False).start()
    try:
        _iam(first).create_user(UserName="deployer")
    finally:
        first.stop()
    second = EmulatorServer(port=0, throttling=False).start()
    try:
        iam = _iam(second)
        assert iam.list_users()["Users"] == []
        iam.create_user(UserName="deployer")  # no EntityAlreadyExists
    finally:
        second.stop()
