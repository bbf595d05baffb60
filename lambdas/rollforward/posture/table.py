"""The shared-responsibility table: which row each function version is in, and whether the
customer's responsibility in that row is met.

AWS's shared-responsibility model for Lambda runtime management has four rows:

- **Auto**: AWS updates the runtime (two-phase rollout). Nothing for the customer to do.
- **FunctionUpdate**: Lambda applies the newest runtime version only when the function is
  updated, so the customer must update it regularly (or switch it to Auto). Unmet when the
  version runs a runtime version behind the newest seen for its runtime and architecture *and*
  has not been updated for `function_update_max_age`.
- **Manual**: the customer chose a runtime version; AWS says to do this only temporarily, to roll
  back from an incompatible update. Always unmet: the pin is what rollforward tracks (the ledger
  says since when; without a ledger item, since the version was last modified).
- **Container image**: the customer builds the runtime into the image and must rebuild from the
  latest base image and redeploy. Unmet when the image is older than `image_max_age` — its age
  is the ECR `imagePushedAt` of the digest the function resolved, else the function's
  `LastModified` (an image outside ECR, or one deleted since).

Pure domain code in the style of `rollforward.canary.judge`: no AWS calls, no I/O, no clock. Adapters
read Lambda, ECR, CloudFormation and the ledger into `FunctionFacts`; `assess` decides; the
report, the gauges and the notices render `Assessment`s. Reasons are sentences an owner or an
auditor can act on.

"Newest seen" (no AWS API lists runtime versions): phase 1 gives every Auto or FunctionUpdate
function that is created or updated the newest runtime version of its runtime, region and
architecture, so the version run by the most recently modified such function is the newest
this fleet has seen (`newest_seen`). A caller that knows better (INIT_START lines, another
account) passes its own mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from rollforward.model import UpdateMode
from rollforward.policy.models import PostureSettings
from rollforward.posture.templates import TemplatePin


class Row(StrEnum):
    """A row of the shared-responsibility table."""

    AUTO = "auto"
    FUNCTION_UPDATE = "function_update"
    MANUAL = "manual"
    CONTAINER_IMAGE = "container_image"


ROWS: tuple[Row, ...] = tuple(Row)


class Status(StrEnum):
    """Whether the customer's responsibility in the row is met for this version."""

    MET = "met"
    DUE = "due"  # behind, but still within the policy's grace period
    UNMET = "unmet"
    UNKNOWN = "unknown"  # facts missing (no mode read, no newest version seen)


RESPONSIBILITY: Mapping[Row, str] = {
    Row.AUTO: "AWS updates the runtime (two-phase rollout); nothing to do",
    Row.FUNCTION_UPDATE: "update the function regularly so Lambda applies the newest runtime "
    "version, or switch it to Auto",
    Row.MANUAL: "pin only temporarily: roll forward to Auto once the runtime update is fixed",
    Row.CONTAINER_IMAGE: "rebuild the image from the latest base image and redeploy",
}


@dataclass(frozen=True, slots=True)
class PosturePolicy:
    """How old is too old, per row."""

    function_update_max_age: timedelta = timedelta(days=30)
    image_max_age: timedelta = timedelta(days=90)

    @classmethod
    def of(cls, settings: PostureSettings) -> PosturePolicy:
        """The thresholds of the policy in force (`Policy.posture`; defaults 30d and 90d)."""
        return cls(settings.function_update_max_age, settings.image_max_age)

    def __post_init__(self) -> None:
        for name in ("function_update_max_age", "image_max_age"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True, slots=True)
class PinFacts:
    """What the ledger knows about a Manual pin of this version."""

    first_seen: datetime
    stage: str
    pinned_by: str = ""
    pin_id: str = ""


