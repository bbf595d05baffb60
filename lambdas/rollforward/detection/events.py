"""Parse the EventBridge event CloudTrail emits for a Lambda `PutRuntimeManagementConfig` call.

The envelope is validated with `EventBridgeEnvelope`, the fields of Powertools Parser's
`EventBridgeModel` (kept here because importing Powertools imports botocore, and this module is
core); the CloudTrail `detail` with a small model of our own; and
`requestParameters` by hand, because its shape is inferred from the API, not documented.

What the event says is a hint, not the truth: the handler re-reads the live runtime
management config. So an unknown or missing `updateRuntimeOn` or `runtimeVersionArn` yields
None rather than an error, while anything that stops us naming the function — or an event
that is not this API call at all — raises `MalformedEvent` with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from rollforward.model import LATEST, QUALIFIER, PinKey, UpdateMode, is_runtime_version_arn

SOURCE = "aws.lambda"
DETAIL_TYPE = "AWS API Call via CloudTrail"
EVENT_SOURCE = "lambda.amazonaws.com"
EVENT_NAME_PREFIX = "PutRuntimeManagementConfig"

_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A full ARN, a partial ARN (`123456789012:function:name`) or a bare name, each optionally
# followed by `:qualifier` — the forms the Lambda API accepts for FunctionName.
_FUNCTION_REF = re.compile(
    r"(?:arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?=\d{12}:function:))?"
    r"(?:(?P<account>\d{12}):function:)?"
    r"(?P<name>[A-Za-z0-9_-]{1,64})"
    r"(?::(?P<qualifier>[^:]+))?"
)
# Keys of userIdentity we keep (accessKeyId and credentials-adjacent fields are dropped).
_ACTOR_KEYS = ("type", "arn", "principalId", "accountId", "userName", "invokedBy")


class MalformedEvent(ValueError):
    """The event is not a usable PutRuntimeManagementConfig record; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FailedCallEvent(MalformedEvent):
    """A well-formed record of a call AWS refused (`errorCode` set): nothing changed.

    A subclass of MalformedEvent so "anything but a pin change" is one except clause; catch
    this one first to log it quietly instead of alerting.
    """

    def __init__(self, error_code: str, error_message: str | None) -> None:
        super().__init__(f"the call failed with {error_code}: nothing changed")
        self.error_code = error_code
        self.error_message = error_message


