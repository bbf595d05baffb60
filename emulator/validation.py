"""Every request the embedded AWS serves is validated against botocore's model of its operation.

AWS's front end (Coral) checks each request against the service model before the service sees
it: required members, types, enums, lengths, ranges and each string's `pattern`. moto checks
almost none of it, and botocore's client-side validator checks neither patterns, enums nor
maxima — and a request from the AWS CLI, curl or a client built with
`parameter_validation=False` skips it entirely. This module refuses, on the server side, what AWS
refuses, with the message AWS writes:

    1 validation error detected: Value 'x' at 'resource' failed to satisfy constraint:
    Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:...

Where: one wrap of moto's `BaseResponse.call_action`, which every service's request passes through
after moto has matched the operation — in process (moto's botocore stubber) and in the server
alike. The request is read back from the wire per protocol (JSON bodies keep their JSON types, so
a number sent for a string is a `SerializationException` as in AWS; query strings, URI labels and
headers are text and are converted by shape). S3 (rest-xml, its own dispatch) is not covered.

Patterns are Java regular expressions (`\\p{L}`, `\\p{Punct}`, surrogate-pair ranges, `\\x{..}`):
they are translated where Java and the `regex` engine differ, compiled once and cached; shapes'
constraint lists are cached per shape too. `STATE.validation` turns the whole check off for users
who want moto's leniency (`EmbeddedAws(validation=False)`, `rollforward emulator --lenient`).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import regex
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape
from moto.core.common_types import TYPE_RESPONSE
from moto.core.parse import UNDEFINED, EC2QueryParser, QueryParser
from moto.core.responses import BaseResponse
from moto.core.utils import get_service_model

from emulator.state import STATE

log = logging.getLogger(__name__)

# The error code each service answers a failed validation with (LocalStack's AWS-validated
# snapshot tests, tests/aws/services/*/…snapshot.json); otherwise the protocol's usual code.
SERVICE_CODES: Mapping[str, str] = {
    "logs": "InvalidParameterException",
}
PROTOCOL_CODES: Mapping[str, str] = {
    "json": "ValidationException",
    "rest-json": "ValidationException",
    "query": "ValidationError",
    "ec2": "InvalidParameterValue",
}
# JSON whose types do not fit the shape fails deserialization, before validation.
SERIALIZATION_CODE = "SerializationException"
STATUS = 400


# --------------------------------------------------------------------------------------------
# Java regular expressions on the `regex` engine
# --------------------------------------------------------------------------------------------

# Java's POSIX classes are US-ASCII (java.util.regex.Pattern), as class fragments.
_POSIX = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7F",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1F\\x7F",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0B\\f\\r",
    "all": "\\s\\S",
    "LD": "\\p{L}\\p{Nd}",  # Java's "letter or digit"
    "javaLowerCase": "\\p{Ll}",
    "javaUpperCase": "\\p{Lu}",
    "javaWhitespace": "\\s",
}
_SURROGATE_PAIR = regex.compile(r"\\u(D[89AB][0-9A-Fa-f]{2})\\u(D[C-Fa-f][0-9A-Fa-f]{2})")
_BRACED_HEX = regex.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")


def _code_point(high: str, low: str) -> int:
    return 0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00)


def java_to_python(pattern: str) -> str:
    """Rewrite the Java-only constructs the service models use into `regex` syntax."""
    pattern = _SURROGATE_PAIR.sub(lambda m: f"\\U{_code_point(m[1], m[2]):08X}", pattern)
    pattern = _BRACED_HEX.sub(lambda m: f"\\U{int(m[1], 16):08X}", pattern)
    out: list[str] = []
    depth = 0  # inside a character class
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            if pattern[i + 1] == "p" and pattern[i + 2 : i + 3] == "{":
                end = pattern.find("}", i)
                name = pattern[i + 3 : end] if end > 0 else ""
                name = name[2:] if name.startswith("Is") and name[2:] in _POSIX else name
                if name in _POSIX:
                    fragment = _POSIX[name]
                    out.append(fragment if depth else f"[{fragment}]")
                    i = end + 1
                    continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        out.append(char)
        i += 1
    return "".join(out)


@functools.cache
def compiled(pattern: str) -> regex.Pattern[str] | None:
    """The model's pattern, compiled once; None when it cannot be expressed (never enforced)."""
    try:
        return regex.compile(java_to_python(pattern))
    except regex.error:
        log.debug("pattern %r cannot be compiled; not enforced", pattern)
        return None


