"""The scan's targets in a hub: `AwsOrganizationAccounts` on the embedded AWS's Organizations,
and `organization_targets` (every account the StackSet reaches, in every member region)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from rollforward.adapters.organization import AwsOrganizationAccounts
from rollforward.ports import Refused
from rollforward.scan.cycle import STACKSETS_PRINCIPAL, organization_targets

from emulator.accounts import create_organization, organization_root, stack_set_credentials
from emulator.inprocess import EmbeddedAws

HUB, A, B, C = "123456789012", "111111111111", "222222222222", "333333333333"


@pytest.fixture
def organizations() -> Iterator[Any]:
    with EmbeddedAws():
        create_organization([A, B, C])
        yield boto3.client("organizations", region_name="us-east-1")


def test_accounts_under_an_ou_include_its_child_ous_and_nothing_else(organizations: Any) -> None:
    root = organization_root()
    workloads = organizations.create_organizational_unit(ParentId=root, Name="workloads")
    team = organizations.create_organizational_unit(
        ParentId=workloads["OrganizationalUnit"]["Id"], Name="team"
    )
    organizations.move_account(
        AccountId=A, SourceParentId=root, DestinationParentId=workloads["OrganizationalUnit"]["Id"]
    )
    organizations.move_account(
        AccountId=B, SourceParentId=root, DestinationParentId=team["OrganizationalUnit"]["Id"]
    )
    reader = AwsOrganizationAccounts(organizations)

    assert reader.accounts_under([workloads["OrganizationalUnit"]["Id"]]) == [A, B]
    # The management account (HUB here) is in the root but never a target: StackSets
    # deploys no stack instance there, so no member role would let the hub in.
    assert reader.accounts_under([root]) == sorted([A, B, C])


def test_a_cycles_targets_are_the_hub_then_every_account_in_every_member_region() -> None:
    targets = organization_targets((HUB, "us-east-1"), [A, HUB], ["us-east-1", "eu-west-1"])
    assert [(t.account, t.region) for t in targets] == [
        (HUB, "us-east-1"),
        (HUB, "eu-west-1"),
        (A, "us-east-1"),
        (A, "eu-west-1"),
    ]


def test_a_hub_outside_the_management_account_is_refused_until_it_is_delegated(
    organizations: Any,
) -> None:
    """AWS answers a member account's listing AccessDeniedException unless it is a delegated
    administrator: the reader raises `Refused` (the cycle then says so and scans the hub)."""
    root = organization_root()
    as_member = boto3.client("organizations", region_name="us-east-1", **stack_set_credentials(A))
    with pytest.raises(Refused, match="AccessDeniedException"):
        AwsOrganizationAccounts(as_member).accounts_under([root])

    organizations.register_delegated_administrator(
        AccountId=A, ServicePrincipal=STACKSETS_PRINCIPAL
    )

    assert AwsOrganizationAccounts(as_member).accounts_under([root]) == sorted([A, B, C])
