"""Which service a request to the server is for, from the request itself, and AWS's answer
when it is unsigned or signed for another service.

On AWS the endpoint decides the service (`lambda.us-east-1.amazonaws.com`), whatever the
signature says. The emulator server has one endpoint, and moto picks the service from the
signature's credential scope, or for an unsigned request falls back to S3 — so an unsigned
Lambda call got S3's 404 and a Lambda call signed for SQS reached SQS. Here the service comes
from what the request is: its `X-Amz-Target` (JSON protocols), the `Version` of a query
request, or the REST path of an operation (botocore's `requestUri`s); anything else is S3,
as moto routes it. Then:

- no `Authorization` → `MissingAuthenticationToken` in that service's protocol (S3: an
  anonymous request to a private bucket, `AccessDenied` 403);
- an `Authorization` header that is not SigV4's shape → `IncompleteSignature`;
- a credential scope naming another service → the signature error with "Credential should be
  scoped to correct service: '<service>'".

Sources and where this still differs: docs/parity/iam.md.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from moto.moto_server.werkzeug_app import UNSIGNED_ACTIONS, UNSIGNED_REQUESTS

from emulator import iam

# Services whose REST paths the server recognises (rest-json ones the project and its users
# call); every other path is S3's, as moto routes it.
REST_SERVICES = ("lambda", "apigateway", "scheduler")
S3 = iam.ServiceInfo("s3", "s3", "rest-xml")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@functools.cache
def _query_versions() -> dict[str, iam.ServiceInfo]:
    """apiVersion → query-protocol service, for versions only one such service has."""
    session = iam._session()
    seen: dict[str, list[iam.ServiceInfo]] = {}
    for name in session.get_available_services():
        try:
            metadata = session.get_service_model(name).metadata
        except Exception:  # a model botocore cannot load is a service nobody here calls
            continue
        protocols = set(metadata.get("protocols") or [metadata.get("protocol")])
        if not protocols & {"query", "ec2"}:
            continue
        info = iam.service_of_boto3_name(name)
        if info is not None:
            seen.setdefault(str(metadata.get("apiVersion")), []).append(info)
    return {version: infos[0] for version, infos in seen.items() if len(infos) == 1}


def _template_regex(uri: str) -> re.Pattern[str]:
    path = uri.split("?", 1)[0]
    pattern = re.escape(path)
    pattern = re.sub(r"\\\{[^}]+\\\+\\\}", r".+", pattern)  # {Key+}: one or more segments
    pattern = re.sub(r"\\\{[^}]+\\\}", r"[^/]+", pattern)
    return re.compile(f"^{pattern}/?$")


@functools.cache
def _rest_routes() -> tuple[tuple[str, re.Pattern[str], iam.ServiceInfo], ...]:
    """(HTTP method, path regex, service) of every operation of REST_SERVICES."""
    session = iam._session()
    routes: list[tuple[str, re.Pattern[str], iam.ServiceInfo]] = []
    for name in REST_SERVICES:
        info = iam.service_of_boto3_name(name)
        if info is None:
            continue
        model = session.get_service_model(name)
        for operation in model.operation_names:
            http = model.operation_model(operation).http
            routes.append((http.get("method", "GET"), _template_regex(http["requestUri"]), info))
    return tuple(routes)


@dataclass(frozen=True, slots=True)
class Intended:
    """The service a request is for, and the wire format it speaks (its errors answer in it):
    `json` (X-Amz-Target), `query` (form-encoded Action/Version), `rest-json`, `rest-xml`."""

    info: iam.ServiceInfo
    wire: str


def intended_service(method: str, url: str, headers: Mapping[str, str], body: bytes) -> Intended:
    """The service the request is for, independent of its signature."""
    lower = {k.lower(): v for k, v in headers.items()}
    target = lower.get("x-amz-target", "")
    if target:
        info = iam.service_by_key(target.split(".", 1)[0])
        if info is not None:
            return Intended(info, "json")
    parts = urlsplit(url)
    content_type = lower.get("content-type", "")
    form = (
        dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if content_type.startswith("application/x-www-form-urlencoded")
        else {}
    )
    version = form.get("Version") or dict(parse_qsl(parts.query)).get("Version")
    if version and (form.get("Action") or "Action=" in parts.query):
        info = _query_versions().get(version)
        if info is not None:
            return Intended(info, "query")
    for route_method, pattern, info in _rest_routes():
        if route_method == method and pattern.match(parts.path):
            return Intended(info, "rest-json")
    return Intended(S3, "rest-xml")


def _unsigned_by_design(lower: Mapping[str, str], url: str, body: bytes) -> bool:
    """Calls AWS serves unsigned (STS web identity and SAML, Cognito's public APIs)."""
    target = lower.get("x-amz-target", "").split(".", 1)[0]
    if target in UNSIGNED_REQUESTS:
        return True
    text = body.decode("utf-8", "replace") if body else ""
    action = dict(parse_qsl(text)).get("Action") or dict(parse_qsl(urlsplit(url).query)).get(
        "Action"
    )
    return action in UNSIGNED_ACTIONS


def _error(intended: Intended, code: str, status: int, message: str) -> Answer:
    request_id = "00000000-0000-0000-0000-000000000000"
    if intended.wire == "query":
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return Answer(status, {"Content-Type": "text/xml"}, body.encode())
    if intended.wire == "rest-xml":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>emulator</HostId></Error>"
        )
        return Answer(status, {"Content-Type": "application/xml"}, body.encode())
    headers = {"x-amzn-ErrorType": code, "x-amzn-RequestId": request_id}
    if _query_compatible(intended.info):
        # JSON on the wire, query error codes: botocore reads them from this header.
        headers["x-amzn-query-error"] = f"{code};Sender"
    if intended.wire == "rest-json":
        headers["Content-Type"] = "application/json"
        return Answer(status, headers, json.dumps({"message": message}).encode())
    headers["Content-Type"] = "application/x-amz-json-1.1"
    return Answer(status, headers, json.dumps({"__type": code, "message": message}).encode())


