"""The policy document's model: the ladder's rungs, approval rules, canary settings, tag keys.

Every field has a default and unknown keys are errors (see the package docstring). Checks across
fields are `_semantic_problems`, reported with the full path of the offending value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from rollforward.approvals.principals import (
    arn_like,
    arn_pattern_problem,
    is_principal,
    is_root,
    same_person,
)
from rollforward.canary.sequential_judge import SequentialPolicy
from rollforward.policy.durations import Duration, _utc, format_duration
from rollforward.policy.errors import PolicyError, _describe


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
        self,
        approver_arn: str,
        pinned_by: str | tuple[str, ...] | list[str] | None,
        *,
        pinned: bool = True,
    ) -> str | None:
        """Why `approver_arn` may not decide on a pin made by `pinned_by` (one principal, or
        every principal that pinned this episode); None if it may. `pinned=False`: nobody
        pinned (a FunctionUpdate function left behind), so an unknown pinner is no refusal."""
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
        if not known and pinned and self.unknown_pinner == "refuse":
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
    """Traffic steps and bake times. With the fixed-horizon judge (`judge: fixed`),
    `min_invocations` is the traffic a bake needs before the judge may call it a pass; below it
    the bake is inconclusive and is extended up to `max_extensions` times, then handed to a
    human. The sequential judge (the default) uses neither: it needs its own minimum
    information, and its plan's end is the only inconclusive look.

    The sequential judge (`rollforward.canary.sequential_judge`, method and figures in docs/judge.md):
    - `guarded_ratio`, `guarded_error_rate` (10, 1 %): the regression a PASS rules out — an error
      rate at least 10x the baseline's AND at least 1 %.
    - `tolerated_ratio`, `tolerated_error_rate` (1, 0.1 %): healthy — no worse than the
      baseline, or below 0.1 % whatever the baseline. A FAIL rules this out.
    - `false_rollback` (1 %): P(rollback) of a healthy candidate over the whole canary.
    - `false_pass` (0.5 %): P(pass) of the guarded regression over the whole canary (half the
      1 % target: a regression exactly at the guard passes with probability just under it).
    - `max_duration` (2d): the longest unattended canary; the plan (`canary.plan`) says before
      approval when a function's traffic cannot decide within it. At most 14d: CloudWatch keeps
      1-minute datapoints for 15 days.
    - `look_interval` (5m): how often the state machine reads the new minutes and asks the judge.
    """

    steps: tuple[StrictFloat, ...] = Field(default=(0.05, 0.25, 0.5), min_length=1, max_length=10)
    bake: Duration = timedelta(minutes=10)
    post_promotion_bake: Duration = timedelta(minutes=15)
    # A Rollback that fails (after its own retries) is tried again, for ever, after a wait
    # that starts at `rollback_backoff` and doubles up to `rollback_backoff_max`; from the
    # `rollback_alarm_after`-th failure on, the RollbackStuck metric (and its alarm) and a
    # notice to on-call (repeated every `rollback_alarm_after` failures) ask a human to look.
    rollback_backoff: Duration = timedelta(minutes=1)
    rollback_backoff_max: Duration = timedelta(hours=1)
    rollback_alarm_after: Annotated[StrictInt, Field(ge=1, le=100)] = 5
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
    # Which judge decides the alias steps: "sequential" (the default: looks every
    # `look_interval`, PASS or FAIL at any look, INCONCLUSIVE only at the plan's end) or "fixed"
    # (one verdict per `bake`, `min_invocations`, `max_extensions`; "fixed_horizon", its older
    # spelling, still reads as "fixed").
    judge: Literal["sequential", "fixed"] = "sequential"

    @field_validator("judge", mode="before")
    @classmethod
    def _judge_spelling(cls, value: object) -> object:
        return "fixed" if value == "fixed_horizon" else value

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
        if not timedelta(seconds=1) <= self.rollback_backoff <= self.rollback_backoff_max:
            problems.append("rollback_backoff must be at least 1s and at most rollback_backoff_max")
        if self.rollback_backoff_max > timedelta(days=1):
            problems.append("rollback_backoff_max must be at most 1d")
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


DEFAULT_FUNCTION_UPDATE_STAGES: tuple[Rung, ...] = (
    _stage("detected", 0, Audience.OWNER),
    _stage("team", 7, Audience.TEAM),
    _stage("approval", 14, Audience.ONCALL, approval=True),
)


class PostureSettings(_Model):
    """The rows of the shared-responsibility table beyond Manual (`rollforward.posture`).

    - `function_update_max_age` (30d): a FunctionUpdate function behind the newest runtime
      version seen and not updated for this long is unmet; its `$LATEST` gets a ledger item of
      kind `function_update` and climbs `function_update_escalation`.
    - `image_max_age` (90d): an image function whose image (ECR `imagePushedAt` of the digest
      it runs, else `LastModified`) is older is unmet; its owner is told (no automated change).
    - `function_update_escalation`: that ladder (default: owner at day 0, team at day 7, on-call
      asked at day 14 to approve a switch to Auto behind the canary). Same rules as
      `escalation`: offsets rise, exactly the last rung requests approval.
    """

    function_update_max_age: Duration = timedelta(days=30)
    image_max_age: Duration = timedelta(days=90)
    function_update_escalation: Escalation = Escalation(stages=DEFAULT_FUNCTION_UPDATE_STAGES)


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
    posture: PostureSettings = PostureSettings()

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
            raise PolicyError(_describe(error, cls)) from None

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
        """Logical notification channels the ladders use (infra makes a topic for each)."""
        return frozenset(
            stage.channel
            for stage in (*self.escalation.stages, *self.posture.function_update_escalation.stages)
        )

    def for_kind(self, kind: str) -> Policy:
        """The policy a ledger item of `kind` climbs (`rollforward.ledger.PinKind`): a
        FunctionUpdate item its own ladder (`posture.function_update_escalation`), a Manual pin
        (and any unknown kind) `escalation`. Everything else is shared."""
        if kind != FUNCTION_UPDATE_KIND:
            return self
        return _for_function_update(self)


@cache
def _default_policy() -> Policy:
    return Policy()


FUNCTION_UPDATE_KIND = "function_update"  # rollforward.ledger.PinKind.FUNCTION_UPDATE


@cache
def _for_function_update(policy: Policy) -> Policy:
    # Already validated as part of `policy`: a copy with the other ladder needs no re-check.
    return policy.model_copy(update={"escalation": policy.posture.function_update_escalation})


def _semantic_problems(policy: Policy) -> list[str]:
    """Checks across fields, each reported with the full path of the offending value."""
    problems = _ladder_problems(policy.escalation, "escalation")
    problems += _ladder_problems(
        policy.posture.function_update_escalation, "posture.function_update_escalation"
    )
    for name in ("function_update_max_age", "image_max_age"):
        if getattr(policy.posture, name) <= timedelta(0):
            problems.append(f"posture.{name}: must be longer than zero")

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
        problem = arn_pattern_problem(pattern)
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


def _ladder_problems(escalation: Escalation, prefix: str) -> list[str]:
    """A ladder's rules (`escalation` and `posture.function_update_escalation`)."""
    problems: list[str] = []
    stages = escalation.stages
    seen: set[str] = set()
    for i, stage in enumerate(stages):
        path = f"{prefix}.stages[{i}]"
        if stage.name in seen:
            problems.append(f"{path}.name: {stage.name!r} is used by an earlier stage")
        seen.add(stage.name)
        if stage.offset < timedelta(0):
            problems.append(f"{path}.offset: must not be negative")
        if i and stage.offset <= stages[i - 1].offset:
            problems.append(
                f"{path}.offset: {format_duration(stage.offset)} must be later than "
                f"{prefix}.stages[{i - 1}].offset ({format_duration(stages[i - 1].offset)})"
            )
    approvals = [i for i, stage in enumerate(stages) if stage.requests_approval]
    if approvals != [len(stages) - 1]:
        where = ", ".join(f"stages[{i}]" for i in approvals) or "none"
        problems.append(
            f"{prefix}.stages: exactly one stage, the last, must have requests_approval: true "
            f"(found: {where})"
        )
    restart = escalation.restart_from
    if restart is not None and restart not in seen:
        problems.append(
            f"{prefix}.restart_from: {restart!r} is not a stage name "
            f"(stages: {', '.join(s.name for s in stages)})"
        )
    return problems
