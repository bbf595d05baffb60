"""Hub and spokes: the hub's side of serving every account and region of an Organization.

Built only when the deployment names an Organization (`-c organization_id=o-...`); a
single-account install has none of it and stays what it always was.

- **The hub's event bus**, whose policy admits `events:PutEvents` from principals of the
  organization only (`aws:PrincipalOrgID`), and a rule on it sending the forwarded
  runtime-management events to Detect (the hub's own account keeps its default-bus rule).
- **The member StackSet** (`AWS::CloudFormation::StackSet`, service-managed, auto-deployment):
  the member template (`infra/member_stack.py`) in every account of the target OUs and every
  member region, and in accounts that join them later. It is told the hub's bus, account and
  roles; the Organization, OUs and regions are parameters of the hub stack (defaults from the
  context), so an install can widen its reach without a new synthesis.
- **The hub functions' sessions**: each function that acts in members is told which member role
  to assume (`MEMBER_ROLE_NAME`, `HUB_ACCOUNT`: `rollforward.adapters.accounts`) and may assume
  only that role, only in accounts of the organization (`aws:ResourceOrgID`). Detection,
  tracking, approvals and the scan assume the reader; only the canary the canary role.
- **The scan's targets**: each cycle, every account under the StackSet's OUs (and the OUs
  below them) in every member region, listed through Organizations.
"""

from __future__ import annotations

import json

from aws_cdk import Aws, CfnParameter, Fn, Stack, Token
from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs import acknowledge, role_of
from infra.constructs.functions import EntryFunctions, TaskFunctions
from infra.constructs.triggers import RUNTIME_CONFIG_EVENT_PATTERN
from infra.member_stack import CANARY_ROLE, READER_ROLE, member_template
from infra.settings import Settings


class MissingMemberSetting(ValueError):
    """A hub install needs the OUs and regions its StackSet deploys to."""


