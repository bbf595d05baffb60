"""A large Lambda fleet behind real boto3 clients, on a compressed clock, for `bench.scan`.

The embedded AWS answers a Lambda call in 10-50 ms on this machine, so 30,000 functions (3
accounts x 2 regions x 5,000) cannot be built and scanned there in minutes. This module answers
the few read operations the scan and the naive loop make — ListFunctions (with
`FunctionVersion=ALL`, 50 per page, `Marker`), GetFunction (`Qualifier`),
GetRuntimeManagementConfig, ListAliases, ListTags — from an in-memory fleet, through botocore's
`before-send` event, so every byte still goes through botocore's serializer and parser, the
project's adapters (`AwsLambdaControl`) and its pacing hooks (`rollforward.ratelimit`), exactly
as against AWS. Anything else answers 400, so a call this model does not know cannot pass
unnoticed.

AWS's limits per account and region (docs/design.md §1) are kept on a `CompressedClock`: one
bucket of 15 req/s shared by every call but GetFunction, GetFunction's own of 100 req/s, each
holding one second's worth; a call that finds its bucket empty is answered 429
`TooManyRequestsException` (with `Retry-After`), as AWS answers. The account owner's own deploys
draw `user_rate` req/s from the same shared bucket (a steady stream, interleaved on the same
clock); their 429s are counted. Every call costs `latency` seconds of clock (AWS's round trip).

The clock only moves when someone waits (a paced client's `TokenBucket.sleep`, botocore's retry
back-off, the latency): an hour of AWS time runs in the seconds the CPU needs. The account and
region a call acts in come from the client (`region_name`, and the account id the bench puts in
the client's access key).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from botocore.awsrequest import AWSResponse

SHARED_RATE = 15.0
GET_FUNCTION_RATE = 100.0
PAGE_LIMIT = 50
LATEST = "$LATEST"


class CompressedClock:
    """Seconds of AWS time that pass only when waited for (`sleep`). Thread-safe."""

    def __init__(self) -> None:
        self._now = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._now += seconds


class _Bucket:
    """AWS's bucket: one second's worth of tokens, refilled continuously."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.updated = now

    def take(self, now: float) -> float:
        """0.0 if a token was taken, else the seconds until one is available."""
        self.tokens = min(self.rate, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class Qualified:
    """One qualifier's runtime setting and the runtime version it runs."""

    mode: str  # Auto | FunctionUpdate | Manual
    runs: str  # the runtime version ARN in use


@dataclass
class Function:
    name: str
    runtime: str
    architecture: str
    latest: Qualified
    versions: dict[str, Qualified] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> version
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Target:
    """One (account, region): its functions, its two buckets and what they saw."""

    account: str
    region: str
    functions: dict[str, Function] = field(default_factory=dict)
    user_rate: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)  # per operation, answered or not
    throttled: dict[str, int] = field(default_factory=dict)
    user_calls: int = 0
    user_throttled: int = 0
    _shared: _Bucket | None = None
    _get_function: _Bucket | None = None
    _user_next: float = 0.0

    def reset(self, now: float) -> None:
        self.calls, self.throttled = {}, {}
        self.user_calls = self.user_throttled = 0
        self._shared = _Bucket(SHARED_RATE, now)
        self._get_function = _Bucket(GET_FUNCTION_RATE, now)
        self._user_next = now

    def admit(self, operation: str, now: float) -> float:
        """0.0 when the call may proceed, else the Retry-After seconds."""
        if self._shared is None or self._get_function is None:
            self.reset(now)
        assert self._shared is not None and self._get_function is not None
        if self.user_rate > 0:  # the owner's deploys that fell due before this call
            while self._user_next <= now:
                self.user_calls += 1
                if self._shared.take(self._user_next):
                    self.user_throttled += 1
                self._user_next += 1.0 / self.user_rate
        bucket = self._get_function if operation == "GetFunction" else self._shared
        self.calls[operation] = self.calls.get(operation, 0) + 1
        wait = bucket.take(now)
        if wait:
            self.throttled[operation] = self.throttled.get(operation, 0) + 1
        return wait


def runtime_arn(region: str, release: str, runtime: str, architecture: str) -> str:
    """A runtime version ARN (empty account field, 64 hex): one per region, release, runtime
    and architecture, as on AWS."""
    digest = hashlib.sha256(f"{region}/{release}/{runtime}/{architecture}".encode()).hexdigest()
    return f"arn:aws:lambda:{region}::runtime:{digest}"


