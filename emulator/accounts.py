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
