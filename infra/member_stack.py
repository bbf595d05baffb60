"""The member stack: what every account and region of the Organization holds for the hub.

Deployed by the hub's service-managed StackSet (`infra/constructs/members.py`) to every account
of the target OUs in every member region, and to accounts that join them later
(auto-deployment). Its template is independent of the hub's (the StackSet passes the hub's
facts as parameters), so it is synthesized once on its own (`member_template`).

It holds:
- a rule on the account's default bus forwarding the runtime-management CloudTrail events (the
  same pattern as the hub's own detection rule) to the hub's event bus, as a role EventBridge
  assumes (cross-account and cross-region bus targets need one); the hub's bus policy admits
  only principals of the organization (`aws:PrincipalOrgID`). Not in the hub's own account and
  region (condition `ForwardsToHub`), whose events the hub's own rule already detects;
- two execution roles the hub assumes, named per region (IAM names are global to the account,
  and a StackSet deploys one instance per region): the **reader** (detection, tracking, the
  approval request and decision, the scan: read-only) and the **canary** (the only one that
  changes a function, as in the hub). Each trusts the hub's account only for the hub roles it
  names (`aws:PrincipalArn`), from inside the organization (`aws:PrincipalOrgID`), and allows
  exactly the calls the hub's code makes through its sessions there
  (`rollforward.adapters.accounts`; the call sites: `docs/iam-call-sites.md`).
"""

from __future__ import annotations

import json
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import Aws, CfnParameter, Fn, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from infra.constructs import acknowledge
from infra.constructs.triggers import RUNTIME_CONFIG_EVENT_PATTERN

MEMBER_STACK_NAME = "RollforwardMember"
# The roles are `<name>-<region>`: rollforward.adapters.accounts.member_role_arn builds the same.
READER_ROLE = "rollforward-reader"
CANARY_ROLE = "rollforward-canary"

_FUNCTIONS = f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:function:*"