class Fleet:
    """Every target's functions, answering boto3 Lambda clients registered with `serve`."""

    def __init__(self, clock: CompressedClock, latency: float = 0.03) -> None:
        self.clock = clock
        self.latency = latency
        self.targets: dict[tuple[str, str], Target] = {}

    def target(self, account: str, region: str) -> Target:
        return self.targets.setdefault((account, region), Target(account, region))

    def serve(self, client: Any, account: str) -> None:
        """Answer this client's Lambda calls from the fleet, in `account` and its region."""
        target = self.target(account, client.meta.region_name)

        def answer(request: Any, event_name: str = "", **_: Any) -> AWSResponse:
            operation = event_name.rsplit(".", 1)[-1]
            self.clock.sleep(self.latency)
            wait = target.admit(operation, self.clock.now())
            if wait:
                return _error(429, "TooManyRequestsException", "Rate exceeded", wait)
            return _handle(target, operation, request)

        # Nothing else answers this client (the embedded AWS, which serves the bench's ledger,
        # would otherwise do the same work for nothing: botocore runs every before-send handler).
        from moto.core.models import botocore_stubber

        client.meta.events.unregister("before-send", botocore_stubber)
        client.meta.events.register("before-send.lambda", answer, unique_id=f"fleet-{id(self)}")


def _functions_arn(target: Target, name: str) -> str:
    return f"arn:aws:lambda:{target.region}:{target.account}:function:{name}"


def _configuration(target: Target, function: Function, qualifier: str) -> dict[str, Any]:
    return {
        "FunctionName": function.name,
        "FunctionArn": _functions_arn(target, function.name)
        + ("" if qualifier == LATEST else f":{qualifier}"),
        "Runtime": function.runtime,
        "Architectures": [function.architecture],
        "PackageType": "Zip",
        "Version": qualifier,
        "LastModified": "2026-11-01T00:00:00.000+0000",
    }


def _listing(target: Target, all_versions: bool) -> Iterator[dict[str, Any]]:
    for name in sorted(target.functions):
        function = target.functions[name]
        yield _configuration(target, function, LATEST)
        if all_versions:
            for version in sorted(function.versions, key=int):
                yield _configuration(target, function, version)


def _handle(target: Target, operation: str, request: Any) -> AWSResponse:
    url = urlparse(request.url)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    parts = [unquote(p) for p in url.path.split("/") if p]
    if operation == "ListFunctions":
        items = list(_listing(target, query.get("FunctionVersion") == "ALL"))
        start = int(query.get("Marker") or 0)
        size = min(int(query.get("MaxItems") or PAGE_LIMIT), PAGE_LIMIT)
        page: dict[str, Any] = {"Functions": items[start : start + size]}
        if start + size < len(items):
            page["NextMarker"] = str(start + size)
        return _ok(page)
    if operation == "ListTags":
        function = target.functions.get(parts[-1].split(":")[6])
        if function is None:
            return _not_found()
        return _ok({"Tags": function.tags})
    name = parts[2].split(":")[6] if parts[2].startswith("arn:") else parts[2]
    function = target.functions.get(name)
    qualifier = query.get("Qualifier") or LATEST
    setting = None
    if function is not None:
        setting = function.latest if qualifier == LATEST else function.versions.get(qualifier)
    if function is None or setting is None:
        return _not_found()
    if operation == "GetFunction":
        configuration = _configuration(target, function, qualifier)
        configuration["RuntimeVersionConfig"] = {"RuntimeVersionArn": setting.runs}
        return _ok({"Configuration": configuration, "Tags": function.tags})
    if operation == "GetRuntimeManagementConfig":
        answer = {"UpdateRuntimeOn": setting.mode, "FunctionArn": _functions_arn(target, name)}
        if setting.mode == "Manual":
            answer["RuntimeVersionArn"] = setting.runs
        return _ok(answer)
    if operation == "ListAliases":
        arn = _functions_arn(target, name)
        aliases = [
            {"AliasArn": f"{arn}:{alias}", "Name": alias, "FunctionVersion": version}
            for alias, version in sorted(function.aliases.items())
        ]
        return _ok({"Aliases": aliases})
    return _error(400, "InvalidParameterValueException", f"{operation} is not in the model")


def _ok(body: Mapping[str, Any]) -> AWSResponse:
    return _response(200, {}, body)


def _not_found() -> AWSResponse:
    return _error(404, "ResourceNotFoundException", "Function not found")


def _error(status: int, code: str, message: str, retry_after: float = 0.0) -> AWSResponse:
    headers = {"x-amzn-ErrorType": code}
    if retry_after:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    return _response(status, headers, {"Type": "User", "message": message})


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _response(status: int, headers: dict[str, str], body: Mapping[str, Any]) -> AWSResponse:
    data = json.dumps(body).encode()
    headers = {**headers, "Content-Type": "application/json", "Content-Length": str(len(data))}
    return AWSResponse("https://lambda.amazonaws.com/", status, headers, _Raw(data))


