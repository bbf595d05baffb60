"""IAM for the embedded AWS: SigV4 verified as AWS verifies it, identity policies enforced.

Two steps, as in AWS:

1. **Authentication**, on the raw request as it arrived (moto's botocore stubber in process,
   the WSGI middleware in server mode): the `Authorization` header must be SigV4, its key id
   must be known (the account root's, an IAM user's active key, or live STS credentials with
   their session token), the signature must be the one its secret makes for this method, path,
   query, signed headers and body, the credential scope must name the service's signing name and
   the region of the endpoint, and `X-Amz-Date` must be within 5 minutes of the server's real
   wall clock (not the emulated clock: clients sign with real time, and tests advance the
   emulated one by days). The outcome (a `Caller`, or the refusal AWS would answer) is pushed on
   a per-thread stack that the request's own `call_action` reads.
2. **Authorization**, in moto's `call_action` where the operation and its parameters are known:
   root may do anything; an IAM user or an assumed role needs an identity-policy `Allow` for
   `service:Operation` on the resource ARNs the operation acts on (`resources_of`), with no
   `Deny`, conditions evaluated on the keys the emulator knows (`_context`).

The account root's access key is `ROOT_ACCESS_KEY_ID`/`ROOT_SECRET_ACCESS_KEY`
(`testing`/`testing`, the keys every moto user already configures): tests, the demo and the
CLI's emulator fallback act as root unless they use an IAM user's keys or role credentials.

moto's own `moto.iam.access_control` (enabled through `INITIAL_NO_AUTH_ACTION_COUNT`) is
lenient where this must not be: it recomputes the signature with whatever scope the client
claims (another service or region passes), ignores time skew, knows no root, checks resources
as "*" for most services and supports few conditions. This module replaces its entry point
(`ActionAuthenticatorMixin._authenticate_and_authorize_normal_action`) and reuses botocore's
SigV4 canonicalisation. See docs/parity/iam.md.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT_ACCESS_KEY_ID = "testing"
ROOT_SECRET_ACCESS_KEY = "testing"
DEFAULT_ACCOUNT = "123456789012"
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html : a signed request is
# valid for five minutes from its X-Amz-Date.
MAX_SKEW = datetime.timedelta(minutes=5)
# IAM's action prefix where it differs from the signing name.
_ACTION_PREFIX = {"monitoring": "cloudwatch"}
# Operation names whose IAM action has another name.
_ACTION_NAME = {("lambda", "Invoke"): "InvokeFunction"}
# Services whose endpoint is global: any region in the scope is accepted (AWS wants us-east-1).
_GLOBAL_SERVICES = {"iam"}


class Enforcement:
    """Process-wide switch (moto's backends are process-wide too)."""

    enabled: bool = False


ENFORCEMENT = Enforcement()


@dataclass(frozen=True)
class Caller:
    """A verified principal."""

    kind: str  # "Root" | "IAMUser" | "AssumedRole"
    arn: str
    account: str
    access_key_id: str
    principal_id: str
    # for IAM users the user name, for assumed roles the role name
    name: str = ""

    @property
    def is_root(self) -> bool:
        return self.kind == "Root"


@dataclass(frozen=True)
class Refusal:
    """Authentication failed: the error AWS answers for this service and cause."""

    cause: str  # "missing" | "unknown-key" | "signature" | "scope" | "expired"
    message: str
    service: str = ""


@dataclass(frozen=True)
class ServiceInfo:
    name: str  # boto3 name
    signing_name: str
    protocol: str
    target_prefix: str = ""


# --- service models --------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _session() -> Any:
    return botocore.session.get_session()


@functools.lru_cache(maxsize=1)
def _services() -> dict[str, ServiceInfo]:
    """Endpoint prefix / signing name / target prefix -> service, for every botocore model."""
    session = _session()
    table: dict[str, ServiceInfo] = {}
    for name in session.get_available_services():
        try:
            metadata = session.get_service_model(name).metadata
        except Exception:  # a model botocore cannot load is a service nobody here calls
            continue
        info = ServiceInfo(
            name=name,
            signing_name=metadata.get("signingName") or metadata.get("endpointPrefix", name),
            protocol=metadata.get("protocol", "json"),
            target_prefix=metadata.get("targetPrefix", ""),
        )
        for key in (metadata.get("endpointPrefix"), info.signing_name, info.target_prefix):
            if key and key not in table:
                table[key] = info
    return table


_CORE = {
    "lambda": ServiceInfo("lambda", "lambda", "rest-json"),
    "states": ServiceInfo("stepfunctions", "states", "json", "AWSStepFunctions"),
    "dynamodb": ServiceInfo("dynamodb", "dynamodb", "json", "DynamoDB_20120810"),
    "sns": ServiceInfo("sns", "sns", "query"),
    "sqs": ServiceInfo("sqs", "sqs", "json", "AmazonSQS"),
    "logs": ServiceInfo("logs", "logs", "json", "Logs_20140328"),
    "iam": ServiceInfo("iam", "iam", "query"),
    "sts": ServiceInfo("sts", "sts", "query"),
    "events": ServiceInfo("events", "events", "json", "AWSEvents"),
    "scheduler": ServiceInfo("scheduler", "scheduler", "rest-json"),
    "ssm": ServiceInfo("ssm", "ssm", "json", "AmazonSSM"),
    "apigateway": ServiceInfo("apigateway", "apigateway", "rest-json"),
    "monitoring": ServiceInfo("cloudwatch", "monitoring", "query"),
    "kms": ServiceInfo("kms", "kms", "json", "TrentService"),
    "execute-api": ServiceInfo("execute-api", "execute-api", "rest-json"),
}


def service_by_key(key: str) -> ServiceInfo | None:
    """The service an endpoint prefix, signing name or X-Amz-Target prefix names."""
    return _CORE.get(key) or _services().get(key)


def service_of_boto3_name(name: str) -> ServiceInfo | None:
    for info in _CORE.values():
        if info.name == name:
            return info
    for info in _services().values():
        if info.name == name:
            return info
    return None


_AWS_HOST = re.compile(
    r"^(?P<prefix>[a-z0-9-]+)(?:\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d))?\.amazonaws\.com(?:\.cn)?$"
)


def _endpoint_of(url: str) -> tuple[str | None, str | None]:
    """(endpoint prefix, region) of an AWS-style host; (None, None) for 127.0.0.1 & co."""
    host = (urlsplit(url).hostname or "").lower()
    match = _AWS_HOST.match(host)
    if not match:
        return None, None
    return match["prefix"], match["region"]


# --- authentication --------------------------------------------------------------------------

_AUTH_HEADER = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]+)\s*$"
)


