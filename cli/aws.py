"""How the CLI and console reach rollforward: the standard AWS configuration, always.

Profile, region and `AWS_ENDPOINT_URL` come from the usual places (env, ~/.aws/config,
`--profile`/`--region`/`--endpoint-url`). Where no account is configured at all, or with
`--emulator`, commands go to the embedded AWS at http://127.0.0.1:4566.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError, NoCredentialsError
from rollforward.model import DISCOVERY_PATH, discovery_parameter

EMULATOR_ENDPOINT = "http://127.0.0.1:4566"
RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 8})


class NotDeployed(Exception):
    """rollforward is not deployed where the configuration points."""


@dataclass(frozen=True)
class Target:
    session: boto3.Session
    endpoint_url: str | None

    @property
    def is_emulator(self) -> bool:
        return self.endpoint_url is not None and self.endpoint_url.startswith(
            ("http://127.", "http://localhost")
        )

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url, config=RETRIES)

    def table(self, name: str) -> Any:
        return self.session.resource(
            "dynamodb", endpoint_url=self.endpoint_url, config=RETRIES
        ).Table(name)


def resolve_target(
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    emulator: bool = False,
) -> Target:
    """The standard AWS configuration, falling back to the embedded AWS when none exists."""
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if emulator:
        endpoint = endpoint or EMULATOR_ENDPOINT
    session = boto3.Session(profile_name=profile, region_name=region)
    if session.get_credentials() is None:
        if endpoint is None:
            endpoint = EMULATOR_ENDPOINT
        # The emulator accepts any credentials; AWS would refuse these.
        session = boto3.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name=region or session.region_name or "us-east-1",
        )
    elif session.region_name is None:
        session = boto3.Session(profile_name=profile, region_name="us-east-1" if endpoint else None)
    return Target(session, endpoint)


class AmbiguousDeployment(Exception):
    """Several rollforward stacks are deployed here and none was named (`--stack`)."""


_DISCOVERY_NAME = re.compile(rf"^{re.escape(DISCOVERY_PATH)}(?P<stack>[^/]+)/discovery$")


def discover(target: Target, stack: str | None = None) -> dict[str, Any]:
    """The deployed stack's resource names, from its SSM discovery parameter.

    Each stack writes `/rollforward/stacks/<stack name>/discovery`. With `stack`, that one;
    without, the only one deployed in the account and region (several: name one)."""
    ssm = target.client("ssm")
    try:
        if stack:
            try:
                value = ssm.get_parameter(Name=discovery_parameter(stack))["Parameter"]["Value"]
            except ClientError as error:
                if error.response["Error"]["Code"] == "ParameterNotFound":
                    raise NotDeployed(
                        f"no rollforward stack named {stack!r} is deployed here (no SSM "
                        f"parameter {discovery_parameter(stack)}); `rollforward --stack` names "
                        "the CloudFormation stack"
                    ) from None
                raise
            return dict(json.loads(value))
        found: dict[str, str] = {}
        for page in ssm.get_paginator("get_parameters_by_path").paginate(
            Path=DISCOVERY_PATH, Recursive=True
        ):
            for parameter in page.get("Parameters", []):
                match = _DISCOVERY_NAME.match(parameter.get("Name", ""))
                if match:
                    found[match.group("stack")] = parameter["Value"]
    except NoCredentialsError:
        raise NotDeployed("no AWS credentials: configure a profile, or use --emulator") from None
    if not found:
        raise NotDeployed(
            f"rollforward is not deployed here (no SSM parameter under {DISCOVERY_PATH}); "
            "run `cdk deploy`, or `rollforward emulator --deploy` for the embedded AWS"
        )
    if len(found) > 1:
        raise AmbiguousDeployment(
            f"several rollforward stacks are deployed here ({', '.join(sorted(found))}): "
            "pick one with --stack NAME"
        )
    return dict(json.loads(next(iter(found.values()))))


class DecisionClient:
    """POSTs to the decision API signed with the caller's own credentials (SigV4,
    service `execute-api`): API Gateway's IAM auth names the approver, nobody else can."""

    def __init__(self, target: Target, discovery: dict[str, Any]) -> None:
        self._target = target
        api, stage = discovery["decision_api_id"], discovery.get("decision_api_stage", "v1")
        region = target.session.region_name or "us-east-1"
        if target.endpoint_url:
            # The LocalStack-style path form, which custom endpoints (the emulator) serve.
            self.url = (
                f"{target.endpoint_url.rstrip('/')}/restapis/{api}/{stage}/_user_request_/decisions"
            )
        else:
            self.url = f"https://{api}.execute-api.{region}.amazonaws.com/{stage}/decisions"
        self._region = region

    def post(self, **fields: Any) -> tuple[int, dict[str, Any]]:
        body = json.dumps(fields)
        request = AWSRequest(
            method="POST", url=self.url, data=body, headers={"Content-Type": "application/json"}
        )
        credentials = self._target.session.get_credentials()
        if credentials is None:
            raise NotDeployed("no AWS credentials to sign the decision with")
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self._region).add_auth(
            request
        )
        response = requests.post(
            self.url, data=body, headers=dict(request.headers.items()), timeout=30
        )
        try:
            payload = response.json()
        except ValueError:
            payload = {"refused": response.text[:500]}
        return response.status_code, payload if isinstance(payload, dict) else {"response": payload}
