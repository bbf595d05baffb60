"""AWS Organizations membership for the embedded AWS, on moto's Organizations backend.

`aws:PrincipalOrgID` in a trust or resource policy is the organization of the calling
principal's account. moto keeps an organization in its management account's backend and maps
member accounts to it (`organizations_backends.master_accounts`); `enroll` puts an account of a
known id into the management account's organization (creating it with all features, as
`CreateOrganization` does), which moto's `CreateAccount` cannot (it draws a random id).
"""

from __future__ import annotations

from emulator.iam import DEFAULT_ACCOUNT, GENERATION


def organization_id_of(account: str) -> str | None:
    """The id (`o-...`) of the organization `account` belongs to, or None."""
    from moto.organizations.models import organizations_backends

    owner = organizations_backends.master_accounts.get(account)
    for management in ([owner[0]] if owner else []) + [account]:
        organization = organizations_backends[management]["aws"].org
        if organization is None:
            continue
        members = organizations_backends[management]["aws"].accounts
        if organization.master_account_id == account or any(m.id == account for m in members):
            return str(organization.id)
    return None


def enroll(account: str, *, management: str = DEFAULT_ACCOUNT, name: str = "") -> str:
    """Make `account` a member of `management`'s organization (created if missing); its id."""
    from moto.organizations.models import FakeAccount, organizations_backends

    backend = organizations_backends[management]["aws"]
    if backend.org is None:
        backend.create_organization(region="us-east-1", FeatureSet="ALL")
    assert backend.org is not None
    if account != management and not any(m.id == account for m in backend.accounts):
        member = FakeAccount(
            backend.org, AccountName=name or f"member-{account}", Email=f"{account}@example.com"
        )
        member.id = account
        backend.accounts.append(member)
        organizations_backends.master_accounts[account] = (management, "aws")
    GENERATION.bump()  # cached decisions may have read the old membership
    return str(backend.org.id)