class CloudTrailDetail(BaseModel):
    """The parts of a CloudTrail `AWS API Call` record we read, in its camelCase names."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    eventSource: StrictStr
    eventName: StrictStr
    eventID: StrictStr
    eventTime: StrictStr  # parsed by hand: pydantic would read 5 as 1970
    userIdentity: dict[str, Any]
    requestParameters: dict[str, Any] | None = None
    # Where the call was made, as CloudTrail recorded it: must agree with the envelope.
    recipientAccountId: StrictStr | None = None
    awsRegion: StrictStr | None = None
    errorCode: StrictStr | None = None
    errorMessage: StrictStr | None = None
    sourceIPAddress: StrictStr | None = None
    userAgent: StrictStr | None = None


class EventBridgeEnvelope(BaseModel):
    """An EventBridge event's envelope: Powertools' `EventBridgeModel` field for field."""

    model_config = ConfigDict(populate_by_name=True)

    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: Any  # a dict on the wire; subclasses give it a model
    replay_name: str | None = Field(None, alias="replay-name")


class RuntimeConfigApiCallEvent(EventBridgeEnvelope):
    """EventBridge envelope with a CloudTrail detail; usable with Powertools `event_parser`."""

    detail: CloudTrailDetail


@dataclass(frozen=True, slots=True)
class RuntimeConfigChange:
    """One successful PutRuntimeManagementConfig call, normalised.

    `function_arn` is unqualified; `qualifier` is `$LATEST` or a version number. `mode` and
    `runtime_version_arn` are None when the record lacks them or they are not recognisable.
    `actor_arn` is the caller's IAM ARN (the role ARN when CloudTrail has no session ARN, or
    the invoking service's name for AWS service calls); `actor` is the trimmed userIdentity.
    """

    event_id: str
    event_time: datetime
    account: str
    region: str
    function_arn: str
    qualifier: str
    mode: UpdateMode | None
    runtime_version_arn: str | None
    actor_arn: str
    actor: Mapping[str, str] = field(hash=False)
    source_ip: str | None = None
    user_agent: str | None = None
    # `sts:SourceIdentity` of the caller's session, when its IdP set one (cannot be changed
    # by the caller afterwards), as `source-identity:<name>`; else "".
    source_identity: str = ""

    @property
    def key(self) -> PinKey:
        return PinKey(self.function_arn, self.qualifier)

    @property
    def pins(self) -> bool:
        """The call set Manual mode: a pin was made (or moved to another version)."""
        return self.mode is UpdateMode.MANUAL


def is_runtime_config_event(event: Mapping[str, Any]) -> bool:
    """Cheap routing check (no validation): is this the CloudTrail event we parse?"""
    detail = event.get("detail")
    return (
        event.get("source") == SOURCE
        and event.get("detail-type") == DETAIL_TYPE
        and isinstance(detail, Mapping)
        and isinstance(detail.get("eventName"), str)
        and detail["eventName"].startswith(EVENT_NAME_PREFIX)
    )


def parse_runtime_config_event(
    event: Mapping[str, Any], *, home: tuple[str, str] | None = None
) -> RuntimeConfigChange:
    """Parse the event, or raise MalformedEvent (FailedCallEvent for refused calls).

    `home` is (account, region) of the deployment reading it: an event from anywhere else
    names a function it can neither read nor change (its roles live in `home`), so it is
    refused rather than read and failed on."""
    if not isinstance(event, Mapping):
        raise MalformedEvent(f"event is a {type(event).__name__}, not an object")
    try:
        envelope = RuntimeConfigApiCallEvent.model_validate(event)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "event"
        raise MalformedEvent(f"{where}: {first['msg']}") from None
    detail = envelope.detail

    if envelope.source != SOURCE:
        raise MalformedEvent(f"source is {envelope.source!r}, not {SOURCE!r}")
    if envelope.detail_type != DETAIL_TYPE:
        raise MalformedEvent(f"detail-type is {envelope.detail_type!r}, not {DETAIL_TYPE!r}")
    if detail.eventSource != EVENT_SOURCE:
        raise MalformedEvent(f"detail.eventSource is {detail.eventSource!r}, not {EVENT_SOURCE!r}")
    if not detail.eventName.startswith(EVENT_NAME_PREFIX):
        raise MalformedEvent(f"detail.eventName {detail.eventName!r} is not {EVENT_NAME_PREFIX}")
    if detail.errorCode:
        raise FailedCallEvent(detail.errorCode, detail.errorMessage)
    if not _ACCOUNT.fullmatch(envelope.account):
        raise MalformedEvent(f"account {envelope.account!r} is not a 12-digit account id")
    if not _REGION.fullmatch(envelope.region):
        raise MalformedEvent(f"region {envelope.region!r} is not an AWS region")
    if home is not None and (envelope.account, envelope.region) != home:
        raise MalformedEvent(
            f"the call was made in account {envelope.account} region {envelope.region}, "
            f"but this deployment watches account {home[0]} region {home[1]}"
        )
    if not detail.eventID:
        raise MalformedEvent("detail.eventID is empty")
    if detail.recipientAccountId is not None and detail.recipientAccountId != envelope.account:
        raise MalformedEvent(
            f"detail.recipientAccountId {detail.recipientAccountId[:20]!r} is not the "
            f"event's account {envelope.account}"
        )
    if detail.awsRegion is not None and detail.awsRegion != envelope.region:
        raise MalformedEvent(
            f"detail.awsRegion {detail.awsRegion[:30]!r} is not the event's region "
            f"{envelope.region}"
        )

    params = detail.requestParameters
    if params is None:
        raise MalformedEvent("detail.requestParameters is missing")
    function_arn, qualifier = _function(params, envelope.account, envelope.region)
    actor_arn, actor = _actor(detail.userIdentity)
    source_identity = _source_identity(detail.userIdentity)
    runtime_version_arn = params.get("runtimeVersionArn")

    return RuntimeConfigChange(
        event_id=detail.eventID,
        event_time=_event_time(detail.eventTime),
        account=envelope.account,
        region=envelope.region,
        function_arn=function_arn,
        qualifier=qualifier,
        mode=_mode(params.get("updateRuntimeOn")),
        runtime_version_arn=runtime_version_arn
        if is_runtime_version_arn(runtime_version_arn)
        else None,
        actor_arn=actor_arn,
        actor=actor,
        source_ip=detail.sourceIPAddress,
        user_agent=detail.userAgent,
        source_identity=source_identity,
    )


def partition_of(region: str) -> str:
    """The ARN partition a region belongs to."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"