@dataclass(frozen=True, slots=True)
class FunctionFacts:
    """One function version as read from Lambda (and ECR, and the ledger)."""

    function_arn: str  # unqualified
    qualifier: str  # "$LATEST" or the published version an alias routes to
    package_type: str  # "Zip" | "Image"
    last_modified: datetime
    runtime: str = ""
    architecture: str = "x86_64"
    region: str = ""
    update_runtime_on: UpdateMode | None = None  # None: not read (image, or the read failed)
    runtime_version_arn: str = ""  # in use (RuntimeVersionConfig)
    aliases: tuple[str, ...] = ()  # the aliases that route to this version
    owner: str = ""
    team: str = ""
    image_uri: str = ""
    resolved_image_uri: str = ""
    image_pushed_at: datetime | None = None  # ECR imagePushedAt of the resolved digest
    stack_name: str = ""  # aws:cloudformation:stack-name
    logical_id: str = ""  # aws:cloudformation:logical-id
    pin: PinFacts | None = None

    @property
    def function_name(self) -> str:
        return self.function_arn.rsplit(":", 1)[-1]

    @property
    def runtime_key(self) -> tuple[str, str, str]:
        return (self.runtime, self.region, self.architecture)


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict for one function version: its row, whether its responsibility is met, and
    since when it has not been (`since`: the moment it became unmet or due)."""

    function_arn: str
    qualifier: str
    row: Row
    status: Status
    reason: str
    since: datetime | None = None
    action: str = ""
    owner: str = ""
    team: str = ""
    stack_name: str = ""
    template_pin: TemplatePin | None = None
    evidence: Mapping[str, str] = field(default_factory=dict)

    @property
    def function_name(self) -> str:
        return self.function_arn.rsplit(":", 1)[-1]

    @property
    def responsibility(self) -> str:
        return RESPONSIBILITY[self.row]

    def unmet_for(self, now: datetime) -> timedelta | None:
        """How long the responsibility has been unmet (None unless UNMET)."""
        if self.status is not Status.UNMET or self.since is None:
            return None
        return max(timedelta(0), now - self.since)


def _verdict(
    facts: FunctionFacts,
    template_pin: TemplatePin | None,
    row: Row,
    status: Status,
    reason: str,
    *,
    since: datetime | None = None,
    action: str = "",
    evidence: Mapping[str, str] | None = None,
) -> Assessment:
    return Assessment(
        function_arn=facts.function_arn,
        qualifier=facts.qualifier,
        row=row,
        status=status,
        reason=reason,
        since=since,
        action=action,
        owner=facts.owner,
        team=facts.team,
        stack_name=facts.stack_name,
        template_pin=template_pin,
        evidence=dict(evidence or {}),
    )


def row_of(facts: FunctionFacts) -> Row | None:
    """The table row: image functions by package type, the others by their update mode."""
    if facts.package_type == "Image":
        return Row.CONTAINER_IMAGE
    return {
        UpdateMode.AUTO: Row.AUTO,
        UpdateMode.FUNCTION_UPDATE: Row.FUNCTION_UPDATE,
        UpdateMode.MANUAL: Row.MANUAL,
        None: None,
    }[facts.update_runtime_on]


def newest_seen(fleet: Iterable[FunctionFacts]) -> dict[tuple[str, str, str], str]:
    """(runtime, region, architecture) → the runtime version ARN of the most recently modified
    Auto or FunctionUpdate version (phase 1 gave it the newest at that moment)."""
    latest: dict[tuple[str, str, str], tuple[datetime, str]] = {}
    for facts in fleet:
        if facts.update_runtime_on not in (UpdateMode.AUTO, UpdateMode.FUNCTION_UPDATE):
            continue
        if not facts.runtime_version_arn or facts.package_type == "Image":
            continue
        seen = latest.get(facts.runtime_key)
        if seen is None or facts.last_modified > seen[0]:
            latest[facts.runtime_key] = (facts.last_modified, facts.runtime_version_arn)
    return {key: arn for key, (_, arn) in latest.items()}


def assess(
    facts: FunctionFacts,
    *,
    newest: Mapping[tuple[str, str, str], str],
    policy: PosturePolicy,
    now: datetime,
    template_pin: TemplatePin | None = None,
) -> Assessment:
    """Decide one version's row and status."""
    row = row_of(facts)
    if row is None:
        return _verdict(
            facts,
            template_pin,
            row=Row.AUTO,  # the mode could not be read: reported, never counted as met
            status=Status.UNKNOWN,
            reason="the runtime update mode could not be read",
        )
    if row is Row.CONTAINER_IMAGE:
        return _assess_image(facts, policy, now, template_pin)
    if row is Row.MANUAL:
        return _assess_manual(facts, template_pin)
    if row is Row.FUNCTION_UPDATE:
        return _assess_function_update(facts, newest, policy, now, template_pin)
    behind = newest.get(facts.runtime_key)
    note = (
        "; AWS's rollout has not reached it yet"
        if behind and facts.runtime_version_arn and behind != facts.runtime_version_arn
        else ""
    )
    return _verdict(
        facts,
        template_pin,
        row=row,
        status=Status.MET,
        reason=f"Auto: AWS keeps the runtime current{note}",
        evidence={"runtime_version_arn": facts.runtime_version_arn},
    )


def _assess_image(
    facts: FunctionFacts, policy: PosturePolicy, now: datetime, template_pin: TemplatePin | None
) -> Assessment:
    if facts.image_pushed_at is not None:
        built, source = facts.image_pushed_at, "ECR imagePushedAt of the resolved digest"
    else:
        built, source = facts.last_modified, "the function's LastModified (image not found in ECR)"
    age = now - built
    image = facts.resolved_image_uri or facts.image_uri
    evidence = {"image": image, "image_age_source": source, "built": built.isoformat()}
    action = (
        f"rebuild {facts.image_uri or image} from the latest base image, push it, and redeploy "
        f"{facts.function_name} with the new image"
    )
    if age > policy.image_max_age:
        return _verdict(
            facts,
            template_pin,
            Row.CONTAINER_IMAGE,
            Status.UNMET,
            f"image is {age.days} days old (policy: {policy.image_max_age.days} days)",
            since=built + policy.image_max_age,
            action=action,
            evidence=evidence,
        )
    return _verdict(
        facts,
        template_pin,
        row=Row.CONTAINER_IMAGE,
        status=Status.MET,
        reason=f"image is {age.days} days old (policy: {policy.image_max_age.days} days)",
        evidence=evidence,
    )