# (code, HTTP status) per protocol family: query/ec2, json, rest-json.
_MISSING = {
    "query": ("MissingAuthenticationToken", 403),
    "json": ("MissingAuthenticationTokenException", 400),
    "rest-json": ("MissingAuthenticationTokenException", 403),
}
_INCOMPLETE = {
    "query": ("IncompleteSignature", 400),
    "json": ("IncompleteSignatureException", 400),
    "rest-json": ("IncompleteSignatureException", 403),
}
_WRONG_SCOPE = {
    "query": ("SignatureDoesNotMatch", 403),
    "json": ("InvalidSignatureException", 400),
    "rest-json": ("InvalidSignatureException", 403),
}


@functools.cache
def _query_compatible(info: iam.ServiceInfo) -> bool:
    """A JSON service that keeps its query-protocol error codes (CloudWatch, SQS)."""
    try:
        metadata = iam._session().get_service_model(info.name).metadata
    except Exception:
        return False
    return "awsQueryCompatible" in metadata


def _family(intended: Intended) -> str:
    """Whose error codes: query's (also query-compatible JSON services), JSON's or REST's."""
    if intended.wire == "query" or _query_compatible(intended.info):
        return "query"
    return "rest-json" if intended.wire == "rest-json" else "json"


_SIGV4 = re.compile(r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=[^,\s]+,")


def refusal(method: str, url: str, headers: Mapping[str, str], body: bytes) -> Answer | None:
    """AWS's answer to a request the endpoint refuses before any service sees it, or None."""
    lower = {k.lower(): v for k, v in headers.items()}
    authorization = lower.get("authorization", "")
    query = dict(parse_qsl(urlsplit(url).query))
    if not authorization and "X-Amz-Signature" in query:
        return None  # presigned; emulator.iam refuses what it cannot verify
    if not authorization and _unsigned_by_design(lower, url, body):
        return None
    intended = intended_service(method, url, headers, body)
    info = intended.info
    if intended.wire == "rest-xml":
        # S3 serves anonymous requests to public buckets and answers the rest itself.
        if not authorization:
            return _error(intended, "AccessDenied", 403, "Access Denied")
        return None
    family = _family(intended)
    if not authorization:
        code, status = _MISSING[family]
        message = (
            "Missing Authentication Token"
            if family == "rest-json"
            else "Request is missing Authentication Token"
        )
        return _error(intended, code, status, message)
    match = _SIGV4.match(authorization)
    if match is None:
        code, status = _INCOMPLETE[family]
        return _error(
            intended,
            code,
            status,
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
            f"parameters (AWS4-HMAC-SHA256). Authorization={authorization[:60]}",
        )
    scope = match.group(1).split("/")
    if len(scope) == 5 and scope[3] != info.signing_name:
        code, status = _WRONG_SCOPE[family]
        return _error(
            intended,
            code,
            status,
            f"Credential should be scoped to correct service: '{info.signing_name}'. ",
        )
    return None
