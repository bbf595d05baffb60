"""Member accounts of an Organization in the embedded AWS.

moto keeps a backend per account; a request acts in the account that owns its access key, and
`sts:AssumeRole` into another account's role yields credentials of that account. What AWS
Organizations gives a new member account — a role the management (here: hub) account may
assume — is made here directly in the member's IAM, as account creation would (there is no
caller in the member account before that role exists). Everything after it goes through the
APIs: the hub assumes the role (its identity policy and the role's trust are both checked by
`emulator.iam`), and the session acts in the member account under the role's policies.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from emulator.iam import DEFAULT_ACCOUNT, GENERATION
from emulator.organizations import enroll, organization_id_of

# The name AWS Organizations gives the role in accounts it creates.
MEMBER_ROLE = "OrganizationAccountAccessRole"
_ACCOUNT_ID = re.compile(r"^\d{12}$")


@dataclass(frozen=True, slots=True)
class MemberAccount:
    account_id: str
    role_arn: str


def create_member_account(
    account_id: str,
    *,
    hub_account: str = DEFAULT_ACCOUNT,
    role_name: str = MEMBER_ROLE,
    policy: dict[str, Any] | None = None,
) -> MemberAccount:
    """A member account whose `role_name` trusts `hub_account` (its root, so the hub's own IAM
    policies decide who may assume it) and holds `policy` (default: everything, as
    OrganizationAccountAccessRole has AdministratorAccess)."""
    if not _ACCOUNT_ID.match(account_id) or account_id == hub_account:
        raise ValueError(f"a member account id is 12 digits, not the hub's: {account_id!r}")
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id]["aws"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{hub_account}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = backend.create_role(
        role_name=role_name,
        assume_role_policy_document=json.dumps(trust),
        path="/",
        permissions_boundary=None,
        description="rollforward: the hub's access to this member account",
        tags=[],
        max_session_duration="3600",
        linked_service=None,
    )
    document = policy or {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    backend.put_role_policy(role_name, "member-access", json.dumps(document))
    GENERATION.bump()  # IAM changed outside the API: cached statements are stale
    return MemberAccount(account_id, str(role.arn))


def organization_accounts(account: str) -> list[str]:
    """Every account of the organization `account` is in (sorted; [] if none)."""
    from moto.organizations.models import organizations_backends

    organization = organization_id_of(account)
    if organization is None:
        return []
    owner = organizations_backends.master_accounts.get(account)
    management = owner[0] if owner else account
    members = [m.id for m in organizations_backends[management]["aws"].accounts]
    return sorted({management, *members})


def stack_set_credentials(account: str, role_name: str = MEMBER_ROLE) -> dict[str, str]:
    """boto3 client keyword arguments acting in `account` as a service-managed StackSet's
    execution does (AWS uses its service-linked role there; the emulator the role AWS
    Organizations made, assumed by the hub through STS, trust and policy checked)."""
    import boto3

    from emulator.state import STATE

    endpoint = STATE.endpoint_url or None
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=endpoint, **_stack_sets_keys())
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role_name}", RoleSessionName="stacksets-exec"
    )["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


# The hub's principal standing for CloudFormation StackSets (root may not assume roles).
STACK_SETS_USER = "cloudformation-stacksets"


def _stack_sets_keys() -> dict[str, str]:
    """Keys of `STACK_SETS_USER` in the hub (made on first use): it may assume the role AWS
    Organizations gives every member account, nothing else."""
    import boto3

    from emulator.state import STATE

    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=STATE.endpoint_url or None)
    try:
        iam.get_user(UserName=STACK_SETS_USER)
    except iam.exceptions.NoSuchEntityException:
        iam.create_user(UserName=STACK_SETS_USER)
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Resource": f"arn:aws:iam::*:role/{MEMBER_ROLE}",
                }
            ],
        }
        iam.put_user_policy(
            UserName=STACK_SETS_USER,
            PolicyName="assume-member",
            PolicyDocument=json.dumps(document),
        )
    for old in iam.list_access_keys(UserName=STACK_SETS_USER)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=STACK_SETS_USER, AccessKeyId=old["AccessKeyId"])
    key = iam.create_access_key(UserName=STACK_SETS_USER)["AccessKey"]
    return {
        "aws_access_key_id": key["AccessKeyId"],
        "aws_secret_access_key": key["SecretAccessKey"],
    }


def create_organization(
    members: list[str],
    *,
    hub_account: str = DEFAULT_ACCOUNT,
    management_account: str | None = None,
) -> tuple[str, list[MemberAccount]]:
    """An Organization of the hub and `members`, each member with the role AWS Organizations
    gives a new account (which a StackSet's deployment then acts as); the organization's id
    and the members. The hub is its management account, or, with `management_account`, a
    member registered as the StackSets delegated administrator (what the hub's default
    `stackset_call_as` DELEGATED_ADMIN needs)."""
    from emulator.organizations import register_delegated_administrator

    management = management_account or hub_account
    made = [create_member_account(account, hub_account=hub_account) for account in members]
    organization = enroll(management, management=management)
    if management != hub_account:
        enroll(hub_account, management=management)
        register_delegated_administrator(hub_account)
    for account in members:
        enroll(account, management=management)
    return organization, made


def organization_root(management: str = DEFAULT_ACCOUNT) -> str:
    """The root id (`r-...`) of `management`'s organization (where every member is)."""
    from moto.organizations.models import FakeRoot, organizations_backends

    backend = organizations_backends[management]["aws"]
    (root,) = (unit for unit in backend.ou if isinstance(unit, FakeRoot))
    return str(root.id)