# What the hub's code calls in a member, per role (docs/iam-call-sites.md, the rows reached
# through adapters.lambda_control, adapters.signals and adapters.posture.template_pin_of of the
# functions that act through `AccountSessions`). tests/infra/test_member_stack.py holds the
# template to these.
READER_ACTIONS: dict[str, tuple[str, ...]] = {
    _FUNCTIONS: (
        "lambda:GetFunction",  # the scan's screening (function_runtime)
        "lambda:GetRuntimeManagementConfig",  # detection, tracking, approvals, the scan
        "lambda:ListAliases",  # the scan (aliases)
        "lambda:ListTags",  # owners, opt-out, the template pin
    ),
    "*": (
        "lambda:ListFunctions",  # no resource-level permission
        "cloudwatch:GetMetricData",  # the approval request's plan: the alias's hourly Invocations
    ),
    f"arn:{Aws.PARTITION}:cloudformation:{Aws.REGION}:{Aws.ACCOUNT_ID}:stack/*/*": (
        "cloudformation:GetTemplate",  # the approval request: does the template re-pin it?
    ),
}
CANARY_ACTIONS: dict[str, tuple[str, ...]] = {
    _FUNCTIONS: (
        "lambda:GetAlias",
        "lambda:GetFunction",
        "lambda:GetFunctionConfiguration",
        "lambda:GetRuntimeManagementConfig",
        "lambda:InvokeFunction",
        "lambda:ListAliases",
        "lambda:ListTags",
        "lambda:PublishVersion",
        "lambda:PutRuntimeManagementConfig",
        "lambda:UpdateAlias",
        "lambda:UpdateFunctionConfiguration",
    ),
    f"{_FUNCTIONS}:*": (
        "lambda:GetAlias",
        "lambda:GetFunction",
        "lambda:GetFunctionConfiguration",
        "lambda:GetRuntimeManagementConfig",
        "lambda:InvokeFunction",
        "lambda:PutRuntimeManagementConfig",
        "lambda:UpdateAlias",
    ),
    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*": (
        "logs:FilterLogEvents",  # INIT_START proof, in whichever group the function logs to
    ),
    f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:parameter/rollforward/test-events/*": (
        "ssm:GetParameter",  # the owner's test events (synthetic canary)
    ),
    "*": ("cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"),  # no resource-level ones
}


class MemberStack(Stack):
    """One account and region of the Organization, as the hub needs it."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        # No CDK bootstrap in member accounts (and no assets): no bootstrap-version rule.
        kwargs.setdefault("synthesizer", cdk.BootstraplessSynthesizer())
        kwargs.setdefault("analytics_reporting", False)
        super().__init__(scope, construct_id, **kwargs)
        hub_bus = CfnParameter(
            self, "HubEventBusArn", description="The hub's event bus (forwarded events)"
        )
        organization = CfnParameter(
            self,
            "OrganizationId",
            description="The Organization the hub and this account belong to",
            allowed_pattern=r"^o-[a-z0-9]{10,32}$",
        )
        hub_account = CfnParameter(
            self, "HubAccountId", allowed_pattern=r"^\d{12}$", description="The hub's account"
        )
        hub_region = CfnParameter(
            self,
            "HubRegion",
            allowed_pattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
            description="The hub's region (where its own rule detects its account's events)",
        )
        readers = CfnParameter(
            self,
            "HubReaderRoleArns",
            type="CommaDelimitedList",
            description="The hub roles that read here (detection, tracking, approvals, scan)",
        )
        canary = CfnParameter(
            self, "HubCanaryRoleArn", description="The hub role that changes functions here"
        )

        forwarder = iam.Role(
            self,
            "ForwardToHub",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="rollforward: EventBridge forwards runtime-management events to the hub",
        )
        bus = events.EventBus.from_event_bus_arn(self, "HubBus", hub_bus.value_as_string)
        rule = events.Rule(
            self,
            "RuntimeConfigChanged",
            description="CloudTrail: a Lambda runtime management config was put (to the hub)",
            event_pattern=RUNTIME_CONFIG_EVENT_PATTERN,
            targets=[targets.EventBus(bus, role=forwarder)],
        )
        # The hub's own account and region (a delegated administrator in a target OU gets an
        # instance too) is watched by the hub's own rule: forwarding there would detect each
        # event twice. Elsewhere, the hub's account included, events are forwarded.
        forwards = cdk.CfnCondition(
            self,
            "ForwardsToHub",
            expression=Fn.condition_or(
                Fn.condition_not(Fn.condition_equals(Aws.ACCOUNT_ID, hub_account.value_as_string)),
                Fn.condition_not(Fn.condition_equals(Aws.REGION, hub_region.value_as_string)),
            ),
        )
        for construct in (rule, forwarder):
            for child in construct.node.find_all():
                if isinstance(child, cdk.CfnResource):
                    child.cfn_options.condition = forwards

        def trusting(principal_arns: list[str]) -> iam.PrincipalBase:
            return iam.AccountPrincipal(hub_account.value_as_string).with_conditions(
                {
                    "ArnEquals": {"aws:PrincipalArn": principal_arns},
                    "StringEquals": {"aws:PrincipalOrgID": organization.value_as_string},
                }
            )

        self.reader = self._role(
            "Reader",
            READER_ROLE,
            trusting(readers.value_as_list),
            READER_ACTIONS,
            "rollforward hub: read-only (detection, tracking, approvals, scan)",
        )
        self.canary = self._role(
            "Canary",
            CANARY_ROLE,
            trusting([canary.value_as_string]),
            CANARY_ACTIONS,
            "rollforward hub: the canary, the only hub function that changes a function here",
        )
        for role, findings in (
            (
                self.reader,
                (
                    (
                        "IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*]",
                        "The hub watches every function of the account and region: read-only "
                        "Get/List actions on function:*.",
                    ),
                    (
                        "IAM5[Resource::*]",
                        "lambda:ListFunctions and cloudwatch:GetMetricData (the approval "
                        "request's traffic plan) have no resource-level permissions; AWS only "
                        "accepts Resource '*'.",
                    ),
                    (
                        "IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/*/*]",
                        "GetTemplate of the stack a pinned function's aws:cloudformation:stack-name "
                        "tag names: any stack of this account and region.",
                    ),
                ),
            ),
            (
                self.canary,
                (
                    (
                        "IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*]",
                        "The canary rolls forward whichever function on-call approved: "
                        "function ARNs of this account and region only.",
                    ),
                    (
                        "IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*:*]",
                        "Published versions and aliases of the approved function (qualified ARNs).",
                    ),
                    (
                        "IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*]",
                        "INIT_START records of the approved function in whichever group its "
                        "LoggingConfig names (read-only: FilterLogEvents).",
                    ),
                    (
                        "IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/rollforward/test-events/*]",
                        "Owners' test events for the synthetic canary live under "
                        "/rollforward/test-events/.",
                    ),
                    (
                        "IAM5[Resource::*]",
                        "cloudwatch:GetMetricData and DescribeAlarms have no resource-level "
                        "permissions; AWS only accepts Resource '*'.",
                    ),
                ),
            ),
        ):
            for finding, reason in findings:
                acknowledge(role, finding, reason)
        cdk.CfnOutput(self, "ReaderRoleArn", value=self.reader.role_arn)
        cdk.CfnOutput(self, "CanaryRoleArn", value=self.canary.role_arn)

    def _role(
        self,
        construct_id: str,
        name: str,
        trust: iam.PrincipalBase,
        actions: dict[str, tuple[str, ...]],
        description: str,
    ) -> iam.Role:
        statements = [
            iam.PolicyStatement(actions=list(granted), resources=[resource])
            for resource, granted in actions.items()
        ]
        return iam.Role(
            self,
            construct_id,
            role_name=Fn.join("-", [name, Aws.REGION]),
            assumed_by=trust,
            description=description,
            max_session_duration=cdk.Duration.hours(1),
            inline_policies={"hub-calls": iam.PolicyDocument(statements=statements)},
        )


@lru_cache(maxsize=1)
def member_assembly() -> Path:
    """The member stack's own cloud assembly (template, cdk-nag's validation report): one small
    synthesis, whatever the hub's settings; the StackSet's TemplateBody is its template."""
    app = cdk.App(outdir=tempfile.mkdtemp(prefix="rollforward-member-"))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    MemberStack(app, MEMBER_STACK_NAME)
    app.synth()
    return Path(app.outdir)


def member_template() -> dict[str, Any]:
    """The member template (a fresh copy: callers may not share mutations)."""
    text = (member_assembly() / f"{MEMBER_STACK_NAME}.template.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]
