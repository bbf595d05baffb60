"""Preflight on live state, before any change: is it still safe to roll this pin forward?

Still Manual on the pinned ARN; one alias that takes the traffic (or none: synthetic); the
alias on one published version; `$LATEST` equal to that version in code and configuration, or
unpublished changes would ride along with the new runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollforward.audit.records import AuditEvent
from rollforward.canary.context import CanaryContext
from rollforward.canary.state import CanaryState, Stop, Strategy
from rollforward.clock import utc_now
from rollforward.ledger import Pin, PinKind, Stage
from rollforward.model import LATEST, PinKey, UpdateMode
from rollforward.ports import NotFound
from rollforward.scan.listing import AliasRouting

# Configuration that must be equal between `$LATEST` and the baseline version, or the candidate
# would carry unpublished changes along with the new runtime.
COMPARED_CONFIGURATION = (
    "Runtime",
    "Handler",
    "MemorySize",
    "Timeout",
    "Role",
    "Environment",
    "Layers",
    "Architectures",
    "VpcConfig",
    "DeadLetterConfig",
    "TracingConfig",
    "EphemeralStorage",
    "FileSystemConfigs",
    "ImageConfigResponse",
    "LoggingConfig",
    "SnapStart",
)
ALIAS_TAG = "rollforward:alias"


def hold_the_function(ctx: CanaryContext, pin: Pin) -> None:
    """One canary per function, whatever the qualifiers: `$LATEST` and a published version
    share the function's aliases and `$LATEST` (a version's canary builds its candidate there),
    so a second canary would undo the first's steps. Held by this pin until its canary is over;
    a hold whose pin's canary is over (closed, or back to tracking: it died without releasing)
    is taken over. Otherwise Stop, before any change: the ladder asks again later."""
    if ctx.locks is None:
        return
    function_arn, me = pin.key.function_arn, pin.key.id
    holder = ctx.locks.acquire(function_arn, me, utc_now())
    if holder is None:
        return
    other = _pin_of(ctx, holder)
    over = other is None or not other.is_open or other.stage not in (Stage.APPROVED, Stage.CANARY)
    if over and ctx.locks.take_over(function_arn, me, holder, utc_now()):
        return
    raise Stop(
        f"another canary of this function is running ({holder or 'unknown pin'}): one canary "
        "per function at a time, whatever the qualifier; nothing was changed, and rollforward "
        "asks again at the ladder's next rung"
    )


def _pin_of(ctx: CanaryContext, pin_id: str) -> Pin | None:
    try:
        return ctx.ledger.get(PinKey.from_id(pin_id))
    except ValueError:  # not a pin id: nobody's
        return None


def check_pin(ctx: CanaryContext, pin: Pin, earlier: CanaryState | None = None) -> None:
    """The pinned version is still Manual on the pinned ARN (for `$LATEST`: or FunctionUpdate
    by our own earlier try; for a version without alias: or Manual on the candidate's runtime
    version, where our earlier try's promotion put it); for a FunctionUpdate item, `$LATEST`
    still FunctionUpdate on the runtime version it ran when found."""
    if pin.kind is PinKind.FUNCTION_UPDATE:
        check_function_update(ctx, pin, ctx.setting(pin, LATEST).mode)
        return
    live = ctx.setting(pin, pin.key.qualifier)
    if pin.stage is Stage.CANARY and (
        (pin.key.qualifier == LATEST and live.mode is UpdateMode.FUNCTION_UPDATE)
        or (
            earlier is not None
            and earlier.promoted
            and earlier.strategy == Strategy.VERSION_SYNTHETIC
            and live.mode is UpdateMode.MANUAL
            and live.pinned_runtime_version_arn == earlier.candidate_runtime_arn
        )
    ):
        # A retried start (Step Functions retries a throttled or failed attempt): the
        # earlier attempt got past this check and changed the setting itself. Pick up there.
        return
    if (
        live.mode is not UpdateMode.MANUAL
        or live.pinned_runtime_version_arn != pin.pinned_runtime_version_arn
    ):
        raise Stop(
            f"the pin changed since approval (now {live.mode} "
            f"{live.pinned_runtime_version_arn or ''}): handing back",
            hand_back=True,
        )


def check_function_update(ctx: CanaryContext, pin: Pin, mode: UpdateMode) -> None:
    """A FunctionUpdate item: `$LATEST` still FunctionUpdate and, unless an earlier attempt of
    this canary got past here, still on the recorded runtime version (the baseline)."""
    if mode is not UpdateMode.FUNCTION_UPDATE:
        raise Stop(
            f"the runtime setting changed since approval (now {mode}): handing back",
            hand_back=True,
        )
    if pin.stage is Stage.CANARY:
        return  # a retried start: the earlier attempt's configuration touch moved the runtime
    in_use = ctx.lam.runtime_version_in_use(pin.key.function_arn, LATEST)
    if in_use != pin.pinned_runtime_version_arn:
        raise Stop(
            f"the function was updated since approval (it now runs {in_use}): handing back",
            hand_back=True,
        )


def check_baseline_runtime(ctx: CanaryContext, pin: Pin, baseline: str) -> None:
    """A FunctionUpdate item: the alias's version runs the recorded runtime version too, so
    pinning it explicitly for the canary changes nothing it runs."""
    if pin.kind is not PinKind.FUNCTION_UPDATE:
        return
    in_use = ctx.lam.runtime_version_in_use(pin.key.function_arn, baseline)
    if in_use != pin.pinned_runtime_version_arn:
        raise Stop(
            f"version {baseline} runs {in_use}, not $LATEST's {pin.pinned_runtime_version_arn}: "
            "publish $LATEST and point the alias at it first"
        )


def warn_template_pin(ctx: CanaryContext, pin: Pin) -> str:
    """The function's own CloudFormation template pins it (noted on the item by the approval
    request, which said so before approval): the preflight says it again, on the pin's
    timeline, before anything changes; the canary's notices carry it as a Warning row. Not a
    refusal: the owner approved knowing it. Returns the warning ("" when none)."""
    noted = pin.evidence.get("template_pin")
    sentence = str(noted.get("sentence") or "") if isinstance(noted, dict) else ""
    if sentence:
        ctx.audit.record(
            AuditEvent.CANARY_STEP,
            pin_id=pin.key.id,
            step="preflight",
            warning=sentence,
            stack=str(noted.get("stack", "")) if isinstance(noted, dict) else "",
            property=str(noted.get("property", "")) if isinstance(noted, dict) else "",
        )
    return sentence


def check_latest_builds_candidates(ctx: CanaryContext, pin: Pin) -> None:
    """A published version's candidate is republished from `$LATEST`, whose configuration
    touch applies the newest runtime only outside Manual (AWS: phase 1 of the rollout, and
    FunctionUpdate on an update). A `$LATEST` pinned too is its own pin: its canary first."""
    live = ctx.setting(pin, LATEST)
    if live.mode is UpdateMode.MANUAL:
        raise Stop(
            f"$LATEST is pinned as well (Manual on {live.pinned_runtime_version_arn}): the "
            f"candidate for version {pin.key.qualifier} is built from $LATEST, so the $LATEST "
            "pin is rolled forward first"
        )


def expect_candidate_settings(ctx: CanaryContext, pin: Pin) -> None:
    """Mid-canary, `$LATEST` is FunctionUpdate (set by us) — for a published version's pin,
    that version is still Manual on the pinned ARN; anything else is a human."""
    if pin.key.qualifier != LATEST:
        live = ctx.setting(pin, pin.key.qualifier)
        if (
            live.mode is not UpdateMode.MANUAL
            or live.pinned_runtime_version_arn != pin.pinned_runtime_version_arn
        ):
            raise Stop(
                f"the runtime setting of version {pin.key.qualifier} was changed mid-canary "
                f"(now {live.mode}): handing back",
                hand_back=True,
            )
        return
    live = ctx.setting(pin, LATEST)
    if live.mode is not UpdateMode.FUNCTION_UPDATE:
        raise Stop(
            f"the runtime setting of $LATEST was changed mid-canary (now {live.mode}): handing back",
            hand_back=True,
        )


def choose_alias(ctx: CanaryContext, pin: Pin, tags: Mapping[str, str]) -> AliasRouting | None:
    """The alias that takes the traffic: the tagged one, the only one, or None (no alias)."""
    aliases = ctx.lam.aliases(pin.key.function_arn)
    if aliases is None:
        raise NotFound(f"{pin.key.function_arn} no longer exists")
    wanted = tags.get(ALIAS_TAG)
    if wanted:
        for alias in aliases:
            if alias.name == wanted:
                return alias
        raise Stop(f"tag {ALIAS_TAG} names alias {wanted!r}, which does not exist")
    if len(aliases) > 1:
        names = ", ".join(sorted(a.name for a in aliases))
        raise Stop(
            f"the function has several aliases ({names}): tag {ALIAS_TAG} with the one that takes traffic"
        )
    return aliases[0] if aliases else None


def choose_version_alias(
    ctx: CanaryContext, pin: Pin, tags: Mapping[str, str]
) -> AliasRouting | None:
    """A pinned published version: the alias that routes to it (the tagged one, or the only
    one), or None when none does — its callers name the version itself. An alias on another
    version is no concern of this pin's canary."""
    aliases = ctx.lam.aliases(pin.key.function_arn)
    if aliases is None:
        raise NotFound(f"{pin.key.function_arn} no longer exists")
    version = pin.key.qualifier
    routing = [a for a in aliases if version in (a.function_version, *a.additional_versions)]
    wanted = tags.get(ALIAS_TAG)
    if wanted:
        tagged = [a for a in routing if a.name == wanted]
        if tagged:
            return tagged[0]
        if not any(a.name == wanted for a in aliases):
            raise Stop(f"tag {ALIAS_TAG} names alias {wanted!r}, which does not exist")
    if len(routing) > 1:
        names = ", ".join(sorted(a.name for a in routing))
        raise Stop(
            f"several aliases route to version {version} ({names}): tag {ALIAS_TAG} with the "
            "one that takes traffic"
        )
    return routing[0] if routing else None


