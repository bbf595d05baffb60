"""Read the posture facts from AWS: Lambda (every function, `$LATEST` and each alias-routed
version), ECR (the push date of each image function's resolved digest), CloudFormation (the
template of each stack that manages a function) and the ledger (open pins).

Clients are passed in (the caller builds them: the CLI from its target, a handler in
`wiring`). Calls per function: GetFunction (its own 100 req/s bucket), ListAliases, and for zip
functions one GetRuntimeManagementConfig per version assessed (plus GetFunctionConfiguration
per alias-routed version) from the shared 15 req/s bucket; the clients' retry mode absorbs
429s. ECR and CloudFormation are read once per digest / stack. A read that fails for one
function leaves its facts partial (mode None → reported as unknown), never the whole report.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from rollforward.model import LATEST, UpdateMode
from rollforward.posture.table import FunctionFacts, PinFacts
from rollforward.posture.templates import TemplatePin, parse_template, template_pins

log = logging.getLogger(__name__)

STACK_NAME_TAG = "aws:cloudformation:stack-name"
LOGICAL_ID_TAG = "aws:cloudformation:logical-id"
OWNER_TAGS = ("rollforward:owner", "owner")
TEAM_TAGS = ("rollforward:team", "team")
_RESOLVED = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[^@:]+)@(?P<digest>sha256:[0-9a-f]{64})$"
)


@dataclass(frozen=True, slots=True)
class FleetFacts:
    versions: list[FunctionFacts]
    template_pins: dict[tuple[str, str], TemplatePin]
    unreadable: list[str]  # "<function>: <why>" for facts that could not be read
    # Where to go on when the read stopped early (out of time): the ListFunctions marker of the
    # next page ("" is the first page). None: every function was read.
    resume_marker: str | None = None


def parse_last_modified(text: str) -> datetime:
    """Lambda's `2026-12-02T00:41:36.000+0000` (and ISO variants) as an aware UTC datetime."""
    value = text.strip().replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", value):
        value = value[:-2] + ":" + value[-2:]
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _first_tag(tags: Mapping[str, str], keys: Iterable[str]) -> str:
    for key in keys:
        value = (tags.get(key) or "").strip()
        if value:
            return value
    return ""


def _no_pace() -> None:
    return None


def _mode(lam: Any, name: str, qualifier: str, pace: Callable[[], object]) -> UpdateMode | None:
    pace()
    kwargs = {"FunctionName": name} | ({} if qualifier == LATEST else {"Qualifier": qualifier})
    try:
        return UpdateMode(lam.get_runtime_management_config(**kwargs)["UpdateRuntimeOn"])
    except (ClientError, KeyError, ValueError) as error:
        log.warning("runtime management config of %s:%s unreadable: %s", name, qualifier, error)
        return None


def _pushed_at(ecr: Any, resolved: str, cache: dict[str, datetime | None]) -> datetime | None:
    if resolved in cache:
        return cache[resolved]
    match = _RESOLVED.match(resolved)
    pushed: datetime | None = None
    if match is not None:
        try:
            details = ecr.describe_images(
                registryId=match["registry"],
                repositoryName=match["repository"],
                imageIds=[{"imageDigest": match["digest"]}],
            )["imageDetails"]
            if details and isinstance(details[0].get("imagePushedAt"), datetime):
                pushed = details[0]["imagePushedAt"].astimezone(UTC)
        except ClientError as error:  # deleted image, other account: age from LastModified
            log.warning("ECR image %s unreadable: %s", resolved, error)
    cache[resolved] = pushed
    return pushed


def _stack_pins(cloudformation: Any, stack: str) -> dict[str, TemplatePin]:
    try:
        body = cloudformation.get_template(StackName=stack, TemplateStage="Original")[
            "TemplateBody"
        ]
    except ClientError as error:
        log.warning("template of stack %s unreadable: %s", stack, error)
        return {}
    document = parse_template(body)
    return template_pins(stack, document) if document is not None else {}


