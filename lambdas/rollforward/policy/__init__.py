"""The rollforward policy: escalation ladder, approval rules, canary settings and tag keys.

The policy is one JSON document (from `cdk.json` context or an SSM parameter). This module
only parses and reasons over it; it never fetches it. Every field has a default, so `{}` is
the default policy, and unknown keys are errors: a typo such as `"ofset"` must fail loudly,
not silently fall back to a default that pages on-call a week early.

Durations are strings in one of two spellings (both accepted everywhere, the compact one is
what `to_json` writes back):

* compact: integer amounts with units in descending order, no spaces —
  `"3d"`, `"12h"`, `"90m"`, `"45s"`, `"1d12h"`, `"2w"` (w = 7 days);
* ISO-8601, days and below only — `"P3D"`, `"PT12H"`, `"P1DT12H"`, `"P2W"`.

Months and years are rejected: they have no fixed length. Fractions are rejected.

Modules: `durations` (the two spellings), `models` (the document), `errors` (problems as
`path: what is wrong`), `ladder` (`next_stage`, described at that function). IAM principal
matching lives with the approval rules (`rollforward.approvals.principals`).
"""

from __future__ import annotations

from rollforward.approvals.principals import (
    SOURCE_IDENTITY_PREFIX,
    SSO_ROLE_PREFIX,
    arn_like,
    identities,
    is_principal,
    is_root,
    same_person,
)
from rollforward.policy.durations import (
    Duration,
    _utc,
    format_duration,
    parse_duration,
    resolve_until,
)
from rollforward.policy.errors import PolicyError
from rollforward.policy.ladder import StagePlan, next_stage, parse_stage_key, stage_key
from rollforward.policy.models import (
    DEFAULT_STAGES,
    MAX_EXEMPTION,
    ApprovalSettings,
    Audience,
    CanarySettings,
    Escalation,
    Policy,
    PostureSettings,
    Rung,
    TagKeys,
    _semantic_problems,
)

__all__ = [
    "DEFAULT_STAGES",
    "MAX_EXEMPTION",
    "SOURCE_IDENTITY_PREFIX",
    "SSO_ROLE_PREFIX",
    "ApprovalSettings",
    "Audience",
    "CanarySettings",
    "Duration",
    "Escalation",
    "Policy",
    "PolicyError",
    "PostureSettings",
    "Rung",
    "StagePlan",
    "TagKeys",
    "_semantic_problems",
    "_utc",
    "arn_like",
    "format_duration",
    "identities",
    "is_principal",
    "is_root",
    "next_stage",
    "parse_duration",
    "parse_stage_key",
    "resolve_until",
    "same_person",
    "stage_key",
]
