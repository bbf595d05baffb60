"""Endpoints the embedded AWS serves beyond moto, in both modes.

- API Gateway `execute-api` calls to APIs deployed from the template (the decision API): the
  caller's identity comes from the SigV4 access key, as IAM auth would establish it, and the
  Lambda proxy event carries it in `requestContext.identity`.
- The emulator's control surface under `/_rollforward/` (clock, runtime releases, traffic,
  deploy, CloudTrail replay), used by `rollforward emulator ...` against a running server.

In process, moto's botocore stubber is asked first (patched below); in server mode the WSGI
middleware in `emulator.server` calls `dispatch` before handing a request to moto.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

Response = tuple[int, dict[str, str], bytes]

# https://{api}.execute-api.{region}.amazonaws.com/{stage}/{path}
EXECUTE_API_HOST = re.compile(
    r"^(?P<api>[a-z0-9]+)\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com$"
)
# LocalStack's form, for a custom endpoint: {endpoint}/restapis/{api}/{stage}/_user_request_/{path}
EXECUTE_API_PATH = re.compile(
    r"^/restapis/(?P<api>[a-z0-9]+)/(?P<stage>[^/]+)/_user_request_(?P<path>/.*)$"
)
CONTROL_PREFIX = "/_rollforward/"

ControlHandler = Callable[[dict[str, Any]], Any]
CONTROL_HANDLERS: dict[str, ControlHandler] = {}
_installed = False


def control(name: str) -> Callable[[ControlHandler], ControlHandler]:
    def register(handler: ControlHandler) -> ControlHandler:
        CONTROL_HANDLERS[name] = handler
        return handler

    return register


def is_emulator_route(url: str) -> bool:
    """Whether `dispatch` answers `url` (the control surface or an execute-api call): these
    are authenticated here, not as calls to an AWS service endpoint."""
    parts = urlsplit(url)
    return (
        parts.path.startswith(CONTROL_PREFIX)
        or EXECUTE_API_HOST.match(parts.hostname or "") is not None
        or EXECUTE_API_PATH.match(parts.path) is not None
    )


def _json_response(status: int, body: Any) -> Response:
    return status, {"Content-Type": "application/json"}, json.dumps(body, default=str).encode()


def dispatch(method: str, url: str, headers: dict[str, str], body: bytes) -> Response | None:
    """Answer `url` if it is one of ours, else None (moto answers)."""
    parts = urlsplit(url)
    if parts.path.startswith(CONTROL_PREFIX):
        return _control(parts.path[len(CONTROL_PREFIX) :], body)
    host_match = EXECUTE_API_HOST.match(parts.hostname or "")
    if host_match:
        stage, _, path = parts.path.lstrip("/").partition("/")
        return _execute_api(
            host_match["api"],
            host_match["region"],
            stage,
            "/" + path,
            method,
            headers,
            body,
            parts.query,
            url,
        )
    path_match = EXECUTE_API_PATH.match(parts.path)
    if path_match:
        return _execute_api(
            path_match["api"],
            None,
            path_match["stage"],
            path_match["path"],
            method,
            headers,
            body,
            parts.query,
            url,
        )
    return None


def _control(name: str, body: bytes) -> Response:
    handler = CONTROL_HANDLERS.get(name.strip("/"))
    if handler is None:
        return _json_response(
            404,
            {"message": f"no emulator control named {name!r}", "known": sorted(CONTROL_HANDLERS)},
        )
    try:
        arguments = json.loads(body or b"{}")
        return _json_response(200, handler(arguments))
    except (ValueError, KeyError, TypeError) as error:
        return _json_response(400, {"message": str(error)})


def _execute_api(
    api_id: str,
    region: str | None,
    stage: str,
    path: str,
    method: str,
    headers: dict[str, str],
    body: bytes,
    query: str,
    url: str = "",
) -> Response:
    from emulator.deploy import DEPLOYMENTS

    for deployment in DEPLOYMENTS.values():
        api = deployment.rest_apis.get(api_id)
        if api is None:
            continue
        route = api["routes"].get((method.upper(), path.rstrip("/") or "/"))
        if route is None or not route["function"]:
            return _json_response(404, {"message": "Missing Authentication Token"})
        if route["authorization"] == "AWS_IAM":
            identity, refusal = _caller(method, url, headers, body, deployment, api_id, stage, path)
            if refusal is not None:
                return refusal
        else:
            identity = None
        event = {
            "resource": path,
            "path": path,
            "httpMethod": method.upper(),
            "headers": dict(headers),
            "queryStringParameters": {k: v[-1] for k, v in parse_qs(query).items()} or None,
            "body": body.decode() if body else None,
            "isBase64Encoded": False,
            "requestContext": {
                "accountId": deployment.account,
                "apiId": api_id,
                "stage": stage,
                "httpMethod": method.upper(),
                "path": f"/{stage}{path}",
                "requestId": str(uuid.uuid4()),
                "identity": identity or {},
            },
        }
        return _invoke_proxy(route["function"], region or deployment.region, event)
    return _json_response(404, {"message": f"no API {api_id}"})


def _caller(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    deployment: Any,
    api_id: str,
    stage: str,
    path: str,
) -> tuple[dict[str, Any] | None, Response | None]:
    """API Gateway IAM auth: the caller is who the VERIFIED SigV4 signature says, and its
    identity policies must allow `execute-api:Invoke` on the method's ARN; otherwise 403 with
    API Gateway's message (https://repost.aws/knowledge-center/api-gateway-troubleshoot-403-forbidden).
    With enforcement off (`EmbeddedAws(iam=False)`), the access key alone names the caller."""
    from emulator import iam
    from emulator.lambda_api import caller_identity

    lower = {k.lower(): v for k, v in headers.items()}
    if not iam.ENFORCEMENT.enabled:
        if "Credential=" not in lower.get("authorization", ""):
            return None, _json_response(403, {"message": "Missing Authentication Token"})
        principal = caller_identity(headers, deployment.account)
        return _identity(principal, deployment.account), None
    host_region = EXECUTE_API_HOST.match(urlsplit(url).hostname or "")
    region = host_region["region"] if host_region else (iam.SERVER_REGION.value or None)
    verified = iam.authenticate(method, url, headers, body, service="execute-api", region=region)
    if isinstance(verified, iam.Refusal):
        message = {
            "missing": "Missing Authentication Token",
            "unknown-key": "The security token included in the request is invalid.",
        }.get(verified.cause, verified.message)
        return None, _json_response(403, {"message": message})
    resource = (
        f"arn:aws:execute-api:{region or deployment.region}:{deployment.account}:"
        f"{api_id}/{stage}/{method.upper()}{path}"
    )
    allowed, _ = iam.evaluate(verified, "execute-api:Invoke", (resource,), deployment.region)
    if not allowed:
        return None, _json_response(
            403,
            {
                "Message": f"User: {verified.arn} is not authorized to perform: "
                f"execute-api:Invoke on resource: {resource}"
            },
        )
    principal = caller_identity(
        {"Authorization": f"AWS4-HMAC-SHA256 Credential={verified.access_key_id}/x/us-east-1/"},
        deployment.account,
    )
    return _identity(principal, deployment.account), None


def _identity(principal: dict[str, Any], account: str) -> dict[str, Any]:
    return {
        "userArn": principal.get("arn"),
        "user": principal.get("principalId"),
        "accountId": principal.get("accountId", account),
        "accessKey": principal.get("accessKeyId"),
        "caller": principal.get("principalId"),
    }


def _invoke_proxy(function_name: str, region: str, event: dict[str, Any]) -> Response:
    from moto.awslambda.utils import get_backend

    from emulator.deploy import ACCOUNT
    from emulator.functions import run_project_handler

    # (moto keeps functions in its "simple" backend when Docker is off: ask it which)
    fn = get_backend(ACCOUNT, region).get_function(function_name)
    payload, errored = run_project_handler(fn, event)
    if errored:
        return _json_response(502, {"message": "Internal server error"})
    result = json.loads(payload)
    body = result.get("body") or ""
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    return (
        int(result.get("statusCode", 200)),
        headers,
        body.encode() if isinstance(body, str) else body,
    )


def install() -> None:
    """Let moto's in-process stubber answer our endpoints first."""
    global _installed
    if _installed:
        return
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request

    def process_request(self: Any, request: Any) -> Any:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        elif hasattr(body, "read"):
            # A streamed body (S3 PutObject's) is read to route it, then rewound: moto reads it
            # again, and read once here it stored every such object empty.
            # (botocore's AwsChunkedWrapper can seek but not tell: a request body starts at 0)
            position = body.tell() if hasattr(body, "tell") else 0
            stream, body = body, body.read()
            if hasattr(stream, "seek"):
                stream.seek(position)
        answered = dispatch(request.method, request.url, dict(request.headers), body)
        if answered is not None:
            return answered
        return original(self, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    _installed = True
