"""Who may read an Organization, as AWS Organizations decides (docs/parity/accounts.md): its
List*/Describe* operations answer the management account and a member account that is a
delegated administrator; any other member gets AccessDeniedException (DescribeOrganization
answers every member)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.accounts import create_organization, organization_root, stack_set_credentials
from emulator.inprocess import EmbeddedAws

HUB, MEMBER = "123456789012", "111111111111"
STACKSETS = "member.org.stacksets.cloudformation.amazonaws.com"


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        create_organization([MEMBER])
        yield embedded


def _as_member() -> Any:
    """Organizations as the member account's administrator role."""
    return boto3.client("organizations", region_name="us-east-1", **stack_set_credentials(MEMBER))


def test_a_member_account_may_not_list_the_organization(aws: EmbeddedAws) -> None:
    root = organization_root()
    member = _as_member()

    for call in (
        lambda: member.list_accounts_for_parent(ParentId=root),
        lambda: member.list_organizational_units_for_parent(ParentId=root),
        lambda: member.list_accounts(),
        lambda: member.describe_account(AccountId=HUB),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        error = refused.value.response["Error"]
        assert error["Code"] == "AccessDeniedException"
        assert error["Message"] == "You don't have permissions to access this resource."
    # Any member may read which organization it is in.
    assert member.describe_organization()["Organization"]["MasterAccountId"] == HUB


def test_the_management_account_and_a_delegated_administrator_may(aws: EmbeddedAws) -> None:
    root = organization_root()
    management = boto3.client("organizations", region_name="us-east-1")
    assert {a["Id"] for a in management.list_accounts_for_parent(ParentId=root)["Accounts"]} == {
        HUB,
        MEMBER,
    }

    management.register_delegated_administrator(AccountId=MEMBER, ServicePrincipal=STACKSETS)

    listed = _as_member().list_accounts_for_parent(ParentId=root)["Accounts"]
    assert {account["Id"] for account in listed} == {HUB, MEMBER}
    management.deregister_delegated_administrator(AccountId=MEMBER, ServicePrincipal=STACKSETS)
    with pytest.raises(ClientError, match="AccessDeniedException"):
        _as_member().list_accounts_for_parent(ParentId=root)


def test_a_delegated_administrators_principal_still_needs_an_identity_allow(
    aws: EmbeddedAws,
) -> None:
    """Delegation lets the account read; each of its principals still needs its own policy
    to allow the call (IAM, evaluated on the organization's root in the management account)."""
    boto3.client("organizations").register_delegated_administrator(
        AccountId=MEMBER, ServicePrincipal=STACKSETS
    )
    member_iam = boto3.client("iam", region_name="us-east-1", **stack_set_credentials(MEMBER))
    member_iam.create_user(UserName="reader")
    lambda_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:List*", "Resource": "*"}],
    }
    member_iam.put_user_policy(
        UserName="reader", PolicyName="lambda", PolicyDocument=json.dumps(lambda_only)
    )
    key = member_iam.create_access_key(UserName="reader")["AccessKey"]
    reader = boto3.client(
        "organizations",
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )

    with pytest.raises(ClientError) as refused:
        reader.list_accounts_for_parent(ParentId=organization_root())
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: organizations:ListAccountsForParent" in str(refused.value)
