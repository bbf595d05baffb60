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

The escalation ladder (`next_stage`) is described at that function.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from rollforward.model import PinKey
from rollforward.sequential_judge import SequentialPolicy

# --------------------------------------------------------------------------- durations

_COMPACT = re.compile(
    r"(?:(?P<w>\d{1,9})w)?(?:(?P<d>\d{1,9})d)?(?:(?P<h>\d{1,9})h)?(?:(?P<m>\d{1,9})m)?(?:(?P<s>\d{1,9})s)?"
)
_ISO = re.compile(
    r"P(?:(?P<w>\d{1,9})W)?(?:(?P<d>\d{1,9})D)?"
    r"(?:T(?=\d)(?:(?P<h>\d{1,9})H)?(?:(?P<m>\d{1,9})M)?(?:(?P<s>\d{1,9})S)?)?"
)
_UNIT_SECONDS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def parse_duration(text: str) -> timedelta:
    """Parse `"3d"`, `"1d12h"`, `"90m"`, `"P3D"`, `"PT12H"` into a timedelta.

    Raises ValueError with a message that quotes the input and shows the accepted forms.
    """
    if not isinstance(text, str):
        raise ValueError(f'{text!r} is not a duration like "3d" or "P3D" (expected a string)')
    value = text.strip()
    match = _COMPACT.fullmatch(value) or _ISO.fullmatch(value)
    if value in ("", "P") or match is None or not any(match.groups()):
        hint = ""
        if re.fullmatch(r"P(\d+Y)?(\d+M)?(\d+[WD])?(T.*)?", value) and re.search(
            r"\d+[YM]", value.split("T")[0]
        ):
            hint = " (months and years have no fixed length: use days)"
        raise ValueError(f'{json.dumps(text)} is not a duration like "3d" or "P3D"{hint}')
    parts = {unit: int(amount) for unit, amount in match.groupdict().items() if amount}
    try:
        return timedelta(
            weeks=parts.get("w", 0),
            days=parts.get("d", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("m", 0),
            seconds=parts.get("s", 0),
        )
    except OverflowError:
        raise ValueError(f"{json.dumps(text)} is too long a duration") from None


def resolve_until(text: str, now: datetime) -> datetime:
    """The end of a snooze or exemption: a duration from `now` (`3d`, `P3D`), an ISO date
    (midnight UTC) or an ISO date/time with a zone. Raises ValueError naming the forms."""
    if not isinstance(text, str):
        raise ValueError("the end must be a string (an ISO date/time or a duration like 3d)")
    value = text.strip()
    if not value:
        raise ValueError("an end is required (an ISO date/time or a duration like 3d)")
    if len(value) > 64:
        raise ValueError("the end is longer than 64 characters")
    try:
        duration = parse_duration(value)
    except ValueError:
        pass
    else:
        try:
            return _utc(now, "now") + duration
        except OverflowError:
            raise ValueError(f"{value!r} is too long a duration") from None
    try:
        moment = datetime.fromisoformat(
            (value + "T00:00:00Z" if len(value) == 10 else value).replace("Z", "+00:00")
        )
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(
            f"{value[:40]!r} is neither a duration like 3d or 12h nor an ISO date/time with a "
            "zone like 2026-12-24 or 2026-12-24T09:00:00Z"
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value[:40]!r} is out of range") from None


def format_duration(value: timedelta, *, max_units: int | None = None) -> str:
    """Format as the compact spelling (`"1d12h"`, `"90m"` → `"1h30m"`, zero → `"0s"`).

    Sub-second parts are dropped, so `parse_duration(format_duration(d)) == d` for whole
    seconds. `max_units` keeps only the most significant units (truncating, never rounding
    up), for people: `format_duration(age, max_units=2)` → `"16d3h"`.
    """
    if value < timedelta(0):
        raise ValueError(f"negative duration: {value}")
    if max_units is not None and max_units < 1:
        raise ValueError("max_units must be at least 1")
    remaining = value.days * 86_400 + value.seconds
    parts: list[str] = []
    for unit, seconds in _UNIT_SECONDS:
        amount, remaining = divmod(remaining, seconds)
        if amount:
            parts.append(f"{amount}{unit}")
    if max_units is not None:
        parts = parts[:max_units]
    return "".join(parts) or "0s"


def _validate_duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f'{json.dumps(value)} is not a duration like "3d" or "P3D"')


