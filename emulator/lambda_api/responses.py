"""How moto's Lambda responses are reshaped as AWS answers: `RuntimeVersionConfig` (and
`LastUpdateStatus` while an update is in progress, emulator.lambda_api.updates) on every
FunctionConfiguration response but the List* ones, and ListFunctions paged at 50."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import LambdaBackend
from moto.awslambda.responses import LambdaResponse

from emulator.lambda_api.updates import last_update_status
from emulator.lambda_api.versions import LATEST, runtime_version_arn
from emulator.lambda_api.wire import _json_object, invalid_parameter_value

# --------------------------------------------------------------------------------------------
# RuntimeVersionConfig on FunctionConfiguration responses (never on List*)
# --------------------------------------------------------------------------------------------


def _add_runtime_version_config(backend: LambdaBackend, configuration: dict[str, Any]) -> None:
    """Look the version up again by name and Version (the response is all moto hands back)."""
    try:
        fn = backend.get_function(configuration["FunctionName"], configuration["Version"])
    except (KeyError, UnknownFunctionException):
        return
    arn = runtime_version_arn(fn) if fn is not None else None
    if arn is not None:
        configuration["RuntimeVersionConfig"] = {"RuntimeVersionArn": arn}


def _with_runtime_version_config(
    original: Callable[..., Any], locate: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> Callable[..., Any]:
    """Wrap a moto response method whose JSON body holds a FunctionConfiguration."""

    @functools.wraps(original)
    def wrapper(self: LambdaResponse, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        if isinstance(result, str):
            return _edit_body(self, result, locate)
        status, headers, body = result
        return status, headers, _edit_body(self, body, locate)

    return wrapper


def _edit_body(
    response: LambdaResponse, body: str, locate: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> str:
    document = _json_object(body)
    configuration = locate(document) if document else None
    if configuration is None:
        return body
    _add_runtime_version_config(response.backend, configuration)
    last_update_status(response, configuration)
    return json.dumps(document)


def _whole_body(document: dict[str, Any]) -> dict[str, Any]:
    return document


def _configuration_member(document: dict[str, Any]) -> dict[str, Any] | None:
    configuration = document.get("Configuration")
    return configuration if isinstance(configuration, dict) else None


# --------------------------------------------------------------------------------------------
# ListFunctions: at most 50 per page, MaxItems and Marker honoured
# --------------------------------------------------------------------------------------------

LIST_FUNCTIONS_PAGE_LIMIT = 50  # "ListFunctions returns a maximum of 50 items in each response"


def _listing_key(configuration: Mapping[str, Any]) -> tuple[str, int]:
    version = str(configuration.get("Version", LATEST))
    return str(configuration.get("FunctionName", "")), (
        -1 if version == LATEST else int(version) if version.isdigit() else 0
    )


def _marker(key: tuple[str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _after(marker: str) -> tuple[str, int]:
    try:
        name, version = json.loads(base64.urlsafe_b64decode(marker.encode()))
        return str(name), int(version)
    except (ValueError, TypeError) as error:
        raise invalid_parameter_value(f"Invalid marker: {marker}") from error


def _paged_list_functions(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto answers every function in one page; AWS pages, ordered and resumable by Marker."""

    @functools.wraps(original)
    def list_functions(self: LambdaResponse) -> Any:
        query = parse_qs(self.parsed_url.query)
        markers = query.get("Marker")
        after = _after(markers[0]) if markers and markers[0] else None
        max_items = query.get("MaxItems")
        requested = int(max_items[0]) if max_items else LIST_FUNCTIONS_PAGE_LIMIT
        size = min(requested, LIST_FUNCTIONS_PAGE_LIMIT)
        document = _json_object(original(self)) or {}
        listed = sorted(document.get("Functions", []), key=_listing_key)
        if after is not None:
            listed = [f for f in listed if _listing_key(f) > after]
        page: dict[str, Any] = {"Functions": listed[:size]}
        if len(listed) > size:
            page["NextMarker"] = _marker(_listing_key(listed[size - 1]))
        return json.dumps(page)

    return list_functions