def _function(params: Mapping[str, Any], account: str, region: str) -> tuple[str, str]:
    """(unqualified function ARN, qualifier) from FunctionName in any accepted form.

    Partition, account and region come from the event's envelope (where EventBridge says the
    call happened), never from the request: a FunctionName naming another partition, account
    or region is refused, since rollforward can only watch and change functions here."""
    reference = params.get("functionName")
    if not isinstance(reference, str) or not reference:
        raise MalformedEvent("requestParameters.functionName is missing or not a string")
    match = _FUNCTION_REF.fullmatch(reference)
    if match is None:
        raise MalformedEvent(
            f"requestParameters.functionName {reference[:200]!r} names no function"
        )
    partition = partition_of(region)
    for part, expected in (
        ("partition", partition),
        ("region", region),
        ("account", account),
    ):
        if match[part] and match[part] != expected:
            raise MalformedEvent(
                f"requestParameters.functionName {reference[:200]!r} names {part} "
                f"{match[part]!r}, but the call was made in {part} {expected}"
            )
    explicit = params.get("qualifier")
    if explicit is not None and not isinstance(explicit, str):
        raise MalformedEvent("requestParameters.qualifier is not a string")
    suffix = match["qualifier"]
    if explicit and suffix and explicit != suffix:
        raise MalformedEvent(
            f"requestParameters.qualifier {explicit[:80]!r} contradicts the functionName suffix "
            f"{suffix[:80]!r}"
        )
    qualifier = explicit or suffix or LATEST
    if not QUALIFIER.fullmatch(qualifier):
        raise MalformedEvent(
            f"qualifier {qualifier[:80]!r} is not $LATEST or a version number "
            "(AWS refuses runtime config on aliases, yet no errorCode was recorded)"
        )
    arn = f"arn:{partition}:lambda:{region}:{account}:function:{match['name']}"
    return arn, qualifier


def _source_identity(identity: Mapping[str, Any]) -> str:
    session = identity.get("sessionContext")
    value = session.get("sourceIdentity") if isinstance(session, Mapping) else None
    return f"source-identity:{value}" if isinstance(value, str) and value else ""


def _mode(value: object) -> UpdateMode | None:
    """The wire value, tolerating case and the prose spelling "Function update"."""
    if not isinstance(value, str):
        return None
    folded = value.replace(" ", "").casefold()
    return next((mode for mode in UpdateMode if mode.value.casefold() == folded), None)


def _actor(identity: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    actor = {key: identity[key] for key in _ACTOR_KEYS if isinstance(identity.get(key), str)}
    session = identity.get("sessionContext")
    issuer = session.get("sessionIssuer") if isinstance(session, Mapping) else None
    if isinstance(issuer, Mapping) and isinstance(issuer.get("arn"), str):
        actor["sessionIssuerArn"] = issuer["arn"]
    for key in ("arn", "sessionIssuerArn", "invokedBy", "principalId"):
        if actor.get(key):
            return actor[key], actor
    raise MalformedEvent(
        "detail.userIdentity names no principal (no arn, invokedBy or principalId)"
    )


def _event_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedEvent(f"detail.eventTime {text!r} is not an ISO-8601 timestamp") from None
    if moment.tzinfo is None:
        raise MalformedEvent(f"detail.eventTime {text!r} has no timezone")
    return moment.astimezone(UTC)
