"""What each function version runs: its stored runtime setting, how the two-phase rollout moves
it, and the guard on moto's backend (phase 1 on create and update; no runtime change while
`$LATEST` is Manual)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import LambdaBackend, LambdaFunction, LambdaStorage, lambda_backends
from moto.awslambda_simple.models import lambda_simple_backends
from moto.utilities.utils import get_partition

from emulator.lambda_api.wire import invalid_parameter_value, resource_not_found, validation_error
from emulator.state import STATE

LATEST = "$LATEST"
AUTO = "Auto"
FUNCTION_UPDATE = "FunctionUpdate"
MANUAL = "Manual"
UPDATE_MODES = (AUTO, FUNCTION_UPDATE, MANUAL)
DEFAULT_ARCHITECTURE = "x86_64"

# Same shape as rollforward.model.RUNTIME_VERSION_ARN (the emulator imports nothing from the
# deployed package): arn:<partition>:lambda:<region>::runtime:<64 hex>, empty account field.
RUNTIME_VERSION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+)::runtime:(?P<digest>[0-9a-f]{64})$"
)
_PUBLISHED_VERSION = re.compile(r"^[1-9][0-9]{0,9}$")
# FunctionName as the API accepts it: a name, a full ARN or a partial ARN, optionally qualified.
_FUNCTION_NAME = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:)?"
    r"(?:[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d:)?"
    r"(?:\d{12}:)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_-]{1,64})"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?$"
)

# --------------------------------------------------------------------------------------------
# The runtime setting of one function version
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRuntimeSetting:
    """What one function version is told (mode, pin) and what it runs.

    Immutable on purpose: moto's `publish_version` copies `$LATEST` shallowly, so a shared
    mutable object would make later changes to `$LATEST` leak into published versions.
    """

    update_runtime_on: str
    in_use_arn: str
    pinned_arn: str | None = None  # set exactly when update_runtime_on is Manual


_SETTING_ATTRIBUTE = "_rollforward_runtime_setting"


def _has_runtime(fn: LambdaFunction) -> bool:
    """Image functions bring their own runtime: Lambda manages none for them."""
    return fn.package_type != "Image" and bool(fn.run_time)


def _architecture(fn: LambdaFunction) -> str:
    architectures = fn.architectures or [DEFAULT_ARCHITECTURE]
    return str(architectures[0])


def _newest_arn(fn: LambdaFunction) -> str:
    return STATE.catalog.latest(str(fn.run_time), fn.region, _architecture(fn)).arn


def runtime_setting(fn: LambdaFunction) -> StoredRuntimeSetting | None:
    """The version's setting; None for image functions. New functions start Auto on the newest."""
    if not _has_runtime(fn):
        return None
    setting: StoredRuntimeSetting | None = getattr(fn, _SETTING_ATTRIBUTE, None)
    if setting is None:
        setting = StoredRuntimeSetting(AUTO, _newest_arn(fn))
        _store(fn, setting)
    return setting


def runtime_version_arn(fn: LambdaFunction) -> str | None:
    """The runtime version ARN this function version runs (None for image functions)."""
    setting = runtime_setting(fn)
    return setting.in_use_arn if setting else None


def _store(fn: LambdaFunction, setting: StoredRuntimeSetting) -> None:
    setattr(fn, _SETTING_ATTRIBUTE, setting)


def _qualified_arn(fn: LambdaFunction) -> str:
    """moto keeps `$LATEST` under the unqualified ARN and published versions qualified."""
    if str(fn.version) == LATEST:
        return f"{fn.function_arn}:{LATEST}"
    return str(fn.function_arn)


# --------------------------------------------------------------------------------------------
# The two-phase rollout
# --------------------------------------------------------------------------------------------


def _apply_phase_one(fn: LambdaFunction) -> None:
    """Create/update of `$LATEST`: Auto and FunctionUpdate move to the newest version."""
    setting = runtime_setting(fn)
    if setting is None or str(fn.version) != LATEST or setting.update_runtime_on == MANUAL:
        return
    with STATE.lock:
        _store(fn, replace(setting, in_use_arn=_newest_arn(fn)))


def _function_versions(region: str | None) -> Iterator[LambdaFunction]:
    """Every stored function version in every account and region (moto keeps no public index).

    Two backend families: moto serves Lambda from `lambda_simple_backends` when docker is off
    (the in-process emulator) and from `lambda_backends` otherwise (moto's server).
    """
    for backends in (lambda_backends, lambda_simple_backends):
        for _account_id, region_name, backend in list(backends.iter_backends()):
            if region is not None and region_name != region:
                continue
            for group in list(backend._lambdas._functions.values()):  # type: ignore[attr-defined]
                if group["latest"] is not None:
                    yield group["latest"]
                yield from list(group["versions"])


