"""One invocation of a fleet function: the version an alias's weights draw, the outcome and
duration its runtime version decides, the cold start's INIT_START line, and its metrics."""

from __future__ import annotations

import json
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.awslambda.models import LambdaBackend
from moto.awslambda.responses import LambdaResponse
from moto.awslambda.utils import get_backend as lambda_backend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.logs.models import logs_backends

from emulator import lambda_api
from emulator.catalog import RuntimeVersion
from emulator.functions import is_project_function
from emulator.logging_config import JSON as JSON_FORMAT
from emulator.logging_config import logging_config
from emulator.state import STATE
from emulator.traffic.metrics import _record_metrics, _Target

LATEST = "$LATEST"
# Used when a function's runtime version is unknown to the catalog (or it has none: images).
DEFAULT_DURATION_P50_MS = 40.0
DEFAULT_DURATION_P99_MS = 120.0

_Z_99 = 2.3263478740408408  # standard normal quantile at 0.99: ln(p99/p50) = sigma * z99

_SUCCESS_PAYLOAD = json.dumps({"statusCode": 200, "body": "ok"}).encode()
# Per-backend bookkeeping lives on moto's backend objects, so a moto reset forgets it too.
_ENVIRONMENTS_ATTRIBUTE = "_rollforward_environments"

_lock = threading.RLock()

_moto_invoke: Callable[..., Any] | None = None


def runtime_version_arn_of(fn: Any) -> str | None:
    """The runtime version ARN that `fn` (one moto version object) runs on; None for images.

    The single place traffic reads it: `emulator.lambda_api` owns the per-version setting
    (two-phase rollout, pins) and answers `RuntimeVersionConfig` from the same value.
    """
    return lambda_api.runtime_version_arn(fn)


