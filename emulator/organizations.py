"""AWS Organizations membership for the embedded AWS, on moto's Organizations backend.

`aws:PrincipalOrgID` in a trust or resource policy is the organization of the calling
principal's account. moto keeps an organization in its management account's backend and maps
member accounts to it (`organizations_backends.master_accounts`); `enroll` puts an account of a
known id into the management account's organization (creating it with all features, as
`CreateOrganization` does), which moto's `CreateAccount` cannot (it draws a random id).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from emulator.iam import DEFAULT_ACCOUNT, GENERATION, Caller


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
        # AWS attaches the default FullAWSAccess (and RCPFullAWSAccess) to every new account.
        for policy in backend.policies:
            if policy.aws_managed:
                backend.attach_policy(PolicyId=policy.id, TargetId=account)
        organizations_backends.master_accounts[account] = (management, "aws")
    GENERATION.bump()  # cached decisions may have read the old membership
    return str(backend.org.id)


# --- service control policies ----------------------------------------------------------------
# AWS Organizations User Guide, "SCP evaluation"
# (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_evaluation.html):
# a principal of a member account may only do what an SCP allows at every level from the root
# through each OU down to the account itself; a Deny in any of them refuses. The management
# account and service-linked roles are never restricted.

SCP = "SERVICE_CONTROL_POLICY"
EXPLICIT = "explicit"  # an SCP's Deny applies
IMPLICIT = "implicit"  # some level of the hierarchy has no SCP that allows


def _management_of(account: str) -> str | None:
    from moto.organizations.models import organizations_backends

    owner = organizations_backends.master_accounts.get(account)
    return owner[0] if owner else None


def _scp_levels(account: str) -> list[list[dict[str, Any]]] | None:
    """The SCP statements attached at each level (the account, its OUs, the root), or None
    when SCPs do not restrict `account` (no organization, the management account, or the SCP
    policy type not enabled in the root)."""
    from moto.organizations.models import FakeRoot, organizations_backends

    management = _management_of(account)
    if management is None or management == account:
        return None
    backend = organizations_backends[management]["aws"]
    roots = [unit for unit in backend.ou if isinstance(unit, FakeRoot)]
    if not roots or not any(t.get("Type") == SCP for t in roots[0].policy_types):
        return None
    member = next((a for a in backend.accounts if a.id == account), None)
    if member is None:
        return None
    units = {unit.id: unit for unit in backend.ou}
    levels: list[list[dict[str, Any]]] = []
    node: Any = member
    seen: set[str] = set()
    while node is not None and node.id not in seen:
        seen.add(node.id)
        statements: list[dict[str, Any]] = []
        for policy in node.attached_policies:
            if policy.type != SCP:
                continue
            raw = json.loads(policy.content or "{}").get("Statement", [])
            statements += [
                s for s in (raw if isinstance(raw, list) else [raw]) if isinstance(s, dict)
            ]
        levels.append(statements)
        node = units.get(node.parent_id) if not isinstance(node, FakeRoot) else None
    return levels


def _is_service_linked(caller: Caller) -> bool:
    if caller.kind != "AssumedRole":
        return False
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[caller.account]["aws"].get_role(caller.name)
    except Exception:
        return False
    return str(getattr(role, "path", "")).startswith("/aws-service-role/")


def scp_refusal(
    caller: Caller, action: str, resource: str, context: Mapping[str, list[str]]
) -> str | None:
    """EXPLICIT or IMPLICIT when the SCPs over `caller`'s account refuse `action` on
    `resource`, None when they allow it (or do not apply)."""
    if _is_service_linked(caller):
        return None
    levels = _scp_levels(caller.account)
    if levels is None:
        return None
    from emulator.iam import _statement_applies

    refusal: str | None = None
    for statements in levels:
        applying = [s for s in statements if _statement_applies(s, action, resource, context)]
        if any(s.get("Effect") == "Deny" for s in applying):
            return EXPLICIT
        if not any(s.get("Effect") == "Allow" for s in applying):
            refusal = IMPLICIT
    return refusal


# --- moto's Organizations held to AWS --------------------------------------------------------

_installed = False


# --- who may read the Organization -------------------------------------------------------------
# Organizations' List*/Describe* operations "can be called only from the organization's
# management account or by a member account that is a delegated administrator for an AWS
# service" (API reference, e.g. ListAccountsForParent); DescribeOrganization from any member.
# moto refuses no member: it answers a member's reads from that member's own, empty backend.
MEMBER_MAY_CALL = frozenset({"describe_organization"})


# Services moto does not list as delegable that rollforward's hub is delegated for: StackSets
# (the member StackSet is deployed from the delegated administrator account).
DELEGABLE_SERVICES = ("member.org.stacksets.cloudformation.amazonaws.com",)
NOT_PERMITTED = "You don't have permissions to access this resource."


def may_read_organization(account: str) -> bool:
    """Whether `account` may call Organizations' read operations: it is its organization's
    management account or a delegated administrator there (or in no organization: moto then
    answers AWSOrganizationsNotInUseException itself)."""
    from moto.organizations.models import organizations_backends

    management = _management_of(account)
    if management is None or management == account:
        return True
    backend = organizations_backends[management]["aws"]
    return any(admin.account.id == account for admin in backend.admins)


# --- who may operate a SERVICE_MANAGED StackSet ------------------------------------------------
# CloudFormation: the management account, as itself (CallAs SELF), or a member registered as a
# delegated administrator for StackSets, as one (CallAs DELEGATED_ADMIN); the API reference's
# `CallAs`, and AWS's answers when either is wrong (cdklabs/cdk-stacksets#265,
# aws-cloudformation/cloudformation-coverage-roadmap#799).
STACKSETS_PRINCIPAL = DELEGABLE_SERVICES[0]
NOT_DELEGATED = "Account used is not a delegated administrator"
NOT_MANAGEMENT_NOR_DELEGATED = (
    "You must be the management account or delegated admin account of an organization "
    "before operating a SERVICE_MANAGED stack set"
)


def is_management(account: str) -> bool:
    from moto.organizations.models import organizations_backends

    organization = organizations_backends[account]["aws"].org
    return organization is not None and organization.master_account_id == account


def is_delegated_administrator(account: str, service_principal: str) -> bool:
    from moto.organizations.models import organizations_backends

    management = _management_of(account)
    if management is None:
        return False
    admins = organizations_backends[management]["aws"].admins
    return any(a.account.id == account and service_principal in a.services for a in admins)


def register_delegated_administrator(
    account: str, service_principal: str = STACKSETS_PRINCIPAL
) -> None:
    """`account` becomes a delegated administrator for `service_principal` in its organization
    (RegisterDelegatedAdministrator, as the management account calls it)."""
    from moto.organizations.models import organizations_backends

    management = _management_of(account)
    if management is None:
        raise ValueError(f"{account} is not a member of an organization")
    organizations_backends[management]["aws"].register_delegated_administrator(
        AccountId=account, ServicePrincipal=service_principal
    )
    GENERATION.bump()  # who may read the organization changed


def stack_set_refusal(account: str, call_as: str) -> str:
    """Why CloudFormation refuses `account` a SERVICE_MANAGED StackSet called as `call_as`
    (SELF by default); "" when it may."""
    delegated = is_delegated_administrator(account, STACKSETS_PRINCIPAL)
    if call_as == "DELEGATED_ADMIN":
        return "" if delegated else NOT_DELEGATED
    return "" if is_management(account) else NOT_MANAGEMENT_NOR_DELEGATED


def _guard_reads(response_class: Any, error_class: Any) -> None:
    """Every List*/Describe* answer of moto's Organizations checks its caller first (inside
    the response method, where moto serialises a service error in AWS's shape); a delegated
    administrator's reads are answered from the management account's organization (moto would
    read the member's own, empty backend)."""
    from moto.organizations.models import organizations_backends

    own_backend = response_class.organizations_backend

    def backend(self: Any) -> Any:
        management = _management_of(self.current_account)
        if getattr(self, "_read_as_management", False) and management is not None:
            return organizations_backends[management][self.partition]
        return own_backend.fget(self)

    response_class.organizations_backend = property(backend)
    for name in dir(response_class):
        if not name.startswith(("list_", "describe_")) or name in MEMBER_MAY_CALL:
            continue
        original = getattr(response_class, name)
        if not callable(original):
            continue

        def guarded(self: Any, _original: Any = original) -> Any:
            if not may_read_organization(self.current_account):
                raise error_class("AccessDeniedException", NOT_PERMITTED)
            self._read_as_management = True  # one response object per request
            return _original(self)

        setattr(response_class, name, guarded)


def install() -> None:
    """moto's Organizations as AWS behaves where SCPs depend on it: `CreateOrganization` with
    all features enables SCPs in the root; a root, OU or account keeps at least one SCP; policy
    changes expire cached IAM decisions; a reset of moto's backends forgets which accounts
    belong to which organization (moto keeps `master_accounts` across `BackendDict.reset`)."""
    global _installed
    if _installed:
        return
    from moto.core.base_backend import BackendDict
    from moto.organizations.exceptions import OrganizationsClientError
    from moto.organizations.models import (
        FakeDelegatedAdministrator,
        FakeRoot,
        OrganizationsBackend,
        organizations_backends,
    )
    from moto.organizations.responses import OrganizationsResponse

    create = OrganizationsBackend.create_organization

    def create_organization(self: Any, region: str, **kwargs: Any) -> dict[str, Any]:
        described = create(self, region, **kwargs)
        if (kwargs.get("FeatureSet") or "ALL") == "ALL":
            for unit in self.ou:
                if isinstance(unit, FakeRoot) and not unit.policy_types:
                    unit.policy_types.append({"Type": SCP, "Status": "ENABLED"})
        return described

    detach = OrganizationsBackend.detach_policy

    def detach_policy(self: Any, **kwargs: str) -> None:
        policy = self.get_policy_by_id(kwargs["PolicyId"])
        target = next(
            (t for t in [*self.ou, *self.accounts] if t.id == kwargs.get("TargetId")), None
        )
        if (
            policy.type == SCP
            and target is not None
            and policy in target.attached_policies
            and sum(p.type == SCP for p in target.attached_policies) == 1
        ):
            # DetachPolicy (API reference): "Every root, OU, and account must have at least
            # one SCP attached."
            raise OrganizationsClientError(
                "ConstraintViolationException",
                "You have exceeded the minimum number of policies of the specified type "
                "attached to an entity.",
            )
        detach(self, **kwargs)

    enable = OrganizationsBackend.enable_policy_type
    disable = OrganizationsBackend.disable_policy_type

    def enable_policy_type(self: Any, **kwargs: str) -> dict[str, Any]:
        answer = enable(self, **kwargs)
        if kwargs.get("PolicyType") == SCP:
            # "When you enable SCPs, AWS Organizations attaches FullAWSAccess" to every entity.
            defaults = [p for p in self.policies if p.aws_managed and p.type == SCP]
            for default in defaults[:1]:
                for target in [*self.ou, *self.accounts]:
                    self.attach_policy(PolicyId=default.id, TargetId=target.id)
        return answer

    def disable_policy_type(self: Any, **kwargs: str) -> dict[str, Any]:
        answer = disable(self, **kwargs)
        if kwargs.get("PolicyType") == SCP:
            # DisablePolicyType: every policy of the type is detached from every entity.
            for target in [*self.ou, *self.accounts]:
                for policy in [p for p in target.attached_policies if p.type == SCP]:
                    target.attached_policies.remove(policy)
                    policy.attachments.remove(target)
        return answer

    call_action = OrganizationsResponse.call_action

    def organizations_call_action(self: Any) -> Any:
        try:
            return call_action(self)
        finally:
            action = self._get_action() or ""
            if not action.startswith(("Describe", "List")):
                GENERATION.bump()  # membership or SCPs may have changed

    original_reset = BackendDict.reset.__func__  # type: ignore[attr-defined]

    def reset(cls: Any) -> None:
        original_reset(cls)
        organizations_backends.master_accounts.clear()
        GENERATION.bump()

    _guard_reads(OrganizationsResponse, OrganizationsClientError)
    FakeDelegatedAdministrator.SUPPORTED_SERVICES = [
        *FakeDelegatedAdministrator.SUPPORTED_SERVICES,
        *DELEGABLE_SERVICES,
    ]
    OrganizationsBackend.create_organization = create_organization  # type: ignore[method-assign]
    OrganizationsBackend.detach_policy = detach_policy  # type: ignore[method-assign]
    OrganizationsBackend.enable_policy_type = enable_policy_type  # type: ignore[method-assign]
    OrganizationsBackend.disable_policy_type = disable_policy_type  # type: ignore[method-assign]
    OrganizationsResponse.call_action = organizations_call_action  # type: ignore[method-assign]
    BackendDict.reset = classmethod(reset)  # type: ignore[method-assign,assignment]
    _installed = True