Duration = Annotated[
    timedelta,
    PlainValidator(_validate_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["3d", "12h", "90m", "P3D", "PT12H"]}),
]


# --------------------------------------------------------------------------- errors


class PolicyError(ValueError):
    """The policy document is invalid. `problems` lists each one as `path: what is wrong`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        if len(problems) == 1:
            message = f"invalid rollforward policy: {problems[0]}"
        else:
            message = "invalid rollforward policy:\n" + "\n".join(f"  {p}" for p in problems)
        super().__init__(message)


# --------------------------------------------------------------------------- model


class Audience(StrEnum):
    """Who a notice is for. Each audience has its own wording and actions."""

    OWNER = "owner"
    TEAM = "team"
    ONCALL = "oncall"


class _Model(BaseModel):
    # Scalars use Strict* types: `"true"` is not a boolean nor `"5"` a number. (Model-wide
    # strict mode would also refuse JSON strings for enums once a before-validator ran.)
    model_config = ConfigDict(frozen=True, extra="forbid")


_SLUG = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# AWS tag keys: 1-128 letters, digits, spaces and _ . : / = + - @ ("aws:" keys are readable).
_TAG_KEY = re.compile(r"[\w\s.:/=+\-@]{1,128}")


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"{json.dumps(value)} must be 1-32 lowercase letters, digits, - or _, "
            "starting with a letter"
        )
    return value


def _tag_key(value: str) -> str:
    if not _TAG_KEY.fullmatch(value):
        raise ValueError(f"{json.dumps(value)} is not a valid tag key")
    return value


StageName = Annotated[str, AfterValidator(_slug)]
ChannelName = Annotated[str, AfterValidator(_slug)]
TagKey = Annotated[str, AfterValidator(_tag_key)]


class Rung(_Model):
    """One rung of the escalation ladder (a policy `escalation.stages` entry; not the pin's
    lifecycle stage, which is `rollforward.ledger.Stage`).

    `offset` is measured from first-seen; `channel` is the logical topic the notice goes to
    (defaults to the audience name: infra creates one topic per distinct channel);
    `requests_approval` marks the rung that asks on-call to approve a rollforward.
    """

    name: StageName
    offset: Duration
    audience: Audience
    channel: ChannelName
    requests_approval: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _channel_defaults_to_audience(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and "channel" not in data
            and isinstance(data.get("audience"), str)
        ):
            return {**data, "channel": data["audience"]}
        return data


def _stage(name: str, days: int, audience: Audience, approval: bool = False) -> Rung:
    return Rung(
        name=name,
        offset=timedelta(days=days),
        audience=audience,
        channel=audience.value,
        requests_approval=approval,
    )


DEFAULT_STAGES: tuple[Rung, ...] = (
    _stage("detected", 0, Audience.OWNER),
    _stage("reminder", 3, Audience.OWNER),
    _stage("team", 7, Audience.TEAM),
    _stage("approval", 14, Audience.ONCALL, approval=True),
)


class Escalation(_Model):
    """The ladder. `restart_from` names the rung a new round starts at after a rejection or
    an unanswered approval request (default: the approval rung itself); `max_rounds` caps how
    many times approval is requested (null: keep asking every `approval.approval_timeout`)."""

    stages: tuple[Rung, ...] = Field(default=DEFAULT_STAGES, min_length=1, max_length=20)
    restart_from: StageName | None = None
    max_rounds: Annotated[StrictInt, Field(ge=1)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _last_stage_requests_approval_by_default(cls, data: Any) -> Any:
        stages = data.get("stages") if isinstance(data, dict) else None
        if (
            isinstance(stages, list | tuple)
            and stages
            and all(isinstance(s, dict) and "requests_approval" not in s for s in stages)
        ):
            return {**data, "stages": (*stages[:-1], {**stages[-1], "requests_approval": True})}
        return data

    def index_of(self, name: str) -> int | None:
        return next((i for i, stage in enumerate(self.stages) if stage.name == name), None)

    @property
    def approval_stage(self) -> Rung:
        return self.stages[-1]

    @property
    def restart_index(self) -> int:
        index = self.index_of(self.restart_from) if self.restart_from else None
        return len(self.stages) - 1 if index is None else index


class ApprovalSettings(_Model):
    """Who may approve a rollforward or hold a pin, and how long requests and holds last.

    `allowed_approvers` are IAM ARN patterns compared segment by segment; `*` matches within
    one ARN segment and, in the resource part, within one path element: it never crosses `/`
    or `:` (`user/oncall-*` does not admit `user/oncall-x/mallory`). Stricter than IAM's
    `ArnLike` on purpose. Empty means any principal the approvals API's IAM authorization lets
    through (the API's resource policy / the callers' `execute-api:Invoke` grants decide).

    Snoozes and exemptions (holds) stop the ladder, so they need the same authority as an
    approval (allowed approvers, never the pinner, never root) and have upper bounds:
    `max_snooze` (default 30d) and `max_exemption` (default 90d, at most 300d so an exempt
    pin is asked about again well within an execution's one-year limit).

    `unknown_pinner` is what happens when nobody knows who pinned (the scan found the pin and
    no CloudTrail record named the caller): `"refuse"` (default) refuses approvals and holds,
    since separation of duties cannot be checked; `"allow"` accepts that risk.
    """

    approval_timeout: Duration = timedelta(hours=24)
    allowed_approvers: tuple[str, ...] = ()
    separation_of_duties: StrictBool = True
    reject_snooze: Duration = timedelta(days=3)
    max_snooze: Duration = timedelta(days=30)
    max_exemption: Duration = timedelta(days=90)
    unknown_pinner: Literal["refuse", "allow"] = "refuse"

    def approver_refusal(
        self, approver_arn: str, pinned_by: str | tuple[str, ...] | list[str] | None
    ) -> str | None:
        """Why `approver_arn` may not decide on a pin made by `pinned_by` (one principal, or
        every principal that pinned this episode); None if it may."""
        if is_root(approver_arn):
            return f"{approver_arn} is the account root, which may never approve or hold a pin"
        if self.allowed_approvers and not any(
            arn_like(pattern, approver_arn) for pattern in self.allowed_approvers
        ):
            return f"{approver_arn} matches none of approval.allowed_approvers"
        if not self.separation_of_duties:
            return None
        pinners = [pinned_by] if isinstance(pinned_by, str) else [p for p in (pinned_by or ()) if p]
        known = [p for p in pinners if is_principal(p)]
        if not known and self.unknown_pinner == "refuse":
            return (
                "separation of duties: who pinned this function is unknown (found by the scan, "
                "no CloudTrail record named the caller), so it cannot be checked; "
                'approval.unknown_pinner: "allow" accepts that risk'
            )
        for pinner in known:
            if same_person(approver_arn, pinner):
                return (
                    f"separation of duties: {approver_arn} may be the principal that pinned this "
                    f"function ({pinner}); someone else must decide"
                )
        return None

    def snooze_refusal(self, now: datetime, until: datetime) -> str | None:
        """Why a snooze from `now` to `until` is not allowed; None if it is."""
        return _hold_refusal("snooze", self.max_snooze, now, until)

    def exemption_refusal(self, now: datetime, until: datetime) -> str | None:
        """Why an exemption from `now` to `until` is not allowed; None if it is."""
        return _hold_refusal("exemption", self.max_exemption, now, until)


def _hold_refusal(kind: str, limit: timedelta, now: datetime, until: datetime) -> str | None:
    now, until = _utc(now, "now"), _utc(until, "until")
    if until <= now:
        return f"{kind} end {until.isoformat()} is not in the future"
    if until - now > limit:
        field = "max_snooze" if kind == "snooze" else "max_exemption"
        return (
            f"{kind} of {format_duration(until - now, max_units=2)} exceeds "
            f"approval.{field} ({format_duration(limit)})"
        )
    return None


MAX_EXEMPTION = timedelta(days=300)

_Probability = Annotated[StrictFloat, Field(gt=0.0, lt=0.5)]
_ErrorRate = Annotated[StrictFloat, Field(gt=0.0, lt=1.0)]


class CanarySettings(_Model):
    """Traffic steps and bake times. `min_invocations` is the traffic a bake needs before the
    judge may call it a pass; below it the bake is inconclusive and is extended up to
    `max_extensions` times, then handed to a human.

    The sequential judge (`rollforward.sequential_judge`, method and figures in docs/judge.md):
    - `guarded_ratio`, `guarded_error_rate` (10, 1 %): the regression a PASS rules out — an error
      rate at least 10x the baseline's AND at least 1 %.
    - `tolerated_ratio`, `tolerated_error_rate` (1, 0.1 %): healthy — no worse than the
      baseline, or below 0.1 % whatever the baseline. A FAIL rules this out.
    - `false_rollback` (1 %): P(rollback) of a healthy candidate over the whole canary.
    - `false_pass` (0.5 %): P(pass) of the guarded regression over the whole canary (half the
      1 % target: a regression exactly at the guard passes with probability just under it).
    - `max_duration` (2d): the longest unattended canary; the plan (`canary_plan`) says before
      approval when a function's traffic cannot decide within it. At most 14d: CloudWatch keeps
      1-minute datapoints for 15 days.
    - `look_interval` (5m): how often the state machine reads the new minutes and asks the judge.
    """

    steps: tuple[StrictFloat, ...] = Field(default=(0.05, 0.25, 0.5), min_length=1, max_length=10)
    bake: Duration = timedelta(minutes=10)
    post_promotion_bake: Duration = timedelta(minutes=15)
    max_extensions: Annotated[StrictInt, Field(ge=0, le=20)] = 2
    min_invocations: Annotated[StrictInt, Field(ge=1)] = 500
    guarded_ratio: Annotated[StrictFloat, Field(gt=1.0, le=1000.0)] = 10.0
    guarded_error_rate: _ErrorRate = 0.01
    tolerated_ratio: Annotated[StrictFloat, Field(ge=1.0, le=1000.0)] = 1.0
    tolerated_error_rate: _ErrorRate = 0.001
    false_rollback: _Probability = 0.01
    false_pass: _Probability = 0.005
    max_duration: Duration = timedelta(days=2)
    look_interval: Duration = timedelta(minutes=5)
    # Which judge decides the alias steps: "sequential" (looks every `look_interval`, PASS or
    # FAIL at any look, INCONCLUSIVE only at the plan's end) or "fixed_horizon" (one verdict per
    # `bake`, `min_invocations`, `max_extensions`). The default stays fixed_horizon this round.
    judge: Literal["sequential", "fixed_horizon"] = "fixed_horizon"

    @model_validator(mode="after")
    def _judge_consistent(self) -> Self:
        problems = []
        if self.tolerated_ratio >= self.guarded_ratio:
            problems.append(
                f"tolerated_ratio ({self.tolerated_ratio:g}) must be below guarded_ratio "
                f"({self.guarded_ratio:g})"
            )
        if self.tolerated_error_rate >= self.guarded_error_rate:
            problems.append(
                f"tolerated_error_rate ({self.tolerated_error_rate:g}) must be below "
                f"guarded_error_rate ({self.guarded_error_rate:g})"
            )
        if not timedelta(minutes=1) <= self.look_interval <= timedelta(hours=1):
            problems.append("look_interval must be between 1m and 1h")
        if not self.look_interval <= self.max_duration <= timedelta(days=14):
            problems.append(
                "max_duration must be at least look_interval and at most 14d "
                "(CloudWatch keeps 1-minute datapoints for 15 days)"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def sequential_policy(self) -> SequentialPolicy:
        """The judge's thresholds from these settings (guards keep the judge's defaults)."""
        return SequentialPolicy(
            guarded_ratio=self.guarded_ratio,
            guarded_error_rate=self.guarded_error_rate,
            tolerated_ratio=self.tolerated_ratio,
            tolerated_error_rate=self.tolerated_error_rate,
            false_rollback=self.false_rollback,
            false_pass=self.false_pass,
        )


class TagKeys(_Model):
    """Function tag keys rollforward reads. `owner` and `team` list keys in precedence order."""

    owner: tuple[TagKey, ...] = Field(default=("rollforward:owner", "owner"), min_length=1)
    team: tuple[TagKey, ...] = Field(default=("rollforward:team", "team"), min_length=1)
    fallback_contact: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    alarms: TagKey = "rollforward:alarms"
    test_events: TagKey = "rollforward:test-events"
    # Present (any value, the reason): rollforward never changes the function.
    opt_out: TagKey = "rollforward:opt-out"

    def opt_out_reason(self, tags: Mapping[str, str]) -> str | None:
        """Why the function opted out (the tag's value, or a placeholder when blank), or None."""
        if self.opt_out not in tags:
            return None
        return tags[self.opt_out].strip() or "(no reason given)"

    def owner_of(self, tags: Mapping[str, str]) -> str | None:
        """The owner named by the first present, non-blank owner tag, else `fallback_contact`."""
        return _first_tag(tags, self.owner) or self.fallback_contact

    def team_of(self, tags: Mapping[str, str]) -> str | None:
        return _first_tag(tags, self.team)


def _first_tag(tags: Mapping[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = tags.get(key, "").strip()
        if value:
            return value
    return None


class Policy(_Model):
    """The whole policy. Build with `from_json` or `default()`; serialize with `to_json()`."""

    version: Literal[1] = 1
    escalation: Escalation = Escalation()
    approval: ApprovalSettings = ApprovalSettings()
    canary: CanarySettings = CanarySettings()
    tags: TagKeys = TagKeys()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = _semantic_problems(self)
        if problems:
            raise PydanticCustomError(
                "policy_semantics", "{count} problems", {"problems": problems}
            )
        return self

    @classmethod
    def from_json(cls, source: str | bytes | Mapping[str, Any]) -> Policy:
        """Parse a policy document (JSON text, or the already-decoded dict from cdk.json).

        Raises PolicyError naming every problem by its path, e.g.
        `escalation.stages[2].offset: "3 days" is not a duration like "3d" or "P3D"`.
        """
        if isinstance(source, Mapping):
            try:
                text: str | bytes = json.dumps(source)
            except (TypeError, ValueError) as error:
                raise PolicyError([f"(document): not a JSON document: {error}"]) from None
        else:
            text = source
        try:
            return cls.model_validate_json(text)
        except ValidationError as error:
            raise PolicyError(_describe(error)) from None

    @classmethod
    def default(cls) -> Policy:
        return _default_policy()

    def to_json(self, *, indent: int | None = 2) -> str:
        """The full document, every default spelled out, durations in compact form."""
        return self.model_dump_json(indent=indent)

    def stage(self, name: str) -> Rung:
        index = self.escalation.index_of(name)
        if index is None:
            raise KeyError(f"no escalation stage named {name!r}")
        return self.escalation.stages[index]

    def channels(self) -> frozenset[str]:
        """Logical notification channels the ladder uses (infra makes a topic for each)."""
        return frozenset(stage.channel for stage in self.escalation.stages)


@cache
def _default_policy() -> Policy:
    return Policy()


# --------------------------------------------------------------------------- validation


def _semantic_problems(policy: Policy) -> list[str]:
    """Checks across fields, each reported with the full path of the offending value."""
    problems: list[str] = []
    stages = policy.escalation.stages
    seen: set[str] = set()
    for i, stage in enumerate(stages):
        path = f"escalation.stages[{i}]"
        if stage.name in seen:
            problems.append(f"{path}.name: {stage.name!r} is used by an earlier stage")
        seen.add(stage.name)
        if stage.offset < timedelta(0):
            problems.append(f"{path}.offset: must not be negative")
        if i and stage.offset <= stages[i - 1].offset:
            problems.append(
                f"{path}.offset: {format_duration(stage.offset)} must be later than "
                f"escalation.stages[{i - 1}].offset ({format_duration(stages[i - 1].offset)})"
            )
    approvals = [i for i, stage in enumerate(stages) if stage.requests_approval]
    if approvals != [len(stages) - 1]:
        where = ", ".join(f"stages[{i}]" for i in approvals) or "none"
        problems.append(
            "escalation.stages: exactly one stage, the last, must have requests_approval: true "
            f"(found: {where})"
        )
    restart = policy.escalation.restart_from
    if restart is not None and restart not in seen:
        problems.append(
            f"escalation.restart_from: {restart!r} is not a stage name "
            f"(stages: {', '.join(s.name for s in stages)})"
        )

    approval = policy.approval
    for name in ("approval_timeout", "reject_snooze", "max_snooze", "max_exemption"):
        if getattr(approval, name) <= timedelta(0):
            problems.append(f"approval.{name}: must be longer than zero")
    if approval.approval_timeout > timedelta(days=365):
        problems.append("approval.approval_timeout: at most 365d (a Step Functions task limit)")
    if approval.reject_snooze > approval.max_snooze:
        problems.append(
            f"approval.reject_snooze: {format_duration(approval.reject_snooze)} exceeds "
            f"approval.max_snooze ({format_duration(approval.max_snooze)})"
        )
    if approval.max_exemption > MAX_EXEMPTION:
        problems.append(
            f"approval.max_exemption: at most {format_duration(MAX_EXEMPTION)} (an exempt pin "
            "must be asked about again within its execution's one-year limit)"
        )
    for i, pattern in enumerate(approval.allowed_approvers):
        problem = _arn_pattern_problem(pattern)
        if problem:
            problems.append(f"approval.allowed_approvers[{i}]: {json.dumps(pattern)} {problem}")

    canary = policy.canary
    for i, weight in enumerate(canary.steps):
        if not 0.0 < weight < 1.0:
            problems.append(f"canary.steps[{i}]: {weight} must be between 0 and 1 (exclusive)")
        elif i and weight <= canary.steps[i - 1]:
            problems.append(
                f"canary.steps[{i}]: {weight} must be larger than canary.steps[{i - 1}] "
                f"({canary.steps[i - 1]})"
            )
    for name in ("bake", "post_promotion_bake"):
        if getattr(canary, name) <= timedelta(0):
            problems.append(f"canary.{name}: must be longer than zero")
    return problems


def _describe(error: ValidationError) -> list[str]:
    problems: list[str] = []
    errors = error.errors(include_url=False)
    failed = [item["loc"] for item in errors]
    for item in errors:
        loc = item["loc"]
        if item["type"] == "too_short" and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other in failed
        ):
            continue  # "at least 1 item" only because its items failed: noise
        if item["type"] == "policy_semantics":
            problems.extend(item.get("ctx", {}).get("problems", []))
            continue
        path = _path(loc)
        if item["type"] == "extra_forbidden":
            key = str(loc[-1])
            allowed = _allowed_keys(loc[:-1])
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f'; did you mean "{close[0]}"?' if close else f" (allowed: {', '.join(allowed)})"
            problems.append(f"{path}: unknown key{hint}")
        elif item["type"] == "json_invalid":
            problems.append(f"(document): not valid JSON: {item.get('ctx', {}).get('error', '')}")
        else:
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] not in ("value_error", "missing") and "input" in item:
                message += f", got {_short(item['input'])}"
            problems.append(f"{path}: {message}")
    return problems


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the model at `loc`, to suggest the intended key for a typo."""
    model: Any = Policy
    for part in loc:
        if isinstance(part, int):
            continue  # an index into a tuple of models: the model stays the same
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = field.annotation
        while get_args(model):  # tuple[Rung, ...] -> Rung
            model = get_args(model)[0]
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _short(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- principals


def _arn_pattern_problem(pattern: str) -> str | None:
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


# --------------------------------------------------------------------------- the ladder


def stage_key(name: str, round: int) -> str:
    """The key a sent notice is recorded under: `"team"` in round 0, `"approval#2"` later."""
    if round < 0:
        raise ValueError("round must not be negative")
    return name if round == 0 else f"{name}#{round}"


def parse_stage_key(key: str) -> tuple[str, int]:
    name, sep, round_text = key.partition("#")
    if not sep:
        return name, 0
    if not round_text.isdigit() or int(round_text) < 1:
        raise ValueError(f"not a stage key: {key!r}")
    return name, int(round_text)


@dataclass(frozen=True, slots=True)
class StagePlan:
    """The next notice to send: which rung (and its position), in which round, due when
    (an absolute UTC time)."""

    stage: Rung
    index: int
    round: int
    due: datetime

    @property
    def key(self) -> str:
        """Record the sent notice under this key in `notices_sent`."""
        return stage_key(self.stage.name, self.round)

    def dedup_key(self, pin: PinKey) -> str:
        """`<function-arn>#<qualifier>#<stage>[#round]`: SNS/PagerDuty idempotency key."""
        return f"{pin.id}#{self.key}"

    def is_due(self, now: datetime) -> bool:
        return self.due <= _utc(now, "now")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for Step Functions state (`due` is ISO-8601 with `Z`, for Wait)."""
        return {
            "stage": self.stage.name,
            "index": self.index,
            "round": self.round,
            "key": self.key,
            "due": self.due.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "audience": self.stage.audience.value,
            "channel": self.stage.channel,
            "requests_approval": self.stage.requests_approval,
        }

    @classmethod
    def from_dict(cls, policy: Policy, data: Mapping[str, Any]) -> StagePlan:
        """Rebuild a plan from `to_dict` output; the stage must still exist in `policy`."""
        due = datetime.fromisoformat(str(data["due"]))
        name = str(data["stage"])
        index = policy.escalation.index_of(name)
        if index is None:
            raise KeyError(f"no escalation stage named {name!r}")
        return cls(policy.escalation.stages[index], index, int(data["round"]), _utc(due, "due"))


def next_stage(
    policy: Policy,
    first_seen: datetime,
    notices_sent: Mapping[str, datetime],
    now: datetime,
    snoozed_until: datetime | None = None,
    exempt_until: datetime | None = None,
) -> StagePlan | None:
    """The next rung to notify and when, or None when `escalation.max_rounds` is used up.

    Round 0 climbs every rung. Rung i is due at the latest of:
      * `first_seen + offset_i`;
      * the time rung i-1 was actually sent plus the offset gap between the two rungs, so a
        snooze or an outage delays the rest of the ladder instead of releasing every
        overdue rung at once (the owner always gets the gap to react before it escalates);
      * the snooze end and the exemption end, if any.
    A round ends when its approval rung has been sent. The next round (a rejection, or an
    approval request nobody answered within `approval.approval_timeout`) starts at
    `escalation.restart_from` (default: the approval rung), due no earlier than the previous
    approval request plus `approval_timeout`, and the snooze/exemption ends — so after a
    rejection snoozes the pin, the request comes back when the snooze ends. Later rungs of
    that round keep their offset gaps. Rounds ≥ 1 have their own keys (`approval#1`), hence
    their own SNS/PagerDuty dedup keys; each (rung, round) is returned until it is recorded
    in `notices_sent` and never again after. The ladder only climbs: a rung that precedes an
    already-sent rung in the same round (say, added to the policy later) is skipped. Keys in
    `notices_sent` that name no current rung are ignored.

    `now` bounds recorded send times (a writer's clock running ahead cannot push the ladder
    into the future); the plan is otherwise a pure function of the recorded history. The
    caller sends when `plan.is_due(now)`, else waits until `plan.due`.
    All datetimes must be timezone-aware (naive → ValueError); results are UTC.
    """
    first_seen = _utc(first_seen, "first_seen")
    now = _utc(now, "now")
    floor = max(
        [first_seen]
        + [
            _utc(t, name)
            for t, name in ((snoozed_until, "snoozed_until"), (exempt_until, "exempt_until"))
            if t
        ]
    )
    escalation = policy.escalation
    stages = escalation.stages
    restart = escalation.restart_index

    sent: dict[tuple[int, int], datetime] = {}
    for key, at in notices_sent.items():
        at = min(_utc(at, f"notices_sent[{key!r}]"), now)
        try:
            name, round_ = parse_stage_key(key)
        except ValueError:
            continue
        index = escalation.index_of(name)
        if index is None or (round_ > 0 and index < restart):
            continue
        sent[(round_, index)] = at

    if not sent:
        return StagePlan(stages[0], 0, 0, max(first_seen + stages[0].offset, floor))

    round_ = max(r for r, _ in sent)
    last = max(i for r, i in sent if r == round_)
    last_at = sent[(round_, last)]
    if last + 1 < len(stages):
        following = stages[last + 1]
        due = max(last_at + (following.offset - stages[last].offset), floor)
        if round_ == 0:
            due = max(due, first_seen + following.offset)
        return StagePlan(following, last + 1, round_, due)
    if escalation.max_rounds is not None and round_ + 1 >= escalation.max_rounds:
        return None
    due = max(last_at + policy.approval.approval_timeout, floor)
    return StagePlan(stages[restart], restart, round_ + 1, due)


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)
