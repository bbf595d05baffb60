"""Constructs of the rollforward stack, and the one way the stack acknowledges cdk-nag findings.

cdk-nag 3.x runs as a CDK validation plugin (`infra/app.py`): any AwsSolutions finding that is
not acknowledged fails `app.synth()`. An acknowledgment is an audit record, so it lives next to
the construct it excuses and says *why* the finding is right there, not merely that it exists.
IAM5 findings are acknowledged one by one (`IAM5[Resource::...]`), never the whole rule, so a new
wildcard added later still fails the synth.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Stack, Token, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import IConstruct

from infra.constructs.observability import Observability

NAG_PACK = "AwsSolutions"

__all__ = [
    "NAG_PACK",
    "Observability",
    "acknowledge",
    "executions_wildcard_finding",
    "qualified_arn_wildcard_finding",
    "role_of",
]


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding (`"L1"`, `"IAM5[Resource::*]"`) on `scope` and below."""
    if not reason.strip():
        raise ValueError(f"acknowledging {finding} needs a reason an auditor can check")
    Validations.of(scope).acknowledge(
        Acknowledgment(id=f"{NAG_PACK}::{NAG_PACK}-{finding}", reason=reason)
    )


def role_of(function: lambda_.IFunction) -> iam.IRole:
    """The function's execution role: grants land on its policy, so acknowledgments go there."""
    if function.role is None:
        raise ValueError(f"{function.node.path} has no execution role")
    return function.role


def _logical_id(construct: IConstruct) -> str:
    resource = construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource")
    stack = Stack.of(construct)
    return str(stack.resolve(stack.get_logical_id(resource)))


def qualified_arn_wildcard_finding(function: IConstruct) -> str:
    """The IAM5 finding `grant_invoke` makes: `<Function.Arn>:*`, every version and alias of
    that one function (CDK grants the qualified ARNs so aliases and versions can be invoked)."""
    return f"IAM5[Resource::<{_logical_id(function)}.Arn>:*]"


def executions_wildcard_finding(state_machine: sfn.StateMachine) -> str:
    """The IAM5 finding `grant_execution` makes: every execution of that one state machine.

    CDK builds that ARN from the stack's region and account: pseudo parameters in an
    environment-agnostic stack, the concrete values when the stack has an environment (the CDK
    CLI sets one whenever it has credentials)."""
    stack = Stack.of(state_machine)
    region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    name = '{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"' + _logical_id(state_machine) + '"}]}]}'
    return f"IAM5[Resource::arn:<AWS::Partition>:states:{region}:{account}:execution:{name}:*]"
