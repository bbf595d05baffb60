"""The CloudFormation execution policy the README gives a production deployer
(`docs/iam/cloudformation-execution-policy.json`, for `cdk bootstrap
--cloudformation-execution-policies`) covers every resource type the synthesized template
creates: a new resource type fails here until the policy (and this map) say how it is created.
Derived from the template, not proven on AWS (no account here): the README says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "docs" / "iam" / "cloudformation-execution-policy.json"

# What CloudFormation calls to create each resource type (its handler's create permissions).
CREATED_WITH: dict[str, tuple[str, ...]] = {
    "AWS::ApiGateway::Account": ("apigateway:PATCH", "iam:PassRole"),
    "AWS::ApiGateway::Deployment": ("apigateway:POST",),
    "AWS::ApiGateway::Method": ("apigateway:PUT",),
    "AWS::ApiGateway::Resource": ("apigateway:POST",),
    "AWS::ApiGateway::RestApi": ("apigateway:POST",),
    "AWS::ApiGateway::Stage": ("apigateway:POST", "logs:CreateLogDelivery"),
    "AWS::CloudWatch::Alarm": ("cloudwatch:PutMetricAlarm",),
    "AWS::CloudWatch::Dashboard": ("cloudwatch:PutDashboard",),
    "AWS::CloudWatch::InsightRule": ("cloudwatch:PutInsightRule",),
    "AWS::DynamoDB::Table": ("dynamodb:CreateTable", "dynamodb:DescribeTable"),
    "AWS::Events::Rule": ("events:PutRule", "events:PutTargets"),
    "AWS::IAM::Policy": ("iam:PutRolePolicy",),
    "AWS::IAM::Role": ("iam:CreateRole", "iam:GetRole"),
    "AWS::KMS::Key": ("kms:CreateKey", "kms:PutKeyPolicy", "kms:EnableKeyRotation"),
    "AWS::Lambda::Function": ("lambda:CreateFunction", "lambda:GetLayerVersion", "iam:PassRole"),
    "AWS::Lambda::Permission": ("lambda:AddPermission",),
    "AWS::Logs::LogGroup": ("logs:CreateLogGroup", "logs:PutRetentionPolicy"),
    "AWS::Logs::QueryDefinition": ("logs:PutQueryDefinition",),
    "AWS::SNS::Topic": ("sns:CreateTopic",),
    "AWS::SNS::TopicPolicy": ("sns:SetTopicAttributes",),
    "AWS::SSM::Parameter": ("ssm:PutParameter",),
    "AWS::Scheduler::Schedule": ("scheduler:CreateSchedule", "iam:PassRole"),
    "AWS::StepFunctions::StateMachine": ("states:CreateStateMachine", "iam:PassRole"),
}


def _allowed(policy: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def test_the_execution_policy_creates_every_resource_type_of_the_template(
    template_json: dict[str, Any],
) -> None:
    allowed = _allowed(json.loads(POLICY.read_text()))
    types = {resource["Type"] for resource in template_json["Resources"].values()}
    unknown = sorted(types - CREATED_WITH.keys())
    assert not unknown, (
        f"new resource types: say how they are created, in the policy too: {unknown}"
    )
    missing = {t: [a for a in CREATED_WITH[t] if a not in allowed] for t in types}
    assert not {t: m for t, m in missing.items() if m}, missing


def test_the_execution_policy_grants_nothing_wholesale() -> None:
    allowed = _allowed(json.loads(POLICY.read_text()))
    assert not [a for a in allowed if a == "*" or a.endswith(":*")], allowed