def _lower(headers: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(k).lower(): v.decode() if isinstance(v, bytes) else str(v) for k, v in headers.items()
    }


def _messages() -> dict[str, str]:
    return {
        "missing": "Missing Authentication Token",
        "unknown-key": "The security token included in the request is invalid.",
        "signature": (
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details."
        ),
    }


@dataclass(frozen=True)
class _Secret:
    caller: Caller
    secret: str
    session_token: str | None


def _lookup_key(access_key_id: str) -> _Secret | None:
    """The owner and secret of an access key id, across the emulator's accounts."""
    if access_key_id == ROOT_ACCESS_KEY_ID:
        return _Secret(
            Caller(
                "Root",
                f"arn:aws:iam::{DEFAULT_ACCOUNT}:root",
                DEFAULT_ACCOUNT,
                access_key_id,
                DEFAULT_ACCOUNT,
            ),
            ROOT_SECRET_ACCESS_KEY,
            None,
        )
    from moto.iam.models import get_account_id_from, iam_backends
    from moto.sts.models import sts_backends

    account = get_account_id_from(access_key_id)
    for partition in ("aws",):
        sts = sts_backends[account][partition]
        assumed = sts.get_assumed_role_from_access_key(access_key_id)
        if assumed is not None:
            role_name = assumed.role_arn.split("/")[-1]
            expired = assumed.expiration.replace(tzinfo=None) < datetime.datetime.utcnow()
            if expired:
                return None
            return _Secret(
                Caller(
                    "AssumedRole",
                    assumed.arn,
                    assumed.account_id,
                    access_key_id,
                    assumed.user_id,
                    role_name,
                ),
                assumed.secret_access_key,
                assumed.session_token,
            )
        backend = iam_backends[account][partition]
        user = backend.get_user_from_access_key_id(access_key_id)
        if user is not None:
            key = next(k for k in user.access_keys if k.access_key_id == access_key_id)
            if getattr(key, "status", "Active") != "Active":
                return None
            return _Secret(
                Caller("IAMUser", user.arn, account, access_key_id, user.id, user.name),
                key.secret_access_key,
                None,
            )
    return None