def build(
    fleet: Fleet,
    account: str,
    region: str,
    count: int,
    *,
    pinned_share: float,
    aliased_share: float,
    user_rate: float = 0.0,
    released: bool = True,
) -> Callable[[], None]:
    """`count` functions in (account, region): half python3.12/x86_64, half nodejs22.x/arm64;
    `aliased_share` behind an alias `live` on a published version 1; `pinned_share` pinned
    Manual on the runtime version before the newest (a fifth of the pins on the alias's version,
    the rest on `$LATEST`); everything else Auto, on the newest when `released`. Returns a
    function that releases the next runtime version (Auto qualifiers move to it)."""
    target = fleet.target(account, region)
    target.user_rate = user_rate
    pin_every = round(1 / pinned_share) if pinned_share else 0
    alias_every = round(1 / aliased_share) if aliased_share else 0
    for index in range(count):
        runtime, architecture = ("python3.12", "x86_64") if index % 2 else ("nodejs22.x", "arm64")
        old = runtime_arn(region, "v1", runtime, architecture)
        current = runtime_arn(region, "v2" if released else "v1", runtime, architecture)
        function = Function(
            f"fleet-{index:05d}",
            runtime,
            architecture,
            Qualified("Auto", current),
            tags={"rollforward:owner": f"team-{index % 17}@example.com"},
        )
        if alias_every and index % alias_every == 1:
            function.versions["1"] = Qualified("Auto", current)
            function.aliases["live"] = "1"
        if pin_every and index % pin_every == 0:
            if (index // pin_every) % 5 == 0:  # a fifth of the pins: on the alias's version
                function.versions["1"] = Qualified("Manual", old)
                function.aliases["live"] = "1"
            else:
                function.latest = Qualified("Manual", old)
        target.functions[function.name] = function

    def release() -> None:
        for function in target.functions.values():
            newer = runtime_arn(region, "v3", function.runtime, function.architecture)
            for setting in (function.latest, *function.versions.values()):
                if setting.mode == "Auto":
                    setting.runs = newer

    return release


class MemoryLedger:
    """`ports.Ledger` in memory, with the conditional writes the scan relies on (an open pin is
    left alone; updates only on the same generation). The bench's ledger: DynamoDB's answers
    are not what it measures, and the embedded AWS's 10-50 ms per call would be most of it."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def get(self, key: Any) -> Any:
        from rollforward.ledger import Pin

        item = self.items.get(key.id)
        return Pin.from_item(copy.deepcopy(item)) if item else None

    def open(self, pin: Any, now: Any) -> tuple[Any, bool]:
        from rollforward.clock import iso

        existing = self.get(pin.key)
        if existing is not None and existing.is_open:
            return existing, False
        pin.generation = existing.generation + 1 if existing is not None else 1
        pin.updated_at = iso(now)
        self.items[pin.key.id] = copy.deepcopy(pin.to_item())
        return pin, True

    def update(self, pin: Any, now: Any, **changes: Any) -> Any:
        from rollforward.clock import iso
        from rollforward.ledger import ConflictError

        current = self.items.get(pin.key.id)
        if current is None or current["generation"] != pin.generation:
            raise ConflictError(f"{pin.key.id} moved to another generation")
        for name, value in changes.items():
            setattr(pin, name, value)
        pin.updated_at = iso(now)
        self.items[pin.key.id] = copy.deepcopy(pin.to_item())
        return pin

    def mark_notice_sent(self, pin: Any, notice_key: str, now: Any) -> bool:
        from rollforward.clock import iso

        current = self.items.get(pin.key.id)
        if current is None or notice_key in current.get("notices", {}):
            return False
        current.setdefault("notices", {})[notice_key] = iso(now)
        return True

    def release_notice(self, pin: Any, notice_key: str, sent_at: Any) -> None:
        from rollforward.clock import iso

        current = self.items.get(pin.key.id)
        if current is not None and current.get("notices", {}).get(notice_key) == iso(sent_at):
            del current["notices"][notice_key]

    def move_execution(self, pin: Any, from_arn: str, to_arn: str, now: Any) -> bool:
        current = self.items.get(pin.key.id)
        if current is None or current.get("execution_arn") != from_arn:
            return False
        current["execution_arn"] = to_arn
        return True

    def list_pins(self, *, open_only: bool = True) -> list[Any]:
        from rollforward.ledger import Pin

        pins = [Pin.from_item(copy.deepcopy(item)) for item in self.items.values()]
        return [pin for pin in pins if pin.is_open or not open_only]


__all__ = [
    "CompressedClock",
    "Fleet",
    "Function",
    "MemoryLedger",
    "Qualified",
    "Target",
    "build",
    "runtime_arn",
]