class Members(Construct):
    """The hub's bus, its policy and rule, the member StackSet, and the functions' sessions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        tasks: TaskFunctions,
        entries: EntryFunctions,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        regions = settings.member_regions or (
            () if Token.is_unresolved(stack.region) else (stack.region,)
        )
        if not settings.member_ous or not regions:
            raise MissingMemberSetting(
                "a hub (organization_id set) needs member_ous (OU or root ids) and "
                "member_regions: -c member_ous=ou-abcd-12345678 -c member_regions=us-east-1,..."
            )
        self.organization_id = CfnParameter(
            stack,
            "OrganizationId",
            default=settings.organization_id,
            allowed_pattern=r"^o-[a-z0-9]{10,32}$",
            description="The Organization whose accounts rollforward serves",
        )
        self.member_ous = CfnParameter(
            stack,
            "MemberOrganizationalUnitIds",
            type="CommaDelimitedList",
            default=",".join(settings.member_ous),
            description="OUs (or the root) the member StackSet deploys to",
        )
        self.member_regions = CfnParameter(
            stack,
            "MemberRegions",
            type="CommaDelimitedList",
            default=",".join(regions),
            description="Regions the member StackSet deploys to",
        )
        organization = self.organization_id.value_as_string

        self.bus = events.EventBus(self, "HubBus", description="rollforward: members' events")
        self.bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="MembersOfTheOrganization",
                principals=[iam.AnyPrincipal()],
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
                conditions={"StringEquals": {"aws:PrincipalOrgID": organization}},
            )
        )
        events.Rule(
            self,
            "MembersRuntimeConfigChanged",
            event_bus=self.bus,
            description="A member account's runtime management config was put (forwarded)",
            event_pattern=RUNTIME_CONFIG_EVENT_PATTERN,
            targets=[targets.LambdaFunction(entries.detect, retry_attempts=8)],
        )

        readers = (
            entries.detect,
            entries.scan,
            tasks.tracking,
            tasks.approval_request,
            tasks.decision,
        )
        for fn in readers:
            self._may_assume(fn, READER_ROLE, organization)
        self._may_assume(tasks.canary, CANARY_ROLE, organization)
        self._scans_the_organization(entries.scan)

        self.stack_set = cloudformation.CfnStackSet(
            self,
            "MemberStackSet",
            stack_set_name=f"{stack.stack_name}-members",
            description="rollforward member: forwards runtime-management events, hub roles",
            permission_model="SERVICE_MANAGED",
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            call_as=settings.stackset_call_as,
            capabilities=["CAPABILITY_NAMED_IAM"],
            managed_execution={"Active": True},
            operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                failure_tolerance_percentage=10,
                max_concurrent_percentage=25,
                region_concurrency_type="PARALLEL",
            ),
            parameters=[
                _parameter("HubEventBusArn", self.bus.event_bus_arn),
                _parameter("OrganizationId", organization),
                _parameter("HubAccountId", Aws.ACCOUNT_ID),
                _parameter("HubRegion", Aws.REGION),
                _parameter(
                    "HubReaderRoleArns", Fn.join(",", [role_of(fn).role_arn for fn in readers])
                ),
                _parameter("HubCanaryRoleArn", role_of(tasks.canary).role_arn),
            ],
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=self.member_ous.value_as_list
                    ),
                    regions=self.member_regions.value_as_list,
                )
            ],
            template_body=json.dumps(member_template(), separators=(",", ":")),
        )

    def _scans_the_organization(self, scan: lambda_.Function) -> None:
        """The scan's targets each cycle: every account under the StackSet's OUs (walked
        down, as the StackSet deploys) in every member region (rollforward.handlers.scan)."""
        scan.add_environment("MEMBER_OUS", Fn.join(",", self.member_ous.value_as_list))
        scan.add_environment("MEMBER_REGIONS", Fn.join(",", self.member_regions.value_as_list))
        # The parents' ARNs: the root and the OUs of this organization (the management
        # account in them is not known to a delegated administrator's stack).
        parents = [
            f"arn:{Aws.PARTITION}:organizations::*:{kind}/{self.organization_id.value_as_string}/*"
            for kind in ("root", "ou")
        ]
        scan.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "organizations:ListAccountsForParent",
                    "organizations:ListOrganizationalUnitsForParent",
                ],
                resources=parents,
            )
        )
        # Which account is the management account (left out: StackSets deploys nothing
        # there). DescribeOrganization has no resource-level permissions: "*" is its only form.
        scan.add_to_role_policy(
            iam.PolicyStatement(actions=["organizations:DescribeOrganization"], resources=["*"])
        )
        acknowledge(
            role_of(scan),
            "IAM5[Resource::*]",
            "organizations:DescribeOrganization supports no resource-level permissions; it "
            "reads this organization's id and management account only.",
        )
        for kind in ("root", "ou"):
            acknowledge(
                role_of(scan),
                f"IAM5[Resource::arn:<AWS::Partition>:organizations::*:{kind}/<OrganizationId>/*]",
                "Listing the accounts and OUs under the member StackSet's targets, in this "
                "organization only: read-only list actions on its root and OUs.",
            )

    @staticmethod
    def _may_assume(fn: lambda_.Function, role_name: str, organization: str) -> None:
        fn.add_environment("MEMBER_ROLE_NAME", role_name)
        fn.add_environment("HUB_ACCOUNT", Aws.ACCOUNT_ID)
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sts:AssumeRole"],
                resources=[f"arn:{Aws.PARTITION}:iam::*:role/{role_name}-*"],
                conditions={"StringEquals": {"aws:ResourceOrgID": organization}},
            )
        )
        acknowledge(
            role_of(fn),
            f"IAM5[Resource::arn:<AWS::Partition>:iam::*:role/{role_name}-*]",
            "The member stack's role of every account and region of the Organization (accounts "
            "join it later): only that role name, and only in accounts of the organization "
            "(aws:ResourceOrgID).",
        )


def _parameter(key: str, value: str) -> cloudformation.CfnStackSet.ParameterProperty:
    return cloudformation.CfnStackSet.ParameterProperty(parameter_key=key, parameter_value=value)
