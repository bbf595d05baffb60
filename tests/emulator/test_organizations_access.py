"""Who may read an Organization, as AWS Organizations decides (docs/parity/accounts.md): its
List*/Describe* operations answer the management account and a member account that is a
delegated administrator; any other member gets AccessDeniedException (DescribeOrganization
answers every member)."""

from __future__ import annotations

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