def _assess_manual(facts: FunctionFacts, template_pin: TemplatePin | None) -> Assessment:
    evidence = {"runtime_version_arn": facts.runtime_version_arn}
    if facts.pin is not None:
        evidence.update(pin_id=facts.pin.pin_id, stage=facts.pin.stage)
        reason = f"pinned to Manual; tracked by rollforward (stage {facts.pin.stage})"
        since = facts.pin.first_seen
    else:
        reason = "pinned to Manual; not tracked yet (the next scan opens its ledger item)"
        since = facts.last_modified
    return _verdict(
        facts,
        template_pin,
        row=Row.MANUAL,
        status=Status.UNMET,
        reason=reason,
        since=since,
        action="approve the roll-forward canary when rollforward asks, or fix the function "
        "and switch it to Auto",
        evidence=evidence,
    )


def _assess_function_update(
    facts: FunctionFacts,
    newest: Mapping[tuple[str, str, str], str],
    policy: PosturePolicy,
    now: datetime,
    template_pin: TemplatePin | None,
) -> Assessment:
    target = newest.get(facts.runtime_key, "")
    evidence = {"runtime_version_arn": facts.runtime_version_arn, "newest_seen": target}
    if not target or not facts.runtime_version_arn:
        return _verdict(
            facts,
            template_pin,
            Row.FUNCTION_UPDATE,
            Status.UNKNOWN,
            f"no newest runtime version seen for {facts.runtime} "
            f"({facts.architecture}, {facts.region})",
            evidence=evidence,
        )
    idle = now - facts.last_modified
    if target == facts.runtime_version_arn:
        return _verdict(
            facts,
            template_pin,
            Row.FUNCTION_UPDATE,
            Status.MET,
            f"runs the newest {facts.runtime} runtime version seen",
            evidence=evidence,
        )
    deadline = facts.last_modified + policy.function_update_max_age
    action = (
        f"deploy {facts.function_name} (any code or configuration update applies the newest "
        "runtime version), or approve rollforward's switch to Auto behind a canary"
    )
    status = Status.UNMET if idle > policy.function_update_max_age else Status.DUE
    return _verdict(
        facts,
        template_pin,
        row=Row.FUNCTION_UPDATE,
        status=status,
        reason=f"behind the newest {facts.runtime} runtime version; not updated for "
        f"{idle.days} days (policy: {policy.function_update_max_age.days} days)",
        since=deadline if status is Status.UNMET else None,
        action=action,
        evidence=evidence,
    )


def assess_fleet(
    fleet: Iterable[FunctionFacts],
    *,
    policy: PosturePolicy,
    now: datetime,
    template_pins: Mapping[tuple[str, str], TemplatePin] | None = None,
    newest: Mapping[tuple[str, str, str], str] | None = None,
) -> list[Assessment]:
    """Every version's assessment, ordered by function then qualifier. `template_pins` maps
    (stack name, logical id) to the pin that stack's template sets."""
    versions = list(fleet)
    known = newest if newest is not None else newest_seen(versions)
    pins = template_pins or {}
    assessments = [
        assess(
            facts,
            newest=known,
            policy=policy,
            now=now,
            template_pin=pins.get((facts.stack_name, facts.logical_id)),
        )
        for facts in versions
    ]
    return sorted(assessments, key=lambda a: (a.function_name, _qualifier_order(a.qualifier)))


def _qualifier_order(qualifier: str) -> int:
    return int(qualifier) if qualifier.isdigit() else -1


@dataclass(frozen=True, slots=True)
class RowCount:
    row: Row
    functions: int
    unmet: int
    due: int
    oldest_unmet: timedelta | None


def summarize(assessments: Iterable[Assessment], now: datetime) -> list[RowCount]:
    """Per row: how many versions, how many unmet or due, the longest unmet (the gauges)."""
    listed = list(assessments)
    counts = []
    for row in ROWS:
        in_row = [a for a in listed if a.row is row and a.status is not Status.UNKNOWN]
        ages = [age for a in in_row if (age := a.unmet_for(now)) is not None]
        counts.append(
            RowCount(
                row=row,
                functions=len(in_row),
                unmet=sum(1 for a in in_row if a.status is Status.UNMET),
                due=sum(1 for a in in_row if a.status is Status.DUE),
                oldest_unmet=max(ages) if ages else None,
            )
        )
    return counts