def rollout(region: str | None = None, runtime: str | None = None) -> list[str]:
    """Phase 2: AWS moves every remaining Auto version (published ones too) to the newest.

    FunctionUpdate versions wait for the next update (published ones never move) and Manual
    versions never move. Returns the qualified ARNs of the versions that changed.
    """
    moved = []
    with STATE.lock:
        for fn in _function_versions(region):
            setting = runtime_setting(fn)
            if setting is None or setting.update_runtime_on != AUTO:
                continue
            if runtime is not None and fn.run_time != runtime:
                continue
            newest = _newest_arn(fn)
            if setting.in_use_arn != newest:
                _store(fn, replace(setting, in_use_arn=newest))
                moved.append(_qualified_arn(fn))
    return moved


def _function_version(
    backend: LambdaBackend, function_name: str, qualifier: str | None
) -> LambdaFunction:
    """Resolve FunctionName (+ Qualifier) to one version, with the errors Lambda gives."""
    match = _FUNCTION_NAME.match(function_name)
    if match is None:
        raise validation_error(
            f"1 validation error detected: Value '{function_name}' at 'functionName' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern"
        )
    name, derived = match["name"], match["qualifier"]
    if derived and qualifier and derived != qualifier:
        raise invalid_parameter_value(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    explicit = derived or qualifier
    qualifier = explicit or LATEST
    function_arn = f"arn:{get_partition(backend.region_name)}:lambda:{backend.region_name}:{backend.account_id}:function:{name}"
    if qualifier != LATEST and not _PUBLISHED_VERSION.match(qualifier):
        raise invalid_parameter_value(
            f"The provided function name {function_arn}:{qualifier} is invalid. Aliases are not allowed."
        )
    try:
        fn = backend.get_function(name, qualifier)
    except UnknownFunctionException:
        fn = None
    if fn is None:
        shown = f"{function_arn}:{qualifier}" if explicit else function_arn
        raise resource_not_found(f"Function not found: {shown}")
    return fn


# --------------------------------------------------------------------------------------------
# Phase 1 and the Manual guard on moto's backend
# --------------------------------------------------------------------------------------------


def _refuse_runtime_change_while_manual(
    fn: LambdaFunction, *, runtime: str | None = None, architectures: list[str] | None = None
) -> None:
    setting = runtime_setting(fn)
    if setting is None or setting.update_runtime_on != MANUAL:
        return
    if runtime is not None and runtime != fn.run_time:
        changed = "runtime"
    elif architectures and list(architectures) != list(fn.architectures):
        changed = "architecture"
    else:
        return
    raise invalid_parameter_value(
        f"The {changed} of a function cannot be changed while its runtime update mode is "
        f"{MANUAL}. Set UpdateRuntimeOn to {AUTO} or {FUNCTION_UPDATE} first."
    )


def _patched_update_function_configuration(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def update_function_configuration(
        self: LambdaBackend, function_name: str, qualifier: str | None, body: dict[str, Any]
    ) -> Any:
        fn = self.get_function(function_name, qualifier)
        _refuse_runtime_change_while_manual(fn, runtime=body.get("Runtime"))
        result = original(self, function_name, qualifier, body)
        _apply_phase_one(fn)
        return result

    return update_function_configuration


def _update_function_code(
    self: LambdaBackend, function_name: str, qualifier: str | None, body: dict[str, Any]
) -> dict[str, Any]:
    """moto's UpdateFunctionCode, plus Architectures, the Manual guard and phase 1 — which must
    run before `Publish` snapshots `$LATEST` (moto's own version updates code after publishing).
    """
    fn = self.get_function(function_name, qualifier)
    architectures = body.get("Architectures")
    _refuse_runtime_change_while_manual(fn, architectures=architectures)
    if body.get("DryRun"):
        return dict(fn.get_configuration())
    if architectures:
        fn.architectures = list(architectures)  # moto's setter validates the value
    fn.update_function_code(body)
    _apply_phase_one(fn)
    if body.get("Publish"):
        published = self.publish_version(function_name)
        if published is not None:
            return dict(published.get_configuration())
    return dict(fn.get_configuration())


def _patched_put_function(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def put_function(self: LambdaStorage, fn: LambdaFunction) -> None:
        original(self, fn)
        if _has_runtime(fn):  # CreateFunction: start Auto on the newest version (phase 1)
            _store(fn, StoredRuntimeSetting(AUTO, _newest_arn(fn)))

    return put_function


def _patched_publish_version(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto clears `$LATEST`'s changed flag only when earlier versions exist, so an update made
    before the first publish would make every later PublishVersion publish again."""

    @functools.wraps(original)
    def publish_version(self: LambdaStorage, name_or_arn: str, description: str = "") -> Any:
        published = original(self, name_or_arn, description)
        if published is not None:
            self.get_function_by_name_or_arn_forbid_qualifier(
                name_or_arn
            ).code_or_config_updated = False
        return published

    return publish_version