def _pages(
    call: Callable[..., Any], key: str, pace: Callable[[], object], **kwargs: Any
) -> Iterator[Any]:
    """Every item of a Marker-paged Lambda listing, one `pace()` before each page."""
    marker: str | None = None
    while True:
        pace()
        page = call(**kwargs, **({"Marker": marker} if marker else {}))
        yield from page.get(key, [])
        marker = page.get("NextMarker")
        if not marker:
            return


def _routed_versions(lam: Any, name: str, pace: Callable[[], object]) -> dict[str, list[str]]:
    """Published version → the aliases that route to it (primary or weighted)."""
    routed: dict[str, list[str]] = {}
    for alias in _pages(lam.list_aliases, "Aliases", pace, FunctionName=name):
        versions = [str(alias["FunctionVersion"])]
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        versions += [str(v) for v in weights]
        for version in versions:
            if version != LATEST:
                routed.setdefault(version, []).append(str(alias["Name"]))
    return routed


def _function_pages(
    lam: Any,
    pace: Callable[[], object],
    start_marker: str | None,
    out_of_time: Callable[[], bool],
    page_size: int | None = None,
) -> Iterator[list[Any]]:
    """The functions of each ListFunctions page from `start_marker`. Before every page but the
    first, `out_of_time()` may end the listing: `_OutOfTime` carries the marker of the page
    not read ("" for the first page), where the next run resumes."""
    marker = start_marker or None
    first = True
    while True:
        if not first and out_of_time():
            raise _OutOfTime(marker or "")
        first = False
        pace()
        page = lam.list_functions(
            **({"Marker": marker} if marker else {}),
            **({"MaxItems": page_size} if page_size else {}),
        )
        yield list(page.get("Functions", []))
        marker = page.get("NextMarker")
        if not marker:
            return


class _OutOfTime(Exception):
    def __init__(self, marker: str) -> None:
        super().__init__(marker)
        self.marker = marker


def _never() -> bool:
    return False


def read_fleet(
    lam: Any,
    ecr: Any,
    cloudformation: Any,
    pins: Mapping[tuple[str, str], PinFacts] | None = None,
    *,
    pace: Callable[[], object] = _no_pace,
    start_marker: str | None = None,
    out_of_time: Callable[[], bool] = _never,
    page_size: int | None = None,
) -> FleetFacts:
    """Facts for `$LATEST` and every alias-routed version of every function in the account and
    region `lam` reaches. `pins`: open ledger pins by (function ARN, qualifier). `pace` is
    called before each call from the shared 15 req/s control-plane bucket (a TokenBucket's
    `acquire`), so the report leaves the account's deploys their share.

    A big account: `start_marker` continues from a ListFunctions marker, and `out_of_time()`,
    asked before each page after the first, stops the read with `resume_marker` set (a page
    is read whole: at most 50 functions, ~45 s at 3 req/s). Alias-routed versions are read
    with GetFunction (its own 100 req/s bucket), not GetFunctionConfiguration."""
    pins = pins or {}
    versions: list[FunctionFacts] = []
    unreadable: list[str] = []
    pushed_cache: dict[str, datetime | None] = {}
    stacks: dict[str, dict[str, TemplatePin]] = {}
    resume: str | None = None
    try:
        for page in _function_pages(lam, pace, start_marker, out_of_time, page_size):
            for listed in page:
                _read_function(
                    lam,
                    ecr,
                    cloudformation,
                    listed,
                    pins,
                    pace,
                    versions,
                    unreadable,
                    pushed_cache,
                    stacks,
                )
    except _OutOfTime as stopped:
        resume = stopped.marker
    template = {
        (stack, logical): pin for stack, found in stacks.items() for logical, pin in found.items()
    }
    return FleetFacts(versions, template, unreadable, resume)