def matches(pattern: str, value: str) -> bool:
    """Java's `Pattern.matches`: the whole value matches (an uncompilable pattern admits)."""
    compiled_pattern = compiled(pattern)
    return compiled_pattern is None or compiled_pattern.fullmatch(value) is not None


# --------------------------------------------------------------------------------------------
# The check itself: a value against a shape, collecting AWS's messages
# --------------------------------------------------------------------------------------------


class SerializationError(Exception):
    """A JSON value of the wrong type: AWS fails to deserialize the request."""


_JAVA_TYPES = {bool: "java.lang.Boolean", str: "java.lang.String"}
_TARGET_TYPES = {
    "string": "String",
    "integer": "Integer",
    "long": "Long",
    "float": "Float",
    "double": "Double",
    "boolean": "Boolean",
    "timestamp": "Date",
    "blob": "ByteBuffer",
}


def _wrong_type(value: Any, shape: Shape) -> SerializationError:
    if isinstance(value, dict):
        return SerializationError("Start of structure or map found where not expected.")
    if isinstance(value, list):
        return SerializationError("Start of list found where not expected.")
    java = _JAVA_TYPES.get(type(value), "com.amazon.coral.value.json.numbers.TruncatingBigNumber")
    target = _TARGET_TYPES.get(shape.type_name, shape.type_name)
    return SerializationError(f"class {java} can not be converted to an {target}")


def render(value: Any) -> str:
    """A value as Java's toString shows it in AWS's messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    return str(value)


def java_length(value: str) -> int:
    """Java's String.length(): UTF-16 code units (a character outside the BMP counts two)."""
    return len(value) + sum(1 for char in value if ord(char) > 0xFFFF)


def _number(bound: Any) -> str:
    return str(bound)


@functools.cache
def _scalar_constraints(shape: Shape) -> tuple[tuple[str, Callable[[Any], bool]], ...]:
    """(message, check) per constraint of a scalar shape, in the order AWS lists them."""
    metadata = shape.metadata
    rules: list[tuple[str, Callable[[Any], bool]]] = []
    if shape.type_name == "string":
        if "max" in metadata:
            top = metadata["max"]
            rules.append(
                (
                    f"Member must have length less than or equal to {top}",
                    lambda v: java_length(v) <= top,
                )
            )
        if "min" in metadata:
            bottom = metadata["min"]
            rules.append(
                (
                    f"Member must have length greater than or equal to {bottom}",
                    lambda v: java_length(v) >= bottom,
                )
            )
        if "pattern" in metadata:
            pattern = metadata["pattern"]
            rules.append(
                (
                    f"Member must satisfy regular expression pattern: {pattern}",
                    lambda v: matches(pattern, v),
                )
            )
        if shape.enum:
            allowed = frozenset(shape.enum)
            rules.append(
                (
                    f"Member must satisfy enum value set: [{', '.join(shape.enum)}]",
                    lambda v: v in allowed,
                )
            )
    elif shape.type_name in ("integer", "long", "float", "double"):
        if "max" in metadata:
            top = metadata["max"]
            rules.append(
                (
                    f"Member must have value less than or equal to {_number(top)}",
                    lambda v: v <= top,
                )
            )
        if "min" in metadata:
            bottom = metadata["min"]
            rules.append(
                (
                    f"Member must have value greater than or equal to {_number(bottom)}",
                    lambda v: v >= bottom,
                )
            )
    elif shape.type_name == "blob" and "max" in metadata:
        top = metadata["max"]
        rules.append(
            (
                f"Member must have length less than or equal to {top}",
                lambda v: not isinstance(v, bytes | str) or len(v) <= top,
            )
        )
    return tuple(rules)


@functools.cache
def _collection_constraints(shape: Shape) -> tuple[tuple[str, Callable[[Any], bool]], ...]:
    rules: list[tuple[str, Callable[[Any], bool]]] = []
    if "max" in shape.metadata:
        top = shape.metadata["max"]
        rules.append(
            (f"Member must have length less than or equal to {top}", lambda v: len(v) <= top)
        )
    if "min" in shape.metadata:
        bottom = shape.metadata["min"]
        rules.append(
            (
                f"Member must have length greater than or equal to {bottom}",
                lambda v: len(v) >= bottom,
            )
        )
    return tuple(rules)


_SCALARS = frozenset(
    ("string", "integer", "long", "float", "double", "boolean", "timestamp", "blob")
)


