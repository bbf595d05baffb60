"""Resource-based policies as AWS evaluates them: role trust policies, EventBridge event bus
policies, SNS topic policies, Lambda function policies.

A resource-based policy names its principals (`Principal` / `NotPrincipal`): an AWS account
(`"123456789012"` or its `:root` ARN — which delegates to that account's own identity policies),
an IAM user or role ARN, a role session ARN, `"*"`, or a service (`events.amazonaws.com`). AWS
("Policy evaluation logic", IAM User Guide):

- an explicit Deny in any applicable policy wins;
- within one account, either an identity-based or a resource-based policy may allow — but a
  resource policy that names only the account (`:root`) leaves the decision to the identity
  policies; one that names the principal's own ARN allows by itself;
- across accounts, both must allow: the caller's identity policy in its account, and the
  resource's policy in the resource's account ("Cross-account policy evaluation logic");
- a role's trust policy must always allow `sts:AssumeRole`, in the same account too.

Conditions are evaluated on the keys the emulator knows (`emulator.iam._context`) plus
`aws:PrincipalOrgID` (Organizations, `emulator.organizations`), the request's `sts:ExternalId`,
`sts:RoleSessionName` and, for service principals, `aws:SourceArn` / `aws:SourceAccount`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ALLOW, DENY = "Allow", "Deny"


@dataclass(frozen=True)
class Principal:
    """Who asks, as resource policies name it."""

    account: str
    arn: str = ""  # the user or role ARN ("" for a service)
    session_arn: str = ""  # an assumed-role session's ARN
    service: str = ""  # "events.amazonaws.com" for a service principal

    @property
    def is_service(self) -> bool:
        return bool(self.service)


@dataclass(frozen=True)
class Decision:
    effect: str | None  # "Allow", "Deny" or None (the policy says nothing)
    names_principal: bool = False  # an Allow names the principal itself, not only its account


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _names(entry: Any, principal: Principal) -> tuple[bool, bool]:
    """(matches, by its own ARN) for one `Principal` block."""
    if entry == "*":
        return True, False
    if not isinstance(entry, Mapping):
        return False, False
    matched = explicit = False
    for kind, raw in entry.items():
        for value in (str(v) for v in _as_list(raw)):
            if kind == "Service":
                if principal.is_service and value == principal.service:
                    matched = explicit = True
            elif kind == "AWS" and not principal.is_service:
                account_wide = {"*", principal.account, f"arn:aws:iam::{principal.account}:root"}
                if value in account_wide:
                    matched = True
                elif value and value in {principal.arn, principal.session_arn}:
                    matched = explicit = True
    return matched, explicit


def decide(
    document: Mapping[str, Any] | str | None,
    principal: Principal,
    action: str,
    resource: str,
    context: Mapping[str, list[str]],
) -> Decision:
    """What `document` says about `principal` doing `action` on `resource`."""
    from emulator import iam

    if document is None:
        return Decision(None)
    parsed = iam._document(document) if not isinstance(document, Mapping) else document
    allowed = explicit = False
    for statement in _as_list(parsed.get("Statement")):
        if not isinstance(statement, Mapping):
            continue
        if "Principal" in statement:
            matched, by_arn = _names(statement["Principal"], principal)
        elif "NotPrincipal" in statement:
            matched, by_arn = not _names(statement["NotPrincipal"], principal)[0], False
        else:
            continue
        if not matched:
            continue
        scoped = dict(statement)
        scoped.setdefault("Resource", resource)  # a trust policy's resource is the role itself
        if not iam._statement_applies(scoped, action, resource, context):
            continue
        if statement.get("Effect") == DENY:
            return Decision(DENY)
        if statement.get("Effect") == ALLOW:
            allowed = True
            explicit = explicit or by_arn
    return Decision(ALLOW if allowed else None, explicit)


def principal_context(
    principal: Principal, region: str, extra: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """The condition keys of a request by `principal` (lower-cased, as IAM compares them)."""
    from emulator.organizations import organization_id_of

    context: dict[str, list[str]] = {
        "aws:principalaccount": [principal.account],
        "aws:requestedregion": [region],
        # Every AWS SDK call reaches AWS over TLS; the emulator's plain HTTP is its own
        # artifact, so a resource policy's "SSL only" Deny (CDK's default) must not bite.
        "aws:securetransport": ["true"],
    }
    if principal.arn:
        context["aws:principalarn"] = [principal.arn]
    if principal.is_service:
        context["aws:principalservicename"] = [principal.service]
    organization = organization_id_of(principal.account)
    if organization:
        context["aws:principalorgid"] = [organization]
    for key, value in (extra or {}).items():
        if value:
            context[key.lower()] = [value]
    return context


def account_of(arn: str) -> str:
    """The 12-digit account an ARN names ("" for none: S3, AWS managed policies' `aws`)."""
    parts = arn.split(":")
    account = parts[4] if len(parts) > 5 and parts[0] == "arn" else ""
    return account if len(account) == 12 and account.isdigit() else ""


def policy_of(resource: str) -> str | None:
    """The resource-based policy of an event bus, SNS topic or Lambda function, from moto's
    backend of the resource's own account; None when it has none (or is none of those)."""
    parts = resource.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    _, _, service, region, account, rest = parts
    try:
        if service == "events" and rest.startswith("event-bus/"):
            from moto.events.models import events_backends

            bus = events_backends[account][region].event_buses.get(rest.removeprefix("event-bus/"))
            return None if bus is None else bus.policy
        if service == "sns":
            from moto.sns.models import sns_backends

            topic = sns_backends[account][region].topics.get(resource)
            return None if topic is None else str(topic.policy)
        if service == "lambda" and rest.startswith("function:"):
            from moto.awslambda.utils import get_backend

            name = rest.removeprefix("function:").split(":")[0]
            function = get_backend(account, region).get_function(name)
            policy = function.policy.get_policy() if function.policy else None
            if isinstance(policy, Mapping):
                document = policy.get("Policy")
                if isinstance(document, Mapping):
                    return json.dumps(document)
                return str(document) if document else None
            return None
    except Exception:
        return None
    return None