def authenticate(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    service: str,
    region: str | None,
    now: datetime.datetime | None = None,
) -> Caller | Refusal:
    """Verify a SigV4 request for `service` (signing name) at `region`'s endpoint.

    `url` carries the path as it went over the wire (still percent-encoded) and the query.
    `region` None means the endpoint serves whichever region the scope names (server mode on
    127.0.0.1 without an AWS-style Host).
    """
    lower = _lower(headers)
    messages = _messages()
    authorization = lower.get("authorization", "")
    if not authorization:
        return Refusal("missing", messages["missing"], service)
    match = _AUTH_HEADER.match(authorization)
    if match is None:
        # botocore's other signers (SigV2, SigV4a) or a hand-made header: AWS answers
        # IncompleteSignature for a malformed one; both are refused here.
        return Refusal("signature", "Authorization header requires SigV4 (AWS4-HMAC-SHA256).")
    scope = match["credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return Refusal("signature", f"Credential scope is malformed: {match['credential']}")
    access_key_id, scope_date, scope_region, scope_service, _ = scope
    if scope_service != service:
        return Refusal(
            "signature", f"Credential should be scoped to correct service: '{service}'. ", service
        )
    if region is not None and scope_region != region and service not in _GLOBAL_SERVICES:
        return Refusal(
            "signature",
            f"Credential should be scoped to a valid region, not '{scope_region}'. ",
            service,
        )
    amz_date = lower.get("x-amz-date", "")
    try:
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    except ValueError:
        return Refusal("signature", "Authorization header requires existence of X-Amz-Date.")
    if scope_date != amz_date[:8]:
        return Refusal(
            "signature",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{scope_date}' != '{amz_date[:8]}'",
            service,
        )
    current = (now or datetime.datetime.now(datetime.UTC)).replace(tzinfo=None)
    stamp = "%Y%m%dT%H%M%SZ"
    if signed_at < current - MAX_SKEW:
        return Refusal(
            "expired",
            f"Signature expired: {amz_date} is now earlier than "
            f"{(current - MAX_SKEW):{stamp}} ({current:{stamp}} - 5 min.)",
            service,
        )
    if signed_at > current + MAX_SKEW:
        return Refusal(
            "expired",
            f"Signature not yet current: {amz_date} is still later than "
            f"{(current + MAX_SKEW):{stamp}} ({current:{stamp}} + 5 min.)",
            service,
        )
    secret = _lookup_key(access_key_id)
    if secret is None:
        return Refusal("unknown-key", messages["unknown-key"], service)
    token = lower.get("x-amz-security-token")
    if secret.session_token is not None and token != secret.session_token:
        return Refusal("unknown-key", messages["unknown-key"], service)
    if secret.session_token is None and token is not None:
        return Refusal("unknown-key", messages["unknown-key"], service)
    signed_headers = match["signed"].split(";")
    if "host" not in signed_headers:
        return Refusal("signature", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    expected = _signatures(
        method,
        url,
        lower,
        body,
        signed_headers,
        Credentials(access_key_id, secret.secret, secret.session_token),
        scope_service,
        scope_region,
        amz_date,
    )
    if match["signature"] not in expected:
        return Refusal("signature", messages["signature"], service)
    return secret.caller


def _signatures(
    method: str,
    url: str,
    lower: dict[str, str],
    body: bytes,
    signed_headers: list[str],
    credentials: Credentials,
    service: str,
    region: str,
    amz_date: str,
) -> set[str]:
    """The signatures a client may have made: query canonicalised from its parameters (as
    botocore does when it signs `params`) or kept as sent in the URL."""
    auth = SigV4Auth(credentials, service, region)
    parts = urlsplit(url)
    headers = {name: lower[name] for name in signed_headers if name in lower}
    found: set[str] = set()
    base = f"{parts.scheme or 'https'}://{lower.get('host', parts.netloc)}{parts.path}"
    for params in (parse_qsl(parts.query, keep_blank_values=True), None):
        request = AWSRequest(
            method=method,
            url=base + (f"?{parts.query}" if params is None and parts.query else ""),
            data=body,
            headers=headers,
            params=params or {},
        )
        request.context["timestamp"] = amz_date
        canonical = auth.canonical_request(request)
        string_to_sign = auth.string_to_sign(request, canonical)
        found.add(auth.signature(string_to_sign, request))
    return found


# --- the per-request identity ----------------------------------------------------------------

_LOCAL = threading.local()


def _stack() -> list[Caller | Refusal]:
    stack: list[Caller | Refusal] | None = getattr(_LOCAL, "stack", None)
    if stack is None:
        stack = []
        _LOCAL.stack = stack
    return stack


@contextmanager
def request_identity(identity: Caller | Refusal) -> Iterator[None]:
    stack = _stack()
    stack.append(identity)
    try:
        yield
    finally:
        stack.pop()


def current_identity() -> Caller | Refusal | None:
    stack = _stack()
    return stack[-1] if stack else None


def authenticate_transport(
    method: str, url: str, headers: Mapping[str, str], body: bytes
) -> Caller | Refusal | None:
    """Authenticate a request to an AWS service endpoint; None when it is not one (moto's own
    /moto-api, or a service this emulator cannot name)."""
    if not ENFORCEMENT.enabled:
        return None
    path = urlsplit(url).path
    if path.startswith("/moto-api"):
        return None
    lower = _lower(headers)
    prefix, region = _endpoint_of(url)
    info: ServiceInfo | None = None
    if prefix is not None:
        info = service_by_key(prefix)
    if info is None:
        match = _AUTH_HEADER.match(lower.get("authorization", ""))
        if match is not None:
            scope = match["credential"].split("/")
            if len(scope) == 5:
                info = service_by_key(scope[3])
    if info is None:
        target = lower.get("x-amz-target", "")
        if target:
            info = service_by_key(target.split(".")[0])
    if info is None:
        return None if not lower.get("authorization") else Refusal("signature", "unknown service")
    if region is None and prefix is None:
        region = SERVER_REGION.value
    return authenticate(method, url, lower, body, service=info.signing_name, region=region)


class _ServerRegion:
    """The region of the endpoint in server mode (None: whichever the scope names)."""

    value: str | None = None


SERVER_REGION = _ServerRegion()


# --- errors in AWS's shape -------------------------------------------------------------------


def _refusal_error(refusal: Refusal, protocol: str, service: str) -> tuple[str, int]:
    """(code, HTTP status) AWS answers; see docs/parity/iam.md for the sources."""
    query = protocol == "query" or service in {"monitoring"}
    rest = protocol == "rest-json"
    if refusal.cause == "missing":
        # Coral JSON services answer 400 (DynamoDB: "Request is missing Authentication Token").
        if query:
            return "MissingAuthenticationToken", 403
        return "MissingAuthenticationTokenException", 403 if rest else 400
    if refusal.cause == "unknown-key":
        if query:
            return "InvalidClientTokenId", 403
        return "UnrecognizedClientException", 403 if rest else 400
    # signature, scope, expired
    if query:
        return "SignatureDoesNotMatch", 403
    return "InvalidSignatureException", 403 if rest else 400


def _denied_error(protocol: str, service: str) -> tuple[str, int]:
    if service == "sns":
        return "AuthorizationError", 403
    if protocol == "query" or service == "monitoring":
        return "AccessDenied", 403
    return "AccessDeniedException", 403 if protocol == "rest-json" else 400


# --- policies --------------------------------------------------------------------------------


@dataclass
class _Generation:
    """Bumped after every IAM call that may change a policy: cached evaluations expire."""

    value: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bump(self) -> None:
        with self.lock:
            self.value += 1


GENERATION = _Generation()
_POLICY_CACHE: dict[tuple[str, int], tuple[dict[str, Any], ...]] = {}
_DECISION_CACHE: dict[tuple[Any, ...], tuple[bool, str]] = {}
_SCP_CACHE: dict[tuple[Any, ...], tuple[str, str] | None] = {}
_CACHE_LIMIT = 50_000


def _document(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    text = str(raw)
    if text.lstrip().startswith("%7B") or text.lstrip().startswith("%7b"):
        text = unquote(text)
    parsed = json.loads(text)
    return parsed if isinstance(parsed, dict) else {}


def _managed_document(policy: Any) -> dict[str, Any]:
    version = next(v for v in policy.versions if v.is_default)
    return _document(version.document)


def _statements_of(caller: Caller) -> tuple[dict[str, Any], ...]:
    key = (caller.arn, GENERATION.value)
    cached = _POLICY_CACHE.get(key)
    if cached is not None:
        return cached
    from moto.iam.models import iam_backends

    backend = iam_backends[caller.account]["aws"]
    documents: list[dict[str, Any]] = []
    if caller.kind == "IAMUser":
        user = backend.get_user(caller.name)
        documents += [_document(doc) for doc in user.policies.values()]
        documents += [_managed_document(p) for p in user.managed_policies.values()]
        for group in backend.get_groups_for_user(caller.name):
            documents += [_document(doc) for doc in group.policies.values()]
            documents += [_managed_document(p) for p in group.managed_policies.values()]
    elif caller.kind == "AssumedRole":
        try:
            role = backend.get_role(caller.name)
        except Exception:
            role = None
        if role is not None:
            documents += [_document(doc) for doc in role.policies.values()]
            documents += [_managed_document(p) for p in role.managed_policies.values()]
    statements: list[dict[str, Any]] = []
    for document in documents:
        raw = document.get("Statement", [])
        statements += [s for s in (raw if isinstance(raw, list) else [raw]) if isinstance(s, dict)]
    result = tuple(statements)
    if len(_POLICY_CACHE) > _CACHE_LIMIT:
        _POLICY_CACHE.clear()
    _POLICY_CACHE[key] = result
    return result


_BOUNDARY_CACHE: dict[tuple[str, int], tuple[dict[str, Any], ...] | None] = {}


def _boundary_of(caller: Caller) -> tuple[dict[str, Any], ...] | None:
    """The statements of a role session's permissions boundary (the managed policy the role's
    `PermissionsBoundary` names), or None when its role has none. moto keeps no boundary on
    IAM users (PutUserPermissionsBoundary is not implemented), so only roles have one."""
    if caller.kind != "AssumedRole":
        return None
    key = (caller.arn, GENERATION.value)
    if key in _BOUNDARY_CACHE:
        return _BOUNDARY_CACHE[key]
    from moto.iam.models import iam_backends

    backend = iam_backends[caller.account]["aws"]
    statements: tuple[dict[str, Any], ...] | None = None
    try:
        arn = backend.get_role(caller.name).permissions_boundary_arn
    except Exception:
        arn = None
    if arn:
        try:
            raw = _managed_document(backend.get_policy(arn)).get("Statement", [])
        except Exception:
            raw = []  # a boundary naming a policy that does not exist allows nothing
        listed = raw if isinstance(raw, list) else [raw]
        statements = tuple(s for s in listed if isinstance(s, dict))
    if len(_BOUNDARY_CACHE) > _CACHE_LIMIT:
        _BOUNDARY_CACHE.clear()
    _BOUNDARY_CACHE[key] = statements
    return statements


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    # IAM wildcards: * any run (":" and "/" included), ? one character; no [ ] classes.
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{regex}$", 0 if case_sensitive else re.IGNORECASE)


def _matches(patterns: list[Any], value: str, *, case_sensitive: bool) -> bool:
    return any(_glob(str(p), case_sensitive).match(value) for p in patterns)


def _condition_holds(condition: Mapping[str, Any], context: Mapping[str, list[str]]) -> bool:
    """Every operator block and every key in it must hold (AND); values of one key are ORed."""
    for raw_operator, block in condition.items():
        if not isinstance(block, dict):
            return False
        operator = raw_operator
        quantifier = ""
        if ":" in operator:
            quantifier, operator = operator.split(":", 1)
        if_exists = operator.endswith("IfExists")
        if if_exists:
            operator = operator[: -len("IfExists")]
        for key, expected_raw in block.items():
            expected = [str(v) for v in _as_list(expected_raw)]
            actual = context.get(key.lower())
            if operator == "Null":
                wants_null = expected[0].lower() == "true"
                if (actual is None) != wants_null:
                    return False
                continue
            if actual is None:
                if if_exists or quantifier == "ForAllValues":
                    continue
                return False
            results = [_compare(operator, value, expected) for value in actual]
            ok = all(results) if quantifier == "ForAllValues" else any(results)
            if not ok:
                return False
    return True


def _compare(operator: str, value: str, expected: list[str]) -> bool:
    negated = "Not" in operator
    base = operator.replace("Not", "")
    if base in {"StringEquals", "ArnEquals"}:
        hit = value in expected
    elif base == "StringEqualsIgnoreCase":
        hit = value.lower() in {e.lower() for e in expected}
    elif base in {"StringLike", "ArnLike"}:
        hit = _matches(expected, value, case_sensitive=True)
    elif base == "Bool":
        hit = value.lower() in {e.lower() for e in expected}
    elif base.startswith("Numeric"):
        try:
            number, targets = float(value), [float(e) for e in expected]
        except ValueError:
            return False
        ops = {
            "NumericEquals": lambda a, b: a == b,
            "NumericLessThan": lambda a, b: a < b,
            "NumericLessThanEquals": lambda a, b: a <= b,
            "NumericGreaterThan": lambda a, b: a > b,
            "NumericGreaterThanEquals": lambda a, b: a >= b,
        }
        compare = ops.get(base)
        if compare is None:
            return False
        hit = any(compare(number, t) for t in targets)
    else:
        return False  # an operator the emulator does not know never grants
    return not hit if negated else hit


def _context(caller: Caller, region: str) -> dict[str, list[str]]:
    """The global condition keys the emulator knows (lower-cased: keys are case-insensitive)."""
    context = {
        "aws:principalarn": [
            caller.arn
            if caller.kind != "AssumedRole"
            else f"arn:aws:iam::{caller.account}:role/{caller.name}"
        ],
        "aws:principalaccount": [caller.account],
        "aws:principaltype": [
            {"IAMUser": "User", "AssumedRole": "AssumedRole"}.get(caller.kind, caller.kind)
        ],
        "aws:userid": [caller.principal_id],
        "aws:requestedregion": [region],
        "aws:securetransport": ["false"],
        "aws:viaawsservice": ["false"],
    }
    if caller.kind == "IAMUser":
        context["aws:username"] = [caller.name]
    from emulator.organizations import organization_id_of  # (a cycle at import time)

    organization = organization_id_of(caller.account)
    if organization:
        context["aws:principalorgid"] = [organization]
    return context


def _with_resource_org(context: dict[str, list[str]], resource: str) -> dict[str, list[str]]:
    """`aws:ResourceOrgID`: the organization of the account the resource ARN names."""
    from emulator.organizations import organization_id_of

    parts = resource.split(":")
    organization = organization_id_of(parts[4]) if len(parts) > 4 and parts[4] else None
    return {**context, "aws:resourceorgid": [organization]} if organization else context


def evaluate(
    caller: Caller, action: str, resources: tuple[str, ...], region: str
) -> tuple[bool, str]:
    """(allowed, the first resource refused) under the caller's identity policies."""
    if caller.is_root:
        return True, ""
    key = (caller.arn, GENERATION.value, action, resources, region)
    cached = _DECISION_CACHE.get(key)
    if cached is not None:
        return cached
    statements = _statements_of(caller)
    # A permissions boundary caps the identity policies: both must allow (IAM User Guide,
    # "Permissions boundaries for IAM entities").
    boundary = _boundary_of(caller)
    context = _context(caller, region)
    outcome: tuple[bool, str] = (True, "")
    for resource in resources:
        scoped = _with_resource_org(context, resource)
        if not _policies_allow(statements, action, resource, scoped) or (
            boundary is not None and not _policies_allow(boundary, action, resource, scoped)
        ):
            outcome = (False, resource)
            break
    if len(_DECISION_CACHE) > _CACHE_LIMIT:
        _DECISION_CACHE.clear()
    _DECISION_CACHE[key] = outcome
    return outcome


def _policies_allow(
    statements: tuple[dict[str, Any], ...],
    action: str,
    resource: str,
    context: Mapping[str, list[str]],
) -> bool:
    """An Allow applies and no Deny does."""
    allowed = False
    for statement in statements:
        if not _statement_applies(statement, action, resource, context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def _statement_applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, list[str]]
) -> bool:
    if "Action" in statement:
        if not _matches(_as_list(statement["Action"]), action, case_sensitive=False):
            return False
    elif "NotAction" in statement:
        if _matches(_as_list(statement["NotAction"]), action, case_sensitive=False):
            return False
    else:
        return False
    if "Resource" in statement:
        if not _resource_matches(_as_list(statement["Resource"]), resource):
            return False
    elif "NotResource" in statement:
        if _resource_matches(_as_list(statement["NotResource"]), resource):
            return False
    else:
        return False
    condition = statement.get("Condition")
    return not condition or _condition_holds(condition, context)


def statement_allows(
    statement: Mapping[str, Any],
    action: str,
    resource: str,
    context: Mapping[str, list[str]] | None = None,
) -> bool:
    """Whether one policy statement applies to `action` on `resource` (its Effect aside), in
    `context` (context key → values; none given: conditions on context keys do not hold). For
    static checks of a template's statements (tests/infra/iam_call_sites.py)."""
    return _statement_applies(statement, action, resource, context or {})


ANY_RESOURCE = "<any resource the action is granted on>"


def _resource_matches(patterns: list[Any], resource: str) -> bool:
    if resource == ANY_RESOURCE:
        return bool(patterns)
    if resource == "*":
        # An action without resource-level permissions is only granted on "*".
        return any(str(p) == "*" for p in patterns)
    return _matches(patterns, resource, case_sensitive=True)


# --- resources of an operation ---------------------------------------------------------------


def _param(response: Any, name: str) -> Any:
    uri = getattr(response, "uri_match", None) or {}
    if name in uri:
        return unquote(str(uri[name]))
    try:
        value = response._get_param(name)
    except Exception:
        value = None
    if value is None:
        try:
            body = json.loads(response.body) if response.body else {}
            value = body.get(name) if isinstance(body, dict) else None
        except (ValueError, TypeError):
            value = None
    return value


def _lambda_function_arn(name: str, qualifier: str | None, region: str, account: str) -> str:
    # FunctionName may be a name, name:qualifier, a partial ARN or a full ARN.
    if name.startswith("arn:"):
        parts = name.split(":")
        base = ":".join(parts[:7])
        qualifier = qualifier or (parts[7] if len(parts) > 7 else None)
    else:
        parts = name.split(":")
        if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:q]
            account, name = parts[0], parts[2]
            qualifier = qualifier or (parts[3] if len(parts) > 3 else None)
        elif len(parts) == 2:
            name, qualifier = parts[0], qualifier or parts[1]
        base = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


_LAMBDA_UNSCOPED = {
    "ListFunctions",
    "ListLayers",
    "ListLayerVersions",
    "ListEventSourceMappings",
    "GetAccountSettings",
    "CreateEventSourceMapping",
    "ListCodeSigningConfigs",
}


def _lambda_resources(response: Any, operation: str, region: str, account: str) -> list[str]:
    if operation in _LAMBDA_UNSCOPED:
        return ["*"]
    if operation in {"ListTags", "TagResource", "UntagResource"}:
        resource = _param(response, "Resource")
        return [str(resource)] if resource else ["*"]
    name = _param(response, "FunctionName")
    if not name:
        return ["*"]
    qualifier = _param(response, "Qualifier")
    if operation in {"UpdateAlias", "GetAlias", "CreateAlias", "DeleteAlias"}:
        qualifier = _param(response, "Name") or qualifier
    return [_lambda_function_arn(str(name), qualifier, region, account)]


def _dynamodb_resources(response: Any, operation: str, region: str, account: str) -> list[str]:
    base = f"arn:aws:dynamodb:{region}:{account}:table/"
    if operation in {"BatchGetItem", "BatchWriteItem"}:
        items = _param(response, "RequestItems") or {}
        return [base + name for name in items] or ["*"]
    if operation in {"TransactWriteItems", "TransactGetItems"}:
        names: list[str] = []
        for item in _param(response, "TransactItems") or []:
            for inner in item.values():
                if isinstance(inner, dict) and inner.get("TableName"):
                    names.append(base + inner["TableName"])
        return names or ["*"]
    table = _param(response, "TableName") or _param(response, "TableArn")
    if not table:
        return ["*"]
    table = str(table)
    arn = table if table.startswith("arn:") else base + table
    index = _param(response, "IndexName")
    return [f"{arn}/index/{index}" if index and operation in {"Query", "Scan"} else arn]


def _states_resources(response: Any, operation: str, region: str, account: str) -> list[str]:
    for name in ("executionArn", "stateMachineArn", "activityArn", "mapRunArn", "resourceArn"):
        value = _param(response, name)
        if value:
            return [str(value)]
    if operation == "CreateStateMachine":
        return [f"arn:aws:states:{region}:{account}:stateMachine:{_param(response, 'name')}"]
    if operation in {"SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"}:
        machine = _state_machine_of_token(response, str(_param(response, "taskToken") or ""))
        # A token of no running execution: AWS would authorize against the state machine the
        # token names, which the emulator cannot tell; any grant of the action lets moto
        # answer TaskDoesNotExist / TaskTimedOut / InvalidToken as AWS does.
        return [machine] if machine else [ANY_RESOURCE]
    return ["*"]


def _state_machine_of_token(response: Any, token: str) -> str | None:
    """The state machine whose running execution issued `token`: SendTask* are authorized
    against it (CDK's grant_task_response grants on the state machine ARN)."""
    backend = getattr(response, "stepfunction_backend", None)
    if backend is None or not token:
        return None
    try:
        from moto.stepfunctions.parser.api import ExecutionStatus

        executions = backend._get_executions(ExecutionStatus.RUNNING)
    except Exception:
        return None
    for execution in executions:
        worker = getattr(execution, "exec_worker", None)
        env = getattr(worker, "env", None)
        manager = getattr(env, "callback_pool_manager", None)
        if manager is not None and manager.get(token) is not None:
            return str(execution.state_machine_arn)
    return None


def _sns_resources(response: Any, operation: str, region: str, account: str) -> list[str]:
    for name in ("TopicArn", "TargetArn", "ResourceArn", "SubscriptionArn"):
        value = _param(response, name)
        if value:
            return [str(value).rsplit(":", 1)[0] if name == "SubscriptionArn" else str(value)]
    if operation == "CreateTopic":
        return [f"arn:aws:sns:{region}:{account}:{_param(response, 'Name')}"]
    return ["*"]


def _logs_resources(response: Any, operation: str, region: str, account: str) -> list[str]:
    group = _param(response, "logGroupName")
    identifier = _param(response, "logGroupIdentifier")
    if not group and identifier:
        identifier = str(identifier)
        if identifier.startswith("arn:"):
            return [identifier if identifier.endswith(":*") else identifier + ":*"]
        group = identifier
    if not group:
        return (
            [f"arn:aws:logs:{region}:{account}:log-group:*"]
            if operation.startswith("Describe")
            else ["*"]
        )
    base = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    stream = _param(response, "logStreamName")
    if stream and operation in {"PutLogEvents", "CreateLogStream", "GetLogEvents"}:
        return [f"{base}:log-stream:{stream}"]
    return [f"{base}:*"]


def _ssm_resources(response: Any, operation: str, region: str, account: str) -> list[str]:
    names = _param(response, "Names") or (
        [_param(response, "Name")] if _param(response, "Name") else []
    )
    if not names:
        path = _param(response, "Path")
        names = [path] if path else []
    if not names:
        return ["*"]
    return [
        str(n)
        if str(n).startswith("arn:")
        else f"arn:aws:ssm:{region}:{account}:parameter{'' if str(n).startswith('/') else '/'}{n}"
        for n in names
    ]


def _events_resources(response: Any, operation: str, region: str, account: str) -> list[str]:
    if operation == "PutEvents":
        entries = _param(response, "Entries") or []
        buses = {str(e.get("EventBusName") or "default") for e in entries if isinstance(e, dict)}
        return [
            b if b.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{b}"
            for b in sorted(buses or {"default"})
        ]
    rule = _param(response, "Rule") or _param(response, "Name")
    if rule and ("Rule" in operation or "Targets" in operation):
        bus = _param(response, "EventBusName")
        prefix = "" if not bus or bus == "default" else f"{bus}/"
        return [f"arn:aws:events:{region}:{account}:rule/{prefix}{rule}"]
    return ["*"]


def _kms_resources(response: Any, operation: str, region: str, account: str) -> list[str]:
    key = _param(response, "KeyId")
    if not key:
        return ["*"]
    key = str(key)
    return [key if key.startswith("arn:") else f"arn:aws:kms:{region}:{account}:key/{key}"]


# Organizations operations on a parent (Service Authorization Reference, AWS Organizations:
# the root or OU resource type).
_ON_PARENT = frozenset({"ListAccountsForParent", "ListOrganizationalUnitsForParent"})


def _organizations_resources(response: Any, operation: str, region: str, account: str) -> list[str]:
    """`arn:aws:organizations::<management>:root/<org>/<r-...>` or `.../ou/<org>/<ou-...>`."""
    parent = str(_param(response, "ParentId") or "")
    if operation not in _ON_PARENT or not parent:
        return ["*"]
    from moto.organizations.models import organizations_backends

    from emulator.organizations import organization_id_of

    organization = organization_id_of(account)
    owner = organizations_backends.master_accounts.get(account)
    management = owner[0] if owner else account
    kind = "root" if parent.startswith("r-") else "ou"
    return [f"arn:aws:organizations::{management}:{kind}/{organization or 'o-none'}/{parent}"]


def _moto_determined(response: Any, operation: str, region: str, account: str) -> list[str]:
    determine = getattr(response, "_determine_resource", None)
    if determine is None:
        return ["*"]
    try:
        return [str(determine())]
    except Exception:
        return ["*"]


_RESOURCES = {
    "lambda": _lambda_resources,
    "dynamodb": _dynamodb_resources,
    "states": _states_resources,
    "sns": _sns_resources,
    "logs": _logs_resources,
    "ssm": _ssm_resources,
    "events": _events_resources,
    "kms": _kms_resources,
    "organizations": _organizations_resources,
    "iam": _moto_determined,
    "sts": _moto_determined,
    "sqs": _moto_determined,
}


def resources_of(
    response: Any, prefix: str, operation: str, region: str, account: str
) -> list[str]:
    """The resource ARNs an operation is authorized against ("*": none of its own)."""
    derive = _RESOURCES.get(prefix)
    return derive(response, operation, region, account) if derive else ["*"]


def action_of(signing_name: str, operation: str) -> tuple[str, str]:
    prefix = _ACTION_PREFIX.get(signing_name, signing_name)
    return prefix, f"{prefix}:{_ACTION_NAME.get((prefix, operation), operation)}"


# --- moto hooks ------------------------------------------------------------------------------


def _error_response(
    response: Any, code: str, status: int, message: str, protocol: str = "json"
) -> Any:
    from xml.sax.saxutils import escape

    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult

    # AWS answers every request, refusals included, with its request id (x-amzn-RequestId):
    # clients read it back (Step Functions' Lambda integration puts it in the task's cause).
    request_id = str(uuid.uuid4())
    if protocol == "query":
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers = {"Content-Type": "text/xml", "status": status, "x-amzn-RequestId": request_id}
        return status, headers, body
    error = ServiceException(code, message)
    try:
        _, headers, body = response.serialized(ActionResult(error))
    except Exception:
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
        body = json.dumps({"__type": code, "message": message})
    headers = dict(headers)
    headers["x-amzn-ErrorType"] = code
    headers["x-amzn-RequestId"] = request_id
    headers["status"] = status
    return status, headers, body


def _check(response: Any) -> Any | None:
    """The refusal for this moto request, or None to go on."""
    identity = current_identity()
    if identity is None or not ENFORCEMENT.enabled:
        return None  # the emulator's own internal call, or enforcement is off
    info = service_of_boto3_name(response.boto3_service_name) or ServiceInfo(
        response.boto3_service_name, response.boto3_service_name, "json"
    )
    if isinstance(identity, Refusal):
        code, status = _refusal_error(identity, info.protocol, info.signing_name)
        return _error_response(response, code, status, identity.message, info.protocol)
    operation = response._get_action()
    prefix, action = action_of(info.signing_name, operation)
    if action == "sts:GetCallerIdentity":
        return None  # always allowed, even under an explicit Deny
    region = getattr(response, "region", None) or "us-east-1"
    if identity.is_root:
        if action == "sts:AssumeRole":
            return _error_response(
                response,
                "AccessDenied",
                403,
                "Roles may not be assumed by root accounts.",
                info.protocol,
            )
        return None
    resources = tuple(resources_of(response, prefix, operation, region, identity.account))
    code, status = _denied_error(info.protocol, info.signing_name)
    scp = scp_refused(identity, action, resources, region)
    if scp is not None:
        refused, why = scp
        because = (
            "with an explicit deny in a service control policy"
            if why == "explicit"
            else f"because no service control policy allows the {action} action"
        )
        message = (
            f"User: {identity.arn} is not authorized to perform: {action} on resource: "
            f"{refused} {because}"
        )
        return _error_response(response, code, status, message, info.protocol)
    if action == "sts:AssumeRole":
        request = {
            "sts:ExternalId": str(_param(response, "ExternalId") or ""),
            "sts:RoleSessionName": str(_param(response, "RoleSessionName") or ""),
        }
        allowed, refused = _may_assume(identity, str(resources[0]), region, request), resources[0]
    else:
        allowed, refused = authorize(identity, action, resources, region)
    if allowed:
        return None
    message = (
        f"User: {identity.arn} is not authorized to perform: {action} on resource: {refused} "
        f"because no identity-based policy allows the {action} action"
    )
    return _error_response(response, code, status, message, info.protocol)


def scp_refused(
    caller: Caller, action: str, resources: tuple[str, ...], region: str
) -> tuple[str, str] | None:
    """(the resource, "explicit" | "implicit") when the service control policies over the
    caller's account refuse the call, whatever its own and resource policies say; None when
    they allow it or do not apply (root here is the management account's, never restricted)."""
    if caller.is_root:
        return None
    key = (caller.arn, GENERATION.value, action, resources, region)
    if key in _SCP_CACHE:
        return _SCP_CACHE[key]
    from emulator.organizations import scp_refusal

    context = _context(caller, region)
    outcome: tuple[str, str] | None = None
    for resource in resources:
        why = scp_refusal(caller, action, resource, _with_resource_org(context, resource))
        if why is not None:
            outcome = (resource, why)
            break
    if len(_SCP_CACHE) > _CACHE_LIMIT:
        _SCP_CACHE.clear()
    _SCP_CACHE[key] = outcome
    return outcome


def principal_of(caller: Caller) -> Any:
    """The caller as resource-based policies name it (emulator.resource_policies)."""
    from emulator.resource_policies import Principal

    if caller.kind == "AssumedRole":
        return Principal(
            caller.account,
            arn=f"arn:aws:iam::{caller.account}:role/{caller.name}",
            session_arn=caller.arn,
        )
    return Principal(caller.account, arn=caller.arn)


# Resource policies read on every request of these services (cheap lookups); Lambda's only
# where they can change the outcome (another account's function, or no identity allow).
_RESOURCE_POLICY_ALWAYS = ("arn:aws:events:", "arn:aws:sns:")


def authorize(
    caller: Caller, action: str, resources: tuple[str, ...], region: str
) -> tuple[bool, str]:
    """Identity and resource-based policies together, per resource, as AWS combines them:
    an explicit Deny anywhere refuses; same account, either may allow (a resource policy
    naming only the account defers to the identity policies); across accounts, both must."""
    from emulator import resource_policies as rp

    if caller.is_root and all(rp.account_of(r) in ("", caller.account) for r in resources):
        return True, ""
    scp = scp_refused(caller, action, resources, region)
    if scp is not None:
        return False, scp[0]
    for resource in resources:
        identity_allows = caller.is_root or evaluate(caller, action, (resource,), region)[0]
        owner = rp.account_of(resource)
        # An Organization's roots and OUs are the management account's, but a member's
        # principal reaches them with its identity policy alone: Organizations itself decides
        # who may read (emulator.organizations.may_read_organization: management or delegated
        # administrator), not a cross-account resource policy.
        cross_account = owner not in ("", caller.account) and ":organizations::" not in resource
        if not (
            cross_account or resource.startswith(_RESOURCE_POLICY_ALWAYS) or not identity_allows
        ):
            continue
        document = rp.policy_of(resource)
        if document is None:
            if cross_account or not identity_allows:
                return False, resource
            continue
        principal = principal_of(caller)
        decision = rp.decide(
            document, principal, action, resource, rp.principal_context(principal, region)
        )
        if decision.effect == rp.DENY:
            return False, resource
        resource_allows = decision.effect == rp.ALLOW
        if cross_account:
            ok = identity_allows and resource_allows
        else:
            ok = identity_allows or (resource_allows and decision.names_principal)
        if not ok:
            return False, resource
    return True, ""


def _may_assume(caller: Caller, role_arn: str, region: str, request: Mapping[str, str]) -> bool:
    """AssumeRole: the role's trust policy must allow the caller (its conditions included:
    `sts:ExternalId`, `aws:PrincipalOrgID`, `aws:PrincipalArn`, ...); the caller's identity
    policy must allow too, unless the role is in the caller's account and its trust names the
    caller's own ARN (IAM User Guide, "Policy evaluation logic")."""
    from moto.iam.models import iam_backends

    from emulator import resource_policies as rp

    # The role lives in the account its ARN names (a member account's role trusting the hub).
    account = rp.account_of(role_arn) or caller.account
    try:
        role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
    except Exception:
        return False
    principal = principal_of(caller)
    context = rp.principal_context(principal, region, request)
    decision = rp.decide(
        role.assume_role_policy_document, principal, "sts:AssumeRole", role_arn, context
    )
    if decision.effect != rp.ALLOW:
        return False
    identity_allows = evaluate(caller, "sts:AssumeRole", (role_arn,), region)[0]
    return identity_allows or (account == caller.account and decision.names_principal)


def service_may_assume(role_arn: str, service: str, region: str, source: Mapping[str, str]) -> bool:
    """A service (`events.amazonaws.com`, `scheduler.amazonaws.com`) may assume `role_arn`:
    its trust policy names the service (conditions on `aws:SourceArn` / `aws:SourceAccount`
    evaluated with `source`)."""
    from moto.iam.models import iam_backends

    from emulator import resource_policies as rp

    account = rp.account_of(role_arn)
    try:
        role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
    except Exception:
        return False
    principal = rp.Principal(account, service=service)
    context = rp.principal_context(principal, region, source)
    decision = rp.decide(
        role.assume_role_policy_document, principal, "sts:AssumeRole", role_arn, context
    )
    return decision.effect == rp.ALLOW


def role_allows(role_arn: str, action: str, resource: str, region: str) -> bool:
    """A session of `role_arn` (as a service assumes it) may do `action` on `resource`."""
    from emulator import resource_policies as rp

    account = rp.account_of(role_arn)
    name = role_arn.rsplit("/", 1)[-1]
    session = Caller(
        "AssumedRole",
        f"arn:aws:sts::{account}:assumed-role/{name}/service",
        account,
        "",
        f"service:{name}",
        name,
    )
    return authorize(session, action, (resource,), region)[0]


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Authenticate at the transport (both modes), authorize in `call_action`."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.core.botocore_stubber import BotocoreStubber
        from moto.core.responses import BaseResponse
        from moto.iam.responses import IamResponse

        original_call_action = BaseResponse.call_action

        def call_action(self: Any) -> Any:
            refused = _check(self)
            if refused is not None:
                return refused
            return original_call_action(self)

        BaseResponse.call_action = call_action  # type: ignore[method-assign]
        # moto's own check stays off: this module decides.
        ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = (  # type: ignore[method-assign]
            lambda self, resource="*": None
        )

        iam_call_action = IamResponse.call_action

        def iam_changes_policies(self: Any) -> Any:
            try:
                return iam_call_action(self)
            finally:
                action = self._get_action() or ""
                if not action.startswith(("Get", "List", "Simulate", "Generate")):
                    GENERATION.bump()

        IamResponse.call_action = iam_changes_policies  # type: ignore[method-assign]

        original_process = BotocoreStubber.process_request

        def process_request(self: Any, request: Any) -> Any:
            from emulator.routes import is_emulator_route

            if not ENFORCEMENT.enabled or is_emulator_route(request.url):
                return original_process(self, request)
            raw: Any = request.body or b""
            body = raw
            if hasattr(raw, "read"):
                # (botocore's AwsChunkedWrapper, S3 PutObject's body, can seek but not tell: a
                # request body starts at 0; left read, moto stored the object empty)
                position = raw.tell() if hasattr(raw, "tell") else 0
                body = raw.read()
                if hasattr(raw, "seek"):
                    raw.seek(position)
            if isinstance(body, str):
                body = body.encode()
            identity = authenticate_transport(request.method, request.url, request.headers, body)
            if identity is None:
                return original_process(self, request)
            with request_identity(identity):
                return original_process(self, request)

        BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
        _patch_state_machine_clients()
        _installed = True


def _patch_state_machine_clients() -> None:
    import importlib

    task = "moto.stepfunctions.parser.asl.component.state.exec.state_task"
    for module_name in (
        "moto.stepfunctions.parser.asl.utils.boto_client",
        f"{task}.lambda_eval_utils",
        *(
            f"{task}.service.state_task_service_{name}"
            for name in (
                "unsupported",
                "aws_sdk",
                "sfn",
                "glue",
                "dynamodb",
                "sns",
                "sqs",
                "events",
                "ecs",
                "batch",
            )
        ),
    ):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, "boto_client_for"):
            module.boto_client_for = _state_machine_client  # type: ignore[attr-defined]


