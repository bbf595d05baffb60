"""Lambda's `LoggingConfig` on moto's functions: stored, answered, and honoured by cold starts.

What AWS does (Lambda developer guide, "Configuring advanced logging controls for Lambda
functions") and moto lacks entirely:

- CreateFunction / UpdateFunctionConfiguration take `LoggingConfig` {`LogFormat` Text|JSON,
  `ApplicationLogLevel`, `SystemLogLevel`, `LogGroup`}; every FunctionConfiguration answer
  (GetFunction, GetFunctionConfiguration, ListFunctions…) carries it, defaulted to
  `{"LogFormat": "Text", "LogGroup": "/aws/lambda/<name>"}`.
- Log levels are only accepted with the JSON format (InvalidParameterValueException); with JSON
  they default to INFO.
- A published version keeps the configuration it was published with (stored immutably here:
  `publish_version` shallow-copies `$LATEST`, and an update replaces, never mutates, it).

`emulator.traffic` reads `logging_config(fn)` to write each cold start's INIT_START line or
`platform.initStart` record into the configured group.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

from moto.awslambda.models import LambdaFunction

from emulator.lambda_api import invalid_parameter_value

TEXT: Final = "Text"
JSON: Final = "JSON"
DEFAULT_LEVEL: Final = "INFO"
_ATTRIBUTE: Final = "_rollforward_logging_config"
_lock = threading.Lock()
_installed = False


def default_log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def _normalized(requested: Any, function_name: str) -> Mapping[str, str]:
    """The configuration AWS stores and answers for a requested `LoggingConfig` (or none)."""
    requested = dict(requested or {})
    log_format = requested.get("LogFormat") or TEXT
    config = {"LogFormat": log_format, "LogGroup": requested.get("LogGroup") or ""}
    levels = {
        k: requested[k] for k in ("ApplicationLogLevel", "SystemLogLevel") if requested.get(k)
    }
    if log_format == JSON:
        config["ApplicationLogLevel"] = levels.get("ApplicationLogLevel", DEFAULT_LEVEL)
        config["SystemLogLevel"] = levels.get("SystemLogLevel", DEFAULT_LEVEL)
    elif levels:
        raise invalid_parameter_value(
            "Please provide LogFormat JSON to set ApplicationLogLevel or SystemLogLevel "
            "(log levels apply to the JSON log format only)."
        )
    config["LogGroup"] = config["LogGroup"] or default_log_group(function_name)
    return MappingProxyType(config)


def logging_config(fn: LambdaFunction) -> Mapping[str, str]:
    """The function version's LoggingConfig, as GetFunctionConfiguration answers it."""
    stored = getattr(fn, _ATTRIBUTE, None)
    return stored if stored is not None else _normalized(None, fn.function_name)


def _patched_init(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def __init__(
        self: LambdaFunction, account_id: str, spec: dict[str, Any], *a: Any, **k: Any
    ) -> None:
        original(self, account_id, spec, *a, **k)
        setattr(self, _ATTRIBUTE, _normalized(spec.get("LoggingConfig"), self.function_name))

    return __init__


def _patched_update_configuration(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def update_configuration(self: LambdaFunction, config_updates: dict[str, Any]) -> Any:
        # Validate before moto changes anything: a refused update changes nothing.
        new = (
            _normalized(config_updates["LoggingConfig"], self.function_name)
            if "LoggingConfig" in config_updates
            else None
        )
        result = original(self, config_updates)
        if new is not None:
            setattr(self, _ATTRIBUTE, new)
            result["LoggingConfig"] = dict(new)
        return result

    return update_configuration


def _patched_get_configuration(original: Callable[..., dict[str, Any]]) -> Callable[..., Any]:
    @functools.wraps(original)
    def get_configuration(self: LambdaFunction, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config = original(self, *args, **kwargs)
        config["LoggingConfig"] = dict(logging_config(self))
        return config

    return get_configuration


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        LambdaFunction.__init__ = _patched_init(LambdaFunction.__init__)  # type: ignore[method-assign]
        LambdaFunction.update_configuration = _patched_update_configuration(  # type: ignore[method-assign]
            LambdaFunction.update_configuration
        )
        LambdaFunction.get_configuration = _patched_get_configuration(  # type: ignore[method-assign]
            LambdaFunction.get_configuration
        )
        _installed = True