def _read_function(
    lam: Any,
    ecr: Any,
    cloudformation: Any,
    listed: Mapping[str, Any],
    pins: Mapping[tuple[str, str], PinFacts],
    pace: Callable[[], object],
    versions: list[FunctionFacts],
    unreadable: list[str],
    pushed_cache: dict[str, datetime | None],
    stacks: dict[str, dict[str, TemplatePin]],
) -> None:
    """The facts of one listed function's `$LATEST` and alias-routed versions, appended."""
    name = str(listed["FunctionName"])
    try:
        function = lam.get_function(FunctionName=name)  # its own 100 req/s bucket
        routed = _routed_versions(lam, name, pace)
    except ClientError as error:
        unreadable.append(f"{name}: {error.response.get('Error', {}).get('Code')}")
        return
    configuration = function["Configuration"]
    tags = function.get("Tags") or {}
    code = function.get("Code") or {}
    stack = tags.get(STACK_NAME_TAG, "")
    if stack and stack not in stacks:
        stacks[stack] = _stack_pins(cloudformation, stack)
    arn = str(configuration["FunctionArn"]).split(":function:")[0] + f":function:{name}"
    common: dict[str, Any] = {
        "function_arn": arn,
        "package_type": str(configuration.get("PackageType") or "Zip"),
        "runtime": str(configuration.get("Runtime") or ""),
        "architecture": str((configuration.get("Architectures") or ["x86_64"])[0]),
        "region": arn.split(":")[3],
        "owner": _first_tag(tags, OWNER_TAGS),
        "team": _first_tag(tags, TEAM_TAGS),
        "stack_name": stack,
        "logical_id": tags.get(LOGICAL_ID_TAG, "") if stack else "",
    }
    targets: list[tuple[str, Mapping[str, Any], tuple[str, ...]]] = [(LATEST, configuration, ())]
    for version, names in sorted(routed.items(), key=lambda item: int(item[0])):
        try:
            # GetFunction (its own 100 req/s bucket) answers the version's configuration.
            targets.append(
                (
                    version,
                    lam.get_function(FunctionName=name, Qualifier=version)["Configuration"],
                    tuple(sorted(names)),
                )
            )
        except ClientError as error:
            unreadable.append(f"{name}:{version}: {error}")
    for qualifier, version_configuration, aliases in targets:
        is_image = common["package_type"] == "Image"
        resolved = str(code.get("ResolvedImageUri") or "") if is_image else ""
        versions.append(
            FunctionFacts(
                qualifier=qualifier,
                last_modified=parse_last_modified(str(version_configuration["LastModified"])),
                update_runtime_on=None if is_image else _mode(lam, name, qualifier, pace),
                runtime_version_arn=str(
                    (version_configuration.get("RuntimeVersionConfig") or {}).get(
                        "RuntimeVersionArn"
                    )
                    or ""
                ),
                aliases=aliases,
                image_uri=str(code.get("ImageUri") or "") if is_image else "",
                resolved_image_uri=resolved,
                image_pushed_at=_pushed_at(ecr, resolved, pushed_cache) if resolved else None,
                pin=pins.get((arn, qualifier)),
                **common,
            )
        )


def ledger_pins(open_pins: Iterable[Any]) -> dict[tuple[str, str], PinFacts]:
    """Open ledger pins (`rollforward.ledger.Pin`) as PinFacts by (function ARN, qualifier)."""
    found: dict[tuple[str, str], PinFacts] = {}
    for pin in open_pins:
        found[(pin.key.function_arn, pin.key.qualifier)] = PinFacts(
            first_seen=pin.first_seen,
            stage=str(pin.stage),
            pinned_by=pin.pinned_by,
            pin_id=pin.key.id,
        )
    return found


def template_pin_of(lam: Any, cloudformation: Any, function_arn: str) -> TemplatePin | None:
    """The property of the function's own CloudFormation template that pins it, if any (the
    function's `aws:cloudformation:*` tags name the stack and the resource)."""
    try:
        tags = lam.list_tags(Resource=function_arn).get("Tags") or {}
    except ClientError as error:
        log.warning("tags of %s unreadable: %s", function_arn, error)
        return None
    stack, logical = tags.get(STACK_NAME_TAG, ""), tags.get(LOGICAL_ID_TAG, "")
    if not stack or not logical:
        return None
    return _stack_pins(cloudformation, stack).get(logical)
