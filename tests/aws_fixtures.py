"""The embedded AWS in process, as fixtures for the tiers that need it (emulator, e2e, infra,
workflow): each tier's conftest imports them. The unit tier does not, so it runs without
boto3, botocore or moto."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from emulator.inprocess import EmbeddedAws


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    """A fresh embedded AWS (moto + rollforward's additions), throttling off."""
    with EmbeddedAws() as embedded:
        yield embedded


@pytest.fixture
def throttled_aws() -> Iterator[EmbeddedAws]:
    """A fresh embedded AWS with the 15 req/s shared control-plane bucket on."""
    with EmbeddedAws(throttling=True) as embedded:
        yield embedded


def create_ledger_table(region: str = "us-east-1") -> object:
    """A table shaped as the stack's ledger (`pin_id` its key; the canary locks and the scan's
    target records share it), as a boto3 Table resource."""
    dynamodb = boto3.resource("dynamodb", region_name=region)
    return dynamodb.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "pin_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pin_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def create_events_target_role(region: str) -> str:
    """A role named `events` that EventBridge (and the state machines it starts) may act as.

    EventBridge invokes a target with a RoleArn as that role: it must trust the service and
    allow the call (the state machine runs with it too)."""
    iam = boto3.client("iam", region_name=region)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName="events", AssumeRolePolicyDocument=json.dumps(trust))
    actions = [
        "states:StartExecution",
        "sqs:SendMessage",
        "sns:Publish",
        "lambda:InvokeFunction",
        "events:PutEvents",
    ]
    iam.put_role_policy(
        RoleName="events",
        PolicyName="targets",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
            }
        ),
    )
    return str(arn["Role"]["Arn"])