def check_alias(ctx: CanaryContext, pin: Pin, alias: AliasRouting) -> str:
    """The alias serves one published version equal to `$LATEST`: that version (the baseline)."""
    if alias.additional_versions:
        raise Stop(
            f"alias {alias.name} already splits traffic: rollforward only starts from one version"
        )
    baseline = alias.function_version
    if baseline == LATEST:
        raise Stop(
            f"alias {alias.name} points at $LATEST: publish a version and point the alias at it"
        )
    return check_same_as_latest(ctx, pin, baseline)


def check_same_as_latest(ctx: CanaryContext, pin: Pin, version: str) -> str:
    """`$LATEST` equals `version` in code and configuration (the candidate is published from
    `$LATEST`): `version`, or Stop naming what differs."""
    latest = ctx.lam.configuration(pin.key.function_arn)
    published = ctx.lam.configuration(pin.key.function_arn, version)
    differences = [
        key
        for key in ("CodeSha256", *COMPARED_CONFIGURATION)
        if _normal(latest.get(key)) != _normal(published.get(key))
    ]
    if differences:
        raise Stop(
            f"$LATEST has unpublished changes against version {version} ({', '.join(differences)}): "
            "publish or revert them first, or they would ride along with the new runtime"
        )
    return version


def _normal(value: Any) -> Any:
    """Compare configuration values regardless of key order and of empty-vs-absent."""
    if value in (None, {}, [], ""):
        return None
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in sorted(value.items()) if k not in {"ResponseMetadata"}}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value