def _honouring_qualifier(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """moto's Invoke handler reads `qualifier` (lower case): the `Qualifier` query parameter is
    lost, and a `qualifier` key in the payload is taken instead. Put the real one where it looks.
    """

    def invoke(self: Any) -> Any:
        self.querystring["qualifier"] = [self.querystring.get("Qualifier", [None])[0]]
        return original(self)

    return invoke


def _backend_invoke(
    self: Any,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> bytes | str | None:
    """Replacement for `LambdaBackend.invoke`: the boto3/HTTP `Invoke` path."""
    return _invoke_at(self, function_name, qualifier, body, headers, response_headers, None)


def _invoke_at(
    backend: Any,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
    at: datetime | None,
) -> bytes | str | None:
    """One invocation, stamped at `at` (virtual now when None)."""
    primary = backend.get_function(function_name, qualifier)  # moto's lookup and its errors
    if is_project_function(primary):
        assert _moto_invoke is not None
        return _moto_invoke(backend, function_name, qualifier, body, headers, response_headers)  # type: ignore[no-any-return]
    target = _resolve(backend, primary, function_name, qualifier)
    invocation_type = _header(headers, "X-Amz-Invocation-Type") or "RequestResponse"
    payload = b""
    if invocation_type != "DryRun":
        result, errored = _simulate(target, at or STATE.clock.now())
        if invocation_type == "RequestResponse":
            payload = result
            if errored:
                response_headers["x-amz-function-error"] = "Unhandled"
    response_headers["x-amz-executed-version"] = target.executed_version
    response_headers["Content-Length"] = str(len(payload))
    return payload


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name) or headers.get(name.lower())
    return str(value) if value else None


def _qualifier_in_request(function_name: str, qualifier: str | None) -> str | None:
    """The qualifier moto resolved: one inside the name or ARN wins over the parameter."""
    tail = function_name.split(":function:", 1)[-1]
    if ":" in tail:
        return tail.split(":", 1)[1]
    return qualifier


def _resolve(backend: Any, primary: Any, function_name: str, qualifier: str | None) -> _Target:
    name = primary.function_name
    requested = _qualifier_in_request(function_name, qualifier)
    if requested is None:
        return _Target(primary, LATEST, None, via_alias=False)
    if requested.upper() == LATEST:
        return _Target(primary, LATEST, f"{name}:{LATEST}", via_alias=False)
    if requested.isdigit():
        return _Target(primary, str(primary.version), f"{name}:{requested}", via_alias=False)
    alias = backend.get_alias(requested, name)
    chosen = _draw_version(alias)
    fn = primary if chosen == alias.function_version else backend.get_function(name, chosen)
    return _Target(fn, str(fn.version), f"{name}:{requested}", via_alias=True)


def _draw_version(alias: Any) -> str:
    """The version an alias invocation runs: an additional version with its weight, else primary."""
    routing = alias.routing_config if isinstance(alias.routing_config, dict) else {}
    weights = routing.get("AdditionalVersionWeights") or {}
    if not weights:
        return str(alias.function_version)
    draw = STATE.rng.random()
    cumulative = 0.0
    for version, weight in sorted(weights.items()):
        cumulative += float(weight)
        if draw < cumulative:
            return str(version)
    return str(alias.function_version)


@dataclass(frozen=True)
class _Behaviour:
    """How a runtime version behaves: failure probability and log-normal duration parameters."""

    error_rate: float
    mu: float
    sigma: float

    @classmethod
    def of(cls, version: RuntimeVersion | None) -> _Behaviour:
        p50 = version.duration_p50_ms if version else DEFAULT_DURATION_P50_MS
        p99 = version.duration_p99_ms if version else DEFAULT_DURATION_P99_MS
        p50 = max(p50, 0.001)
        sigma = max(math.log(max(p99, p50) / p50), 0.0) / _Z_99
        return cls(version.error_rate if version else 0.0, math.log(p50), sigma)


def _simulate(target: _Target, at: datetime) -> tuple[bytes, bool]:
    """Run a fleet function: cold start if due, outcome and duration, metrics. (payload, errored)"""
    fn = target.fn
    runtime_arn = runtime_version_arn_of(fn)
    runtime_version = STATE.catalog.by_arn(runtime_arn) if runtime_arn else None
    behaviour = _Behaviour.of(runtime_version)
    with _lock:
        if _is_cold_start(target, runtime_arn):
            _log_init_start(target, runtime_arn, runtime_version, at)
        duration_ms = round(STATE.rng.lognormvariate(behaviour.mu, behaviour.sigma), 2)
        error_rate = STATE.function_error_rates.get(
            (fn.function_name, runtime_arn or ""), behaviour.error_rate
        )
        errored = STATE.rng.random() < error_rate
        _record_metrics(target, at, duration_ms, errored)
    if not errored:
        return _SUCCESS_PAYLOAD, False
    error = {
        "errorMessage": f"RequestId: {uuid.uuid4()} Error: Runtime exited with error: exit status 1",
        "errorType": "Runtime.ExitError",
    }
    return json.dumps(error).encode(), True


def _is_cold_start(target: _Target, runtime_arn: str | None) -> bool:
    """True the first time an execution environment is needed for this exact configuration.

    Lambda recycles environments when code or configuration changes, and a version's runtime
    version changing is such a change: all of that is in the key.
    """
    fn = target.fn
    environments: set[tuple[Any, ...]] = lambda_backend(
        fn.account_id, fn.region
    ).__dict__.setdefault(_ENVIRONMENTS_ATTRIBUTE, set())
    key = (
        fn.function_name,
        target.executed_version,
        runtime_arn,
        fn.last_modified,  # creation / publication time: tells a re-created function apart
        getattr(fn, "code_sha_256", ""),
        fn.handler,
        fn.run_time,
        fn.memory_size,
        fn.timeout,
        fn.role,
        fn.description,
        tuple(fn.architectures),
        tuple(sorted((fn.environment_vars or {}).items())),
        repr(fn.layers),
        repr(getattr(fn, "_vpc_config", None)),
        tuple(sorted(logging_config(fn).items())),
    )
    if key in environments:
        return False
    environments.add(key)
    return True


def _log_init_start(
    target: _Target, runtime_arn: str | None, runtime_version: RuntimeVersion | None, at: datetime
) -> None:
    """Write Lambda's cold-start record to a fresh stream of the function's log group.

    The function version's `LoggingConfig` decides where and how, as on AWS: `LogGroup` (default
    `/aws/lambda/<name>`) and `LogFormat` — Text writes the `INIT_START` line, JSON the
    `platform.initStart` record (Telemetry API event schema). Written to the log group
    directly: moto's PutLogEvents refuses timestamps more than two hours past the real clock,
    and the virtual clock is often days ahead.
    """
    if runtime_arn is None:
        return  # container images print no runtime version
    fn = target.fn
    config = logging_config(fn)
    logs = logs_backends[fn.account_id][fn.region]
    group_name = config["LogGroup"]
    logs.ensure_log_group(group_name)
    group = logs.groups[group_name]
    stream = f"{at:%Y/%m/%d}/[{target.executed_version}]{STATE.rng.getrandbits(128):032x}"
    group.create_log_stream(stream)
    name = runtime_version.name if runtime_version else fn.run_time
    if config["LogFormat"] == JSON_FORMAT:
        message = json.dumps(
            {
                "time": f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.}{at.microsecond // 1000:03d}Z",
                "type": "platform.initStart",
                "record": {
                    "initializationType": "on-demand",
                    "phase": "init",
                    "runtimeVersion": name,
                    "runtimeVersionArn": runtime_arn,
                    "functionName": fn.function_name,
                    "functionVersion": target.executed_version,
                },
            }
        )
    else:
        message = f"INIT_START Runtime Version: {name}\tRuntime Version ARN: {runtime_arn}\n"
    group.put_log_events(stream, [{"timestamp": _epoch_millis(at), "message": message}])


def _epoch_millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def install_invocation() -> None:
    """Route moto's Lambda invocations through here (once; `emulator.traffic.install`)."""
    global _moto_invoke
    # The base-class invoke: look the version up, `fn.invoke` (which emulator.functions
    # answers in process for project handlers). The Docker-less backend moto runs here
    # overrides it with an echo, so both classes get the routing invoke.
    _moto_invoke = LambdaBackend.invoke
    LambdaBackend.invoke = _backend_invoke  # type: ignore[method-assign]
    LambdaSimpleBackend.invoke = _backend_invoke  # type: ignore[method-assign]
    LambdaResponse.invoke = _honouring_qualifier(LambdaResponse.invoke)  # type: ignore[method-assign]
