"""IAM principals: ARN patterns, who may be the same person, root. The approval rules rest on
these (separation of duties, allowed approvers); the policy validates its patterns with them."""

from __future__ import annotations

import re
from functools import cache


def arn_pattern_problem(pattern: str) -> str | None:
    if not pattern.startswith("arn:") or pattern.count(":") < 5:
        return "is not an ARN pattern like arn:aws:iam::*:role/OnCall*"
    if any(ch in pattern for ch in "?[]"):
        return "may only use * as a wildcard"
    return None


@cache
def _segment_regex(segment: str, resource: bool) -> re.Pattern[str]:
    # In the resource part `*` stays within one path element (no `/`, no `:`).
    star = "[^/:]*" if resource else "[^:]*"
    return re.compile(star.join(re.escape(piece) for piece in segment.split("*")))


def arn_like(pattern: str, arn: str) -> bool:
    """Compare the six colon-separated ARN segments; `*` matches within one segment, and in the
    resource (sixth) segment within one path element: it crosses neither `/` nor `:`."""
    if not isinstance(pattern, str) or not isinstance(arn, str):
        return False
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return False
    return all(
        _segment_regex(p, i == 5).fullmatch(a) is not None
        for i, (p, a) in enumerate(zip(pattern_parts, arn_parts, strict=True))
    )


_ASSUMED_ROLE = re.compile(
    r"^arn:[^:]+:sts::(?P<account>\d*):assumed-role/(?P<role>[^/]+)/(?P<session>.+)$"
)
_IAM_ROLE = re.compile(r"^arn:[^:]+:iam::(?P<account>\d*):role/(?:.*/)?(?P<role>[^/]+)$")
_IAM_USER = re.compile(r"^arn:[^:]+:iam::(?P<account>\d*):user/(?:.*/)?(?P<user>[^/]+)$")
_ROOT = re.compile(r"^arn:[^:]+:iam::(?P<account>\d*):root$")
_FEDERATED = re.compile(r"^arn:[^:]+:sts::(?P<account>\d*):federated-user/.+$")
# Roles IAM Identity Center creates for permission sets: the session name is the user name
# the identity provider set, not one the caller chose.
SSO_ROLE_PREFIX = "AWSReservedSSO_"
# A pinner recorded by its `sts:SourceIdentity` (set once by the IdP, cannot be changed).
SOURCE_IDENTITY_PREFIX = "source-identity:"


def is_root(arn: str) -> bool:
    return bool(_ROOT.match(arn or ""))


def is_principal(text: str) -> bool:
    """An IAM principal ARN or a recorded SourceIdentity: someone separation of duties can
    compare (the scan's "rollforward (reconciling scan)" is not)."""
    return bool(text) and (
        text.startswith(SOURCE_IDENTITY_PREFIX)
        or any(r.match(text) for r in (_ASSUMED_ROLE, _IAM_ROLE, _IAM_USER, _ROOT, _FEDERATED))
    )


def identities(arn: str) -> frozenset[tuple[str, ...]]:
    """What a principal ARN tells about who is behind it, as keys two ARNs share when they
    may be the same human (erring on the side of "yes"):

    - the ARN itself;
    - an IAM user: its account and name, and the name as a person;
    - an IAM Identity Center session (`assumed-role/AWSReservedSSO_*/<user>`): the user name
      as a person — the IdP sets it, in every permission set and account;
    - any other assumed-role session: its ROLE, since plain AssumeRole lets the caller choose
      the session name (`OnCall/alice` and `OnCall/bob` may be one person); the session name
      also counts as a person name, which can only add a "yes";
    - an IAM role ARN: the role; a federated user: the account (its name is caller-chosen);
    - `source-identity:<name>`: the name as a person.
    """
    keys: set[tuple[str, ...]] = {("arn", arn)}
    if arn.startswith(SOURCE_IDENTITY_PREFIX):
        keys.add(("person", arn[len(SOURCE_IDENTITY_PREFIX) :].lower()))
    elif match := _ASSUMED_ROLE.match(arn):
        keys.add(("person", match["session"].lower()))
        if not match["role"].startswith(SSO_ROLE_PREFIX):
            keys.add(("role", match["account"], match["role"]))
    elif match := _IAM_ROLE.match(arn):
        keys.add(("role", match["account"], match["role"]))
    elif match := _IAM_USER.match(arn):
        keys.add(("user", match["account"], match["user"]))
        keys.add(("person", match["user"].lower()))
    elif match := _ROOT.match(arn):
        keys.add(("root", match["account"]))
    elif match := _FEDERATED.match(arn):
        keys.add(("federated", match["account"]))
    return frozenset(keys)


def same_person(a: str, b: str) -> bool:
    """Whether two principals may be the same human (see `identities`), erring on "yes"."""
    return a == b or bool(identities(a) & identities(b))
