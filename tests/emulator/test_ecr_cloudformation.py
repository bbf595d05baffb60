"""ECR push dates and image functions; CloudFormation stacks that create and re-pin functions.

Each test is a row of docs/parity/ecr-cloudformation.md.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from emulator.ecr import push_image
from emulator.inprocess import EmbeddedAws
from emulator.state import STATE, ApiCall

REGION = "us-east-1"
ACCOUNT = "123456789012"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


@pytest.fixture
def role(aws: EmbeddedAws) -> str:
    iam = boto3.client("iam")
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
    return str(
        iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
    )


@pytest.fixture
def calls(aws: EmbeddedAws) -> Any:
    """Every ApiCall published to CloudTrail listeners during the test."""
    seen: list[ApiCall] = []
    STATE.api_call_listeners.append(seen.append)
    yield seen
    STATE.api_call_listeners.remove(seen.append)


# --- ECR ----------------------------------------------------------------------------------


def test_image_pushed_at_is_the_emulated_clock(aws: EmbeddedAws) -> None:
    ecr = boto3.client("ecr")
    pushed = push_image("app", "v1", account_id=ACCOUNT, region=REGION, age=timedelta(days=120))
    aws.state.clock.advance(timedelta(days=3))
    fresh = push_image("app", "v2", account_id=ACCOUNT, region=REGION)

    details = {
        d["imageDigest"]: d for d in ecr.describe_images(repositoryName="app")["imageDetails"]
    }
    now = aws.state.clock.now()
    old_age = now - details[pushed["digest"]]["imagePushedAt"]
    assert timedelta(days=123) <= old_age < timedelta(days=123, minutes=5)  # the clock runs on
    assert now - details[fresh["digest"]]["imagePushedAt"] < timedelta(minutes=5)
    assert pushed["digest"] != fresh["digest"]


def test_describe_images_by_digest(aws: EmbeddedAws) -> None:
    ecr = boto3.client("ecr")
    pushed = push_image("app", "v1", account_id=ACCOUNT, region=REGION)
    push_image("app", "v2", account_id=ACCOUNT, region=REGION)

    details = ecr.describe_images(
        repositoryName="app", imageIds=[{"imageDigest": pushed["digest"]}]
    )["imageDetails"]

    assert [d["imageTags"] for d in details] == [["v1"]]
    with pytest.raises(ecr.exceptions.ImageNotFoundException):
        ecr.describe_images(repositoryName="app", imageIds=[{"imageDigest": "sha256:" + "0" * 64}])


def test_image_function_resolves_its_tag_to_the_ecr_digest(aws: EmbeddedAws, role: str) -> None:
    lam = boto3.client("lambda")
    pushed = push_image("app", "v1", account_id=ACCOUNT, region=REGION)
    lam.create_function(
        FunctionName="img", Role=role, PackageType="Image", Code={"ImageUri": pushed["image_uri"]}
    )
    # A later push to the same tag does not change what the function runs.
    push_image("app", "v1", account_id=ACCOUNT, region=REGION)

    code = lam.get_function(FunctionName="img")["Code"]
    assert code["ImageUri"] == f"{REGISTRY}/app:v1"
    assert code["ResolvedImageUri"] == f"{REGISTRY}/app@{pushed['digest']}"
    assert code["RepositoryType"] == "ECR"


def test_image_function_by_digest(aws: EmbeddedAws, role: str) -> None:
    lam = boto3.client("lambda")
    pushed = push_image("app", "v1", account_id=ACCOUNT, region=REGION)
    uri = f"{REGISTRY}/app@{pushed['digest']}"
    lam.create_function(FunctionName="img", Role=role, PackageType="Image", Code={"ImageUri": uri})

    assert lam.get_function(FunctionName="img")["Code"]["ResolvedImageUri"] == uri


@pytest.mark.parametrize(
    "uri",
    [
        f"{REGISTRY}/missing:v1",  # no such repository
        f"{REGISTRY}/app:v9",  # no such tag
        f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/app:v1",  # another region
        "docker.io/library/python:3.12",  # not ECR
    ],
)
def test_an_image_lambda_cannot_deploy_is_refused(aws: EmbeddedAws, role: str, uri: str) -> None:
    lam = boto3.client("lambda")
    push_image("app", "v1", account_id=ACCOUNT, region=REGION)

    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.create_function(
            FunctionName="img", Role=role, PackageType="Image", Code={"ImageUri": uri}
        )
    assert lam.list_functions()["Functions"] == []


# --- CloudFormation -----------------------------------------------------------------------


def _template(role: str, runtime_management: dict[str, Any] | None, description: str) -> str:
    properties: dict[str, Any] = {
        "FunctionName": "billing",
        "Runtime": "python3.12",
        "Handler": "index.handler",
        "Role": role,
        "Code": {"ZipFile": "def handler(event, context):\n    return 1\n"},
        "Description": description,
        "Tags": [{"Key": "rollforward:owner", "Value": "billing@example.com"}],
    }
    if runtime_management is not None:
        properties["RuntimeManagementConfig"] = runtime_management
    return json.dumps(
        {
            "Resources": {
                "Billing": {"Type": "AWS::Lambda::Function", "Properties": properties},
            }
        }
    )


def _oldest(aws: EmbeddedAws) -> str:
    return aws.state.catalog.versions("python3.12", REGION, "x86_64")[0].arn


def test_stack_function_has_the_template_properties_and_the_stack_tags(
    aws: EmbeddedAws, role: str
) -> None:
    cfn, lam = boto3.client("cloudformation"), boto3.client("lambda")
    template = _template(role, None, "v1")
    stack_id = cfn.create_stack(StackName="billing-stack", TemplateBody=template)["StackId"]

    function = lam.get_function(FunctionName="billing")
    assert function["Tags"]["aws:cloudformation:stack-name"] == "billing-stack"
    assert function["Tags"]["aws:cloudformation:stack-id"] == stack_id
    assert function["Tags"]["aws:cloudformation:logical-id"] == "Billing"
    assert function["Tags"]["rollforward:owner"] == "billing@example.com"
    resources = cfn.list_stack_resources(StackName="billing-stack")["StackResourceSummaries"]
    assert [(r["LogicalResourceId"], r["PhysicalResourceId"]) for r in resources] == [
        ("Billing", "billing")
    ]
    body = cfn.get_template(StackName="billing-stack")["TemplateBody"]
    body = body if isinstance(body, dict) else json.loads(body)
    assert body["Resources"]["Billing"]["Properties"]["FunctionName"] == "billing"


def test_a_template_that_pins_creates_the_function_pinned_by_cloudformation(
    aws: EmbeddedAws, role: str, calls: list[ApiCall]
) -> None:
    cfn, lam = boto3.client("cloudformation"), boto3.client("lambda")
    pin = {"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": _oldest(aws)}
    aws.state.catalog.release("python3.12", REGION)
    cfn.create_stack(StackName="billing-stack", TemplateBody=_template(role, pin, "v1"))

    setting = lam.get_runtime_management_config(FunctionName="billing")
    assert (setting["UpdateRuntimeOn"], setting["RuntimeVersionArn"]) == ("Manual", _oldest(aws))
    puts = [c for c in calls if c.event_name.startswith("PutRuntimeManagementConfig")]
    assert len(puts) == 1
    assert puts[0].request_parameters["updateRuntimeOn"] == "Manual"
    assert puts[0].user_identity["invokedBy"] == "cloudformation.amazonaws.com"
    assert puts[0].source_ip_address == "cloudformation.amazonaws.com"


def test_a_stack_update_re_pins_from_the_stack_service_role(
    aws: EmbeddedAws, role: str, calls: list[ApiCall]
) -> None:
    cfn, lam, iam = boto3.client("cloudformation"), boto3.client("lambda"), boto3.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudformation.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    service_role = iam.create_role(
        RoleName="cfn-deployer", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    pin = {"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": _oldest(aws)}
    aws.state.catalog.release("python3.12", REGION)
    cfn.create_stack(
        StackName="billing-stack", TemplateBody=_template(role, pin, "v1"), RoleARN=service_role
    )
    lam.put_runtime_management_config(FunctionName="billing", UpdateRuntimeOn="Auto")
    calls.clear()

    cfn.update_stack(StackName="billing-stack", TemplateBody=_template(role, pin, "v2"))

    setting = lam.get_runtime_management_config(FunctionName="billing")
    assert setting["UpdateRuntimeOn"] == "Manual"
    [put] = [c for c in calls if c.event_name.startswith("PutRuntimeManagementConfig")]
    identity = put.user_identity
    assert identity["type"] == "AssumedRole"
    assert identity["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/cfn-deployer/AWSCloudFormation"
    assert identity["sessionContext"]["sessionIssuer"]["arn"] == service_role
    assert identity["invokedBy"] == "cloudformation.amazonaws.com"


def test_the_re_pin_reaches_eventbridge_as_a_cloudtrail_event_from_cloudformation(
    aws: EmbeddedAws, role: str
) -> None:
    from emulator.stack import ensure_management_trail

    ensure_management_trail("us-east-1")  # EventBridge gets CloudTrail events through a trail
    events, sqs = boto3.client("events"), boto3.client("sqs")
    queue = sqs.create_queue(QueueName="pins")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="pins",
        EventPattern=json.dumps(
            {
                "source": ["aws.lambda"],
                "detail": {"eventName": [{"prefix": "PutRuntimeManagementConfig"}]},
            }
        ),
    )
    events.put_targets(Rule="pins", Targets=[{"Id": "q", "Arn": queue_arn}])
    pin = {"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": _oldest(aws)}
    boto3.client("cloudformation").create_stack(
        StackName="billing-stack", TemplateBody=_template(role, pin, "v1")
    )
    STATE.drain()

    [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    detail = json.loads(message["Body"])["detail"]
    assert detail["userIdentity"]["invokedBy"] == "cloudformation.amazonaws.com"
    assert detail["sourceIPAddress"] == "cloudformation.amazonaws.com"
    assert detail["userAgent"] == "cloudformation.amazonaws.com"
    assert detail["requestParameters"]["functionName"] == "billing"


def test_a_version_runtime_policy_pins_the_published_version(aws: EmbeddedAws, role: str) -> None:
    cfn, lam = boto3.client("cloudformation"), boto3.client("lambda")
    template = json.loads(_template(role, None, "v1"))
    template["Resources"]["BillingVersion"] = {
        "Type": "AWS::Lambda::Version",
        "Properties": {
            "FunctionName": {"Ref": "Billing"},
            "RuntimePolicy": {"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": _oldest(aws)},
        },
    }
    cfn.create_stack(StackName="billing-stack", TemplateBody=json.dumps(template))

    assert (
        lam.get_runtime_management_config(FunctionName="billing", Qualifier="1")["UpdateRuntimeOn"]
        == "Manual"
    )
    assert lam.get_runtime_management_config(FunctionName="billing")["UpdateRuntimeOn"] == "Auto"


def test_a_stack_image_function_resolves_from_ecr(aws: EmbeddedAws, role: str) -> None:
    pushed = push_image("reports", "v3", account_id=ACCOUNT, region=REGION)
    template = {
        "Resources": {
            "Reports": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "reports",
                    "PackageType": "Image",
                    "Role": role,
                    "Code": {"ImageUri": pushed["image_uri"]},
                },
            }
        }
    }
    boto3.client("cloudformation").create_stack(
        StackName="reports-stack", TemplateBody=json.dumps(template)
    )

    function = boto3.client("lambda").get_function(FunctionName="reports")
    assert function["Configuration"]["PackageType"] == "Image"
    assert function["Code"]["ResolvedImageUri"].endswith(pushed["digest"])


# --- LastModified ---------------------------------------------------------------------------


def test_last_modified_is_the_emulated_clock_and_moves_on_update(
    aws: EmbeddedAws, role: str
) -> None:
    from datetime import datetime

    lam = boto3.client("lambda")
    push_image("app", "v1", account_id=ACCOUNT, region=REGION)
    lam.create_function(
        FunctionName="img", Role=role, PackageType="Image", Code={"ImageUri": f"{REGISTRY}/app:v1"}
    )
    created = lam.get_function_configuration(FunctionName="img")["LastModified"]
    aws.state.clock.advance(timedelta(days=30))
    lam.update_function_configuration(FunctionName="img", Description="moved")
    updated = lam.get_function_configuration(FunctionName="img")["LastModified"]

    def parse(text: str) -> datetime:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")

    assert timedelta(days=30) <= parse(updated) - parse(created) < timedelta(days=30, minutes=5)
    assert abs(parse(updated) - aws.state.clock.now()) < timedelta(minutes=5)


# --- IAM: resource-level permissions --------------------------------------------------------


def _user_session(policy: dict[str, Any]) -> boto3.Session:
    from emulator.scenario import Principal

    return Principal("reader", policy=policy).session


def test_ecr_and_cloudformation_are_authorized_on_their_resource_arns(
    aws: EmbeddedAws, role: str
) -> None:
    push_image("app", "v1", account_id=ACCOUNT, region=REGION)
    push_image("other", "v1", account_id=ACCOUNT, region=REGION)
    boto3.client("cloudformation").create_stack(
        StackName="billing-stack", TemplateBody=_template(role, None, "v1")
    )
    session = _user_session(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "ecr:DescribeImages",
                    "Resource": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/app",
                },
                {
                    "Effect": "Allow",
                    "Action": "cloudformation:GetTemplate",
                    "Resource": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/billing-stack/*",
                },
            ],
        }
    )
    ecr, cfn = session.client("ecr"), session.client("cloudformation")

    assert ecr.describe_images(repositoryName="app")["imageDetails"]
    assert cfn.get_template(StackName="billing-stack")["TemplateBody"]
    with pytest.raises(ecr.exceptions.ClientError, match="AccessDenied"):
        ecr.describe_images(repositoryName="other")
    with pytest.raises(cfn.exceptions.ClientError, match="AccessDenied"):
        cfn.describe_stacks(StackName="billing-stack")
