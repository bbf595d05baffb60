"""Service control policies as AWS Organizations evaluates them (docs/parity/iam.md, "Service
control policies"): a member account's principals may do only what an SCP allows at every
level from the root down to the account, a Deny in any SCP refuses; the management account
and service-linked roles are never restricted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator import iam
from emulator.accounts import create_organization, organization_root
from emulator.inprocess import EmbeddedAws
from emulator.organizations import organization_id_of

REGION = "us-east-1"
HUB = "123456789012"
MEMBER = "111111111111"


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded


def _scp(name: str, *statements: dict[str, Any]) -> str:
    """An SCP made by the management account's root; its id."""
    content = {"Version": "2012-10-17", "Statement": list(statements)}
    policy = boto3.client("organizations").create_policy(
        Name=name, Description=name, Type="SERVICE_CONTROL_POLICY", Content=json.dumps(content)
    )
    return str(policy["Policy"]["PolicySummary"]["Id"])


def _member_session() -> boto3.Session:
    """The hub's user, assuming the member's OrganizationAccountAccessRole (allowed `*`)."""
    hub_iam = boto3.client("iam")
    hub_iam.create_user(UserName="operator")
    hub_iam.put_user_policy(
        UserName="operator",
        PolicyName="all",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    key = hub_iam.create_access_key(UserName="operator")["AccessKey"]
    operator = boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=REGION,
    )
    credentials = operator.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{MEMBER}:role/OrganizationAccountAccessRole",
        RoleSessionName="hub",
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


def _error(error: ClientError) -> tuple[str, str]:
    return str(error.response["Error"]["Code"]), str(error.response["Error"]["Message"])


DENY_LISTING = {"Effect": "Deny", "Action": "lambda:ListFunctions", "Resource": "*"}


def test_an_scp_deny_refuses_what_the_identity_policy_allows(aws: EmbeddedAws) -> None:
    create_organization([MEMBER])
    session = _member_session()
    session.client("lambda").list_functions()  # FullAWSAccess everywhere: allowed

    organizations = boto3.client("organizations")
    organizations.attach_policy(PolicyId=_scp("no-listing", DENY_LISTING), TargetId=MEMBER)

    with pytest.raises(ClientError) as refused:
        session.client("lambda").list_functions()
    code, message = _error(refused.value)
    assert code == "AccessDeniedException"
    assert message.startswith(
        f"User: arn:aws:sts::{MEMBER}:assumed-role/OrganizationAccountAccessRole/hub "
        "is not authorized to perform: lambda:ListFunctions"
    )
    assert message.endswith("with an explicit deny in a service control policy")
    session.client("sqs").list_queues()  # only what the SCP denies is refused


def test_a_level_without_an_allow_refuses_and_the_last_scp_stays(aws: EmbeddedAws) -> None:
    create_organization([MEMBER])
    session = _member_session()
    organizations = boto3.client("organizations")
    root = organization_root()
    unit = organizations.create_organizational_unit(ParentId=root, Name="workloads")
    unit_id = unit["OrganizationalUnit"]["Id"]
    organizations.move_account(AccountId=MEMBER, SourceParentId=root, DestinationParentId=unit_id)
    full_access = "p-FullAWSAccess"

    # DetachPolicy: every root, OU and account keeps at least one SCP.
    with pytest.raises(ClientError) as last:
        organizations.detach_policy(PolicyId=full_access, TargetId=unit_id)
    assert _error(last.value)[0] == "ConstraintViolationException"

    only_sqs = _scp("only-sqs", {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"})
    organizations.attach_policy(PolicyId=only_sqs, TargetId=unit_id)
    organizations.detach_policy(PolicyId=full_access, TargetId=unit_id)

    session.client("sqs").list_queues()  # allowed at the root, the OU and the account
    with pytest.raises(ClientError) as refused:
        session.client("lambda").list_functions()
    code, message = _error(refused.value)
    assert code == "AccessDeniedException"
    assert message.endswith(
        "because no service control policy allows the lambda:ListFunctions action"
    )

    # Disabling SCPs in the root detaches them all: nothing restricts the member any more.
    organizations.disable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    session.client("lambda").list_functions()


def test_the_management_account_is_never_restricted(aws: EmbeddedAws) -> None:
    create_organization([MEMBER])
    member = _member_session()  # the hub's user "operator", allowed `*`, in the management
    organizations = boto3.client("organizations")
    deny_all = _scp("deny-all", {"Effect": "Deny", "Action": "*", "Resource": "*"})
    organizations.attach_policy(PolicyId=deny_all, TargetId=organization_root())
    organizations.attach_policy(PolicyId=deny_all, TargetId=HUB)

    key = boto3.client("iam").create_access_key(UserName="operator")["AccessKey"]
    hub_user = boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=REGION,
    )
    hub_user.client("lambda").list_functions()
    boto3.client("lambda").list_functions()  # the management account's root
    with pytest.raises(ClientError) as refused:
        member.client("sqs").list_queues()
    assert "explicit deny in a service control policy" in _error(refused.value)[1]


def test_service_linked_roles_are_not_restricted(aws: EmbeddedAws) -> None:
    create_organization([MEMBER])
    from moto.iam.models import iam_backends

    backend = iam_backends[MEMBER]["aws"]
    for name, path in (("ordinary", "/"), ("AWSServiceRoleForExample", "/aws-service-role/")):
        backend.create_role(
            role_name=name,
            assume_role_policy_document=json.dumps({"Version": "2012-10-17", "Statement": []}),
            path=path,
            permissions_boundary=None,
            description="",
            tags=[],
            max_session_duration="3600",
            linked_service=None,
        )
        backend.put_role_policy(
            name,
            "all",
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
    iam.GENERATION.bump()
    boto3.client("organizations").attach_policy(
        PolicyId=_scp("no-listing", DENY_LISTING), TargetId=MEMBER
    )

    def may_list(role: str, path: str) -> bool:
        arn = f"arn:aws:iam::{MEMBER}:role{path}{role}"
        return iam.role_allows(arn, "lambda:ListFunctions", "*", REGION)

    assert not may_list("ordinary", "/")
    assert may_list("AWSServiceRoleForExample", "/aws-service-role/")


def test_a_reset_forgets_the_organizations_members() -> None:
    """moto keeps `master_accounts` across a reset of its backends; the emulator does not."""
    from moto.organizations.models import organizations_backends

    with EmbeddedAws():
        create_organization([MEMBER])
        assert organization_id_of(MEMBER) is not None
    with EmbeddedAws():
        assert organizations_backends.master_accounts == {}
        assert organization_id_of(MEMBER) is None
        # The member may found an organization of its own (AlreadyInOrganization before).
        organizations_backends[MEMBER]["aws"].create_organization(region=REGION)