def _convert_text(value: Any, shape: Shape) -> Any:
    """A value that arrived as text (query string, URI label, header, query protocol)."""
    if not isinstance(value, str):
        return value
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(value)
        if kind in ("float", "double"):
            return float(value)
    except ValueError as error:
        raise SerializationError(f"Value '{value}' is not a valid number") from error
    if kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise SerializationError(f"Value '{value}' is not a valid boolean")
        return value.lower() == "true"
    return value


def _check_type(value: Any, shape: Shape) -> None:
    kind = shape.type_name
    if kind == "string" or kind == "blob":
        ok = isinstance(value, str | bytes)
    elif kind in ("integer", "long", "float", "double"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "timestamp":
        ok = isinstance(value, int | float | str) and not isinstance(value, bool)
    elif kind == "list":
        ok = isinstance(value, list)
    elif kind in ("map", "structure"):
        ok = isinstance(value, dict)
    else:
        ok = True
    if not ok:
        raise _wrong_type(value, shape)


@dataclass(frozen=True)
class Violation:
    path: str
    value: Any
    constraint: str

    def __str__(self) -> str:
        shown = "null" if self.value is None else f"'{render(self.value)}'"
        return f"Value {shown} at '{self.path}' failed to satisfy constraint: {self.constraint}"


def member_path(name: str) -> str:
    """AWS names members in messages in lower camel case: `RoutingConfig` -> `routingConfig`."""
    return name[:1].lower() + name[1:]


def _failed_scalar(shape: Shape, value: Any) -> list[str]:
    return [message for message, check in _scalar_constraints(shape) if not check(value)]


def check(shape: Shape, value: Any, path: str, *, text: bool = False) -> Iterator[Violation]:
    """Violations of `value` against `shape`, at `path`. Raises SerializationError on a type
    mismatch; `text` means scalars arrived as strings and are converted by shape first."""
    if shape.metadata.get("document") or shape.serialization.get("eventstream"):
        return
    if text:
        value = _convert_text(value, shape)
    _check_type(value, shape)
    kind = shape.type_name
    if kind in _SCALARS:
        for message in _failed_scalar(shape, value):
            yield Violation(path, value, message)
        return
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        yield from _check_structure(shape, value, path, text=text)
        return
    for message, check_length in _collection_constraints(shape):
        if not check_length(value):
            yield Violation(path, value, message)
    if kind == "list":
        member = shape.member
        if member.type_name in _SCALARS:
            failed: list[str] = []
            for item in value:
                if item is None:
                    continue
                if text:
                    item = _convert_text(item, member)
                _check_type(item, member)
                failed += [m for m in _failed_scalar(member, item) if m not in failed]
            if failed:
                yield Violation(
                    path, value, f"Member must satisfy constraint: [{', '.join(failed)}]"
                )
            return
        for index, item in enumerate(value, start=1):
            if item is not None:
                yield from check(member, item, f"{path}.{index}.member", text=text)
    elif kind == "map":
        yield from _check_map(shape, value, path, text=text)


def _all_constraints(shape: Shape) -> list[str]:
    return [message for message, _ in _scalar_constraints(shape)]


def _check_map(
    shape: Shape, value: dict[str, Any], path: str, *, text: bool
) -> Iterator[Violation]:
    key_shape, value_shape = shape.key, shape.value
    if any(_failed_scalar(key_shape, key) for key in value):
        yield Violation(
            path,
            value,
            f"Map keys must satisfy constraint: [{', '.join(_all_constraints(key_shape))}]",
        )
    if value_shape.type_name in _SCALARS:
        bad = False
        for item in value.values():
            if item is None:
                bad = True
                continue
            if text:
                item = _convert_text(item, value_shape)
            _check_type(item, value_shape)
            bad = bad or bool(_failed_scalar(value_shape, item))
        if bad:
            listed = [*_all_constraints(value_shape), "Member must not be null"]
            yield Violation(
                path, value, f"Map value must satisfy constraint: [{', '.join(listed)}]"
            )
        return
    for key, item in value.items():
        if item is None:
            yield Violation(f"{path}.{key}.member", None, "Member must not be null")
        else:
            yield from check(value_shape, item, f"{path}.{key}.member", text=text)


def _check_structure(
    shape: StructureShape, value: dict[str, Any], path: str, *, text: bool
) -> Iterator[Violation]:
    prefix = f"{path}." if path else ""
    required = set(shape.required_members)
    for name, member in shape.members.items():
        item = value.get(name)
        if item is None:
            if name in required:
                yield Violation(prefix + member_path(name), None, "Member must not be null")
            continue
        yield from check(member, item, prefix + member_path(name), text=text)


def message(violations: list[Violation]) -> str:
    count = len(violations)
    detected = f"{count} validation error{'s' if count != 1 else ''} detected: "
    return detected + "; ".join(str(v) for v in violations)


# --------------------------------------------------------------------------------------------
# Reading a request back from the wire, per protocol
# --------------------------------------------------------------------------------------------


@functools.cache
def service_model(service_name: str) -> ServiceModel | None:
    try:
        # moto's flavour of botocore's model: its query parsers need it
        return get_service_model(service_name)
    except Exception:  # not a botocore service (moto-only names): nothing to validate against
        return None


def _json_body(body: Any) -> Any:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body or not body.strip():
        return {}
    return json.loads(body)


class _TextQueryParser(QueryParser):
    """moto's query parser with scalars left as the text they arrived as."""

    def _text(self, shape: Shape, node: Any, prefix: str = "") -> Any:
        return self._default_handle(shape, node, prefix)  # type: ignore[no-untyped-call]

    _parse_integer = _parse_long = _parse_float = _parse_double = _text
    _parse_boolean = _parse_timestamp = _parse_blob = _text


class _TextEC2QueryParser(EC2QueryParser):
    def _text(self, shape: Shape, node: Any, prefix: str = "") -> Any:
        return self._default_handle(shape, node, prefix)  # type: ignore[no-untyped-call]

    _parse_integer = _parse_long = _parse_float = _parse_double = _text
    _parse_boolean = _parse_timestamp = _parse_blob = _text


@dataclass(frozen=True)
class Located:
    """Input members split by where they travel: text (URI, query, headers) or JSON."""

    text: dict[str, Any]
    json: dict[str, Any]


def _read_rest_json(response: BaseResponse, operation: OperationModel) -> Located:
    shape = operation.input_shape
    assert shape is not None
    request = response.normalized_request
    text: dict[str, Any] = {}
    body_members = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            if wire in response.uri_match:
                text[name] = response.uri_match[wire]
        elif location == "querystring":
            if member.type_name == "list":
                values = request.args.getlist(wire)
                if values:
                    text[name] = values
            elif member.type_name == "map":
                text[name] = {k: v for k, v in request.args.items()}
            elif wire in request.args:
                text[name] = request.args[wire]
        elif location == "header":
            if wire in request.headers:
                text[name] = request.headers[wire]
        elif location == "headers":
            continue
        else:
            body_members[name] = member
    payload = shape.serialization.get("payload")
    document: dict[str, Any] = {}
    if payload:
        member = shape.members[payload]
        if member.type_name == "structure":
            parsed = _json_body(request.get_data())
            if parsed:
                document[payload] = parsed
        elif request.get_data():
            document[payload] = request.get_data()
    elif body_members:
        parsed = _json_body(request.get_data())
        if not isinstance(parsed, dict):
            raise SerializationError("Start of list found where not expected.")
        for name, member in body_members.items():
            wire = member.serialization.get("name", name)
            if parsed.get(wire) is not None:
                document[name] = parsed[wire]
    return Located(text, document)


def _read(response: BaseResponse, operation: OperationModel, protocol: str) -> Located:
    shape = operation.input_shape
    assert shape is not None
    if protocol == "json":
        parsed = _json_body(response.normalized_request.get_data())
        if not isinstance(parsed, dict):
            raise SerializationError("Start of list found where not expected.")
        renamed = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if parsed.get(wire) is not None:
                renamed[name] = parsed[wire]
        return Located({}, renamed)
    if protocol == "rest-json":
        return _read_rest_json(response, operation)
    parser_class = _TextEC2QueryParser if protocol == "ec2" else _TextQueryParser
    parsed = parser_class(operation).parse(
        {
            "method": response.method,
            "values": response.normalized_request.values,
            "headers": response.normalized_request.headers,
            "body": response.normalized_request.get_data(),
            "url_path": response.path,
            "url_params": response.uri_match,
        }
    )
    return Located({k: v for k, v in parsed.items() if v is not UNDEFINED}, {})


def validate_request(
    service: ServiceModel, operation: OperationModel, located: Located
) -> list[Violation]:
    """Every violation of the request, in member order (text members, then JSON ones)."""
    shape = operation.input_shape
    if shape is None:
        return []
    assert isinstance(shape, StructureShape)
    body_prefix = ""
    if service.service_name == "apigateway":
        # API Gateway names body members under the input shape: 'createRestApiInput.name'.
        body_prefix = member_path(shape.name)
    violations: list[Violation] = []
    required = set(shape.required_members)
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        if name in located.text:
            violations += check(member, located.text[name], member_path(name), text=True)
        elif name in located.json:
            path = member_path(name)
            if body_prefix and location is None:
                path = f"{body_prefix}.{path}"
            violations += check(member, located.json[name], path)
        elif name in required:
            path = member_path(name)
            if body_prefix and location is None:
                path = f"{body_prefix}.{path}"
            violations.append(Violation(path, None, "Member must not be null"))
    return violations


# --------------------------------------------------------------------------------------------
# The refusal, in the service's protocol
# --------------------------------------------------------------------------------------------


def _protocol(service: ServiceModel, content_type: str) -> str | None:
    protocols = list(service.metadata.get("protocols", [service.protocol]))
    if content_type.startswith("application/x-amz-json") and "json" in protocols:
        return "json"
    if content_type.startswith("application/x-www-form-urlencoded"):
        if "ec2" in protocols:
            return "ec2"
        if "query" in protocols:
            return "query"
    if "rest-json" in protocols:
        return "rest-json"
    if service.protocol in ("json", "query", "ec2"):
        return str(service.protocol)
    return None  # rest-xml (S3 and friends), CBOR: not read here


def error_response(service: ServiceModel, protocol: str, code: str, text: str) -> TYPE_RESPONSE:
    """The error as the service's protocol carries it (botocore reads the code back)."""
    request_id = str(uuid.uuid4())
    headers = {"status": str(STATUS), "x-amzn-RequestId": request_id}
    if protocol in ("query", "ec2"):
        headers["Content-Type"] = "text/xml"
        if protocol == "ec2":
            body = (
                f"<Response><Errors><Error><Code>{code}</Code><Message>{escape(text)}</Message>"
                f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
            )
        else:
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{escape(text)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        return STATUS, headers, body
    headers["x-amzn-ErrorType"] = code
    if protocol == "json":
        version = service.metadata.get("jsonVersion", "1.0")
        headers["Content-Type"] = f"application/x-amz-json-{version}"
        document: dict[str, str] = {"__type": code, "message": text}
        if "awsQueryCompatible" in service.metadata:  # (an empty object in the model)
            query_code = "ValidationError" if code == "ValidationException" else code
            headers["x-amzn-query-error"] = f"{query_code};Sender"
    else:
        headers["Content-Type"] = "application/json"
        document = {"message": text}
        if service.service_name == "lambda":
            document = {"Type": "User", "message": text}
    return STATUS, headers, json.dumps(document)


def refusal(response: BaseResponse) -> TYPE_RESPONSE | None:
    """AWS's answer to an invalid request, or None when the request is valid (or not ours)."""
    service = service_model(response.boto3_service_name)
    if service is None:
        return None
    protocol = _protocol(service, response.headers.get("Content-Type", "") or "")
    if protocol is None:
        return None
    action = response._get_action()
    if not action or action not in service.operation_names:
        return None
    operation = service.operation_model(action)
    if operation.input_shape is None:
        return None
    try:
        violations = validate_request(service, operation, _read(response, operation, protocol))
    except SerializationError as error:
        if protocol in ("query", "ec2"):
            code = SERVICE_CODES.get(service.service_name, PROTOCOL_CODES[protocol])
        else:
            code = SERIALIZATION_CODE
        return error_response(service, protocol, code, str(error))
    except ValueError:  # a body that is not JSON at all: moto answers it as it does
        return None
    if not violations:
        return None
    code = SERVICE_CODES.get(service.service_name, PROTOCOL_CODES[protocol])
    return error_response(service, protocol, code, message(violations))


@dataclass
class ValidationStats:
    """Requests checked and refused, and the seconds spent checking (for bench/validation.py)."""

    checked: int = 0
    refused: int = 0
    seconds: float = 0.0


STATS = ValidationStats()
_stats_lock = threading.Lock()


def _patched_call_action(original: Callable[..., TYPE_RESPONSE]) -> Callable[..., TYPE_RESPONSE]:
    @functools.wraps(original)
    def call_action(self: BaseResponse) -> TYPE_RESPONSE:
        if STATE.validation:
            started = time.perf_counter()
            refused = refusal(self)
            elapsed = time.perf_counter() - started
            with _stats_lock:
                STATS.checked += 1
                STATS.refused += refused is not None
                STATS.seconds += elapsed
            if refused is not None:
                return refused
        return original(self)

    return call_action


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Wrap moto's `BaseResponse.call_action` once; must run before the parts that wrap a
    service's own `call_action` (they copy the base method when they install)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        BaseResponse.call_action = _patched_call_action(BaseResponse.call_action)  # type: ignore[method-assign]
        _installed = True