def wsgi_identity(environ: Mapping[str, Any], headers: Mapping[str, str], body: bytes) -> Any:
    """Server mode: authenticate a WSGI request (the path exactly as it came over the wire)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
    host = headers.get("Host") or headers.get("host") or "127.0.0.1"
    url = f"http://{host}{raw}"
    return authenticate_transport(environ.get("REQUEST_METHOD", "GET"), url, headers, body)


# --- credentials of service-assumed roles ----------------------------------------------------

_ROLE_SESSIONS: dict[tuple[str, str], tuple[str, str, str, datetime.datetime]] = {}
_ROLE_LOCK = threading.Lock()
# Lambda's and Step Functions' role sessions last hours and are refreshed before they end.
_SESSION_SECONDS = 12 * 3600


def role_credentials(role_arn: str, session_name: str) -> dict[str, str]:
    """Credentials of `role_arn` as the AWS service that runs with it gets them (Lambda: the
    function's execution role, session named after the function; Step Functions: the state
    machine's role). The service principal is trusted by the role's trust policy, so no
    sts:AssumeRole call by a user is involved: the emulator mints the session in moto's STS."""
    from moto.sts.models import sts_backends

    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else DEFAULT_ACCOUNT
    key = (role_arn, session_name)
    with _ROLE_LOCK:
        cached = _ROLE_SESSIONS.get(key)
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        if cached is None or cached[3] - now < datetime.timedelta(minutes=15):
            assumed = sts_backends[account]["aws"].assume_role(
                region_name="us-east-1",
                role_session_name=session_name[:64],
                role_arn=role_arn,
                policy="",
                duration=_SESSION_SECONDS,
                external_id="",
            )
            cached = (
                assumed.access_key_id,
                assumed.secret_access_key,
                assumed.session_token,
                assumed.expiration.replace(tzinfo=None),
            )
            _ROLE_SESSIONS[key] = cached
    return {
        "AWS_ACCESS_KEY_ID": cached[0],
        "AWS_SECRET_ACCESS_KEY": cached[1],
        "AWS_SESSION_TOKEN": cached[2],
    }


def function_credentials(fn: Any) -> dict[str, str]:
    """The environment credentials of a Lambda function run in process: its execution role's
    session (named after the function, as Lambda names it); with enforcement off, nothing
    (the process's own credentials stay)."""
    role = getattr(fn, "role", None)
    if not ENFORCEMENT.enabled or not role:
        return {}
    return role_credentials(str(role), str(fn.function_name))


def _state_machine_client(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's interpreter signs its task calls with fixed fake keys; Step Functions calls with
    the state machine's role (or the task's `Credentials.RoleArn`)."""
    import boto3
    from botocore.config import Config
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    kwargs: dict[str, Any] = {}
    if not botocore_stubber.enabled:
        kwargs["endpoint_url"] = f"http://localhost:{moto_server_port()}"
    role_arn = getattr(state_credentials, "role_arn", None)
    if ENFORCEMENT.enabled and role_arn:
        credentials = role_credentials(str(role_arn), "states")
        kwargs.update(
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials["AWS_SESSION_TOKEN"],
        )
    else:
        kwargs.update(
            aws_access_key_id=ROOT_ACCESS_KEY_ID, aws_secret_access_key=ROOT_SECRET_ACCESS_KEY
        )
    return boto3.client(
        service_name=service,
        region_name=region,
        config=Config(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
        ),
        **kwargs,
    )


def reset() -> None:
    """A fresh embedded AWS: no cached policies, decisions or role sessions."""
    with _ROLE_LOCK:
        _ROLE_SESSIONS.clear()
    _POLICY_CACHE.clear()
    _DECISION_CACHE.clear()
    _SCP_CACHE.clear()
    GENERATION.bump()
