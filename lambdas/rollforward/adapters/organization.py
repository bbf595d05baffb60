"""`OrganizationAccounts` on AWS Organizations: the accounts the member StackSet reaches.

A service-managed StackSet deploys to every account of its target OUs and of every OU below
them (CloudFormation User Guide, "service-managed permissions"), so the hub's scan covers the
same: `ListAccountsForParent` on each target, `ListOrganizationalUnitsForParent` to walk down.
Only the management account or a delegated administrator may make both calls ("You can only
call this operation from the management account or a member account that is a delegated
administrator", API reference); any other account is answered AccessDeniedException, raised
here as `Refused`. Suspended accounts are left out (no stack instance can act there), and so
is the management account: StackSets never deploys a stack instance there, even when it is in
a target OU (CloudFormation User Guide, "Create a stack set with service-managed
permissions"), so no member role lets the hub in — a hub in a delegated administrator account
would otherwise fail that target every cycle. `DescribeOrganization` names it (any member may
call it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from rollforward.adapters.aws_errors import call, error_code
from rollforward.ports import Refused

ACTIVE = "ACTIVE"


class AwsOrganizationAccounts:
    def __init__(self, organizations: Any) -> None:
        self.organizations = organizations

    def accounts_under(self, parents: Sequence[str]) -> list[str]:
        try:
            return self._accounts_under(parents)
        except ClientError as error:  # not transient: `call` raised those as Transient
            raise Refused(f"{error_code(error)}: {error}") from error

    def _accounts_under(self, parents: Sequence[str]) -> list[str]:
        described = call(self.organizations.describe_organization)["Organization"]
        management = str(described.get("MasterAccountId", ""))
        accounts: set[str] = set()
        pending, seen = list(parents), set[str]()
        while pending:
            parent = pending.pop()
            if parent in seen:
                continue
            seen.add(parent)
            for account in _pages(self.organizations.list_accounts_for_parent, "Accounts", parent):
                if account.get("Status", ACTIVE) == ACTIVE and account["Id"] != management:
                    accounts.add(str(account["Id"]))
            pending.extend(
                str(unit["Id"])
                for unit in _pages(
                    self.organizations.list_organizational_units_for_parent,
                    "OrganizationalUnits",
                    parent,
                )
            )
        return sorted(accounts)


def _pages(operation: Callable[..., Any], key: str, parent: str) -> Iterator[dict[str, Any]]:
    """Every item of a paginated listing under `parent`."""
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"ParentId": parent}
        if token:
            kwargs["NextToken"] = token
        page = call(operation, **kwargs)
        yield from page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return
