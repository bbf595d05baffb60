"""The rest of the shared-responsibility table, for the demo and the tests: one function in
each row rollforward did not cover before.

- `ledger-sync`: python3.12 in FunctionUpdate mode, deployed once and left alone (the clock is
  advanced past the policy's 30 days by the caller);
- `reports`: an image function whose image was pushed to ECR 120 days ago;
- `billing`: created by the CloudFormation stack `billing-stack`, whose template pins it to
  Manual on the oldest python3.12 runtime version (CloudFormation's PutRuntimeManagementConfig
  reaches rollforward's detection from CloudFormation's identity).

Everything goes through AWS APIs (boto3 clients the caller passes), except the backdated ECR
push, which is the emulator's control (`ecr/push`, `emulator.ecr.push_image`).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from emulator.ecr import push_image

FUNCTION_UPDATE = "ledger-sync"
IMAGE = "reports"
STACK_FUNCTION = "billing"
STACK = "billing-stack"
IMAGE_AGE = timedelta(days=120)


def create_function_update_function(lam: Any, role: str, code: bytes) -> str:
    lam.create_function(
        FunctionName=FUNCTION_UPDATE,
        Runtime="python3.12",
        Handler="app.handler",
        Role=role,
        Code={"ZipFile": code},
        Tags={"rollforward:owner": "ledger@example.com", "rollforward:team": "finance"},
    )
    lam.put_runtime_management_config(
        FunctionName=FUNCTION_UPDATE, UpdateRuntimeOn="FunctionUpdate"
    )
    return FUNCTION_UPDATE


def create_image_function(lam: Any, role: str, *, account_id: str, region: str) -> dict[str, Any]:
    pushed = push_image(IMAGE, "2026.08", account_id=account_id, region=region, age=IMAGE_AGE)
    lam.create_function(
        FunctionName=IMAGE,
        Role=role,
        PackageType="Image",
        Code={"ImageUri": pushed["image_uri"]},
        Tags={"rollforward:owner": "reports@example.com", "rollforward:team": "analytics"},
    )
    return pushed


def pinning_template(role: str, pinned_arn: str, description: str = "v1") -> str:
    """A stack whose template pins its function to Manual (what re-pins after a promotion)."""
    return json.dumps(
        {
            "Resources": {
                "Billing": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "FunctionName": STACK_FUNCTION,
                        "Runtime": "python3.12",
                        "Handler": "index.handler",
                        "Role": role,
                        "Description": description,
                        "Code": {"ZipFile": "def handler(event, context):\n    return 'ok'\n"},
                        "RuntimeManagementConfig": {
                            "UpdateRuntimeOn": "Manual",
                            "RuntimeVersionArn": pinned_arn,
                        },
                        "Tags": [
                            {"Key": "rollforward:owner", "Value": "billing@example.com"},
                            {"Key": "rollforward:team", "Value": "finance"},
                        ],
                    },
                }
            }
        }
    )


DEPLOYER_ROLE = "billing-deployer"


def create_pinning_stack(cloudformation: Any, iam: Any, role: str, pinned_arn: str) -> str:
    """The stack, deployed with a CloudFormation service role (what its CloudTrail records
    name as the caller: `assumed-role/billing-deployer/AWSCloudFormation`)."""
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
    deployer = iam.create_role(RoleName=DEPLOYER_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    cloudformation.create_stack(
        StackName=STACK,
        TemplateBody=pinning_template(role, pinned_arn),
        RoleARN=deployer["Role"]["Arn"],
    )
    return STACK
