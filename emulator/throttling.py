"""Lambda's control-plane rate limits for the embedded AWS.

AWS (docs/design.md §1): per account and region, `GetFunction` has its own 100 req/s bucket and every
other control-plane call shares one 15 req/s bucket — ListFunctions, GetFunctionConfiguration,
Get/PutRuntimeManagementConfig, PublishVersion, UpdateAlias, and the user's own deploys. The
quotas cannot be raised, so rollforward has to live within them; this module makes the emulator
refuse what AWS would refuse, with the same 429 (`TooManyRequestsException`, `Retry-After`).
Invoke is data plane (bounded by concurrency, not by these buckets) and is never throttled here.

Buckets refill in real monotonic seconds: a rate is about real time, not the virtual clock.
Rates come from `STATE.throttle` at each request (burst = one second's worth); throttling is
only enforced while `STATE.throttle.enabled`, but calls are counted either way so benches can
read how many control-plane calls a run made (`throttle_stats()`).
"""

from __future__ import annotations

import functools
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from moto.awslambda.responses import LambdaResponse
from moto.core.common_types import TYPE_RESPONSE

from emulator.lambda_api import too_many_requests
from emulator.state import STATE, ThrottleSettings


class Bucket(StrEnum):
    SHARED = "shared"  # every control-plane call except GetFunction
    GET_FUNCTION = "get_function"  # GetFunction's own bucket
    UNTHROTTLED = "unthrottled"  # data plane: Invoke, InvokeAsync, response streaming


# POST /2015-03-31/functions/{name}/invocations, /2014-11-13/functions/{name}/invoke-async/,
# /2021-11-15/functions/{name}/response-streaming-invocations
_DATA_PLANE = re.compile(
    r"^/[^/]+/functions/[^/]+/(?:invocations|invoke-async|response-streaming-invocations)/?$"
)
# GET /2015-03-31/functions/{name} — and nothing below it (…/configuration is the shared bucket).
_GET_FUNCTION = re.compile(r"^/[^/]+/functions/[^/]+/?$")


def classify(method: str, path: str) -> Bucket:
    """Which bucket a Lambda request draws on, from its HTTP method and URL path."""
    method = method.upper()
    if method == "POST" and _DATA_PLANE.match(path):
        return Bucket.UNTHROTTLED
    if method == "GET" and _GET_FUNCTION.match(path):
        return Bucket.GET_FUNCTION
    return Bucket.SHARED


def _capacity(rate: float) -> float:
    """Burst = one second's worth, but never below one call (a 0.5 req/s bucket still admits)."""
    return max(1.0, rate)


class TokenBucket:
    """Holds up to one second's worth of tokens; refills continuously at `rate` per second."""

    def __init__(self, rate: float, now: float) -> None:
        self.tokens = _capacity(rate)
        self.updated = now

    def take(self, rate: float, now: float) -> float:
        """Take one token: 0.0 if granted, else the seconds until one will be available."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(_capacity(rate), self.tokens + elapsed * rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / rate


@dataclass(frozen=True)
class ThrottleStats:
    """Calls admitted and refused per bucket (a snapshot)."""

    allowed: Mapping[Bucket, int] = field(default_factory=dict)
    throttled: Mapping[Bucket, int] = field(default_factory=dict)


def _rate(settings: ThrottleSettings, bucket: Bucket) -> float:
    return settings.get_function_rate if bucket is Bucket.GET_FUNCTION else settings.shared_rate


class _Limiter:
    """Buckets and counters per (account, region, bucket); thread-safe (moto's server is)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, Bucket], TokenBucket] = {}
        self._allowed: dict[tuple[str, str, Bucket], int] = {}
        self._throttled: dict[tuple[str, str, Bucket], int] = {}
        self._settings: ThrottleSettings | None = None

    def admit(self, account_id: str, region: str, bucket: Bucket) -> int | None:
        """None if the call may proceed, else the Retry-After seconds (≥ 1) to answer with."""
        if bucket is Bucket.UNTHROTTLED:
            return None
        key = (account_id, region, bucket)
        with self._lock:
            settings = STATE.throttle
            if settings is not self._settings:  # emulator reset: start from full buckets
                self._clear()
                self._settings = settings
            wait = 0.0
            if settings.enabled:
                now = self._clock()
                rate = _rate(settings, bucket)
                token_bucket = self._buckets.setdefault(key, TokenBucket(rate, now))
                wait = token_bucket.take(rate, now)
            counters = self._throttled if wait else self._allowed
            counters[key] = counters.get(key, 0) + 1
        return max(1, math.ceil(wait)) if wait else None

    def stats(self, account_id: str | None, region: str | None) -> ThrottleStats:
        def totals(counters: dict[tuple[str, str, Bucket], int]) -> dict[Bucket, int]:
            result: dict[Bucket, int] = {}
            for (account, region_name, bucket), count in counters.items():
                if account_id in (None, account) and region in (None, region_name):
                    result[bucket] = result.get(bucket, 0) + count
            return result

        with self._lock:
            return ThrottleStats(totals(self._allowed), totals(self._throttled))

    def reset(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self._buckets.clear()
        self._allowed.clear()
        self._throttled.clear()


_LIMITER = _Limiter()


def throttle_stats(account_id: str | None = None, region: str | None = None) -> ThrottleStats:
    """Allowed / throttled control-plane calls per bucket since the last reset, optionally for
    one account and/or region. Counted whether or not throttling is enabled."""
    return _LIMITER.stats(account_id, region)


def reset_throttle_stats() -> None:
    """Empty the counters and refill every bucket (also happens when `STATE` is reset)."""
    _LIMITER.reset()


def _patched_call_action(original: Callable[..., TYPE_RESPONSE]) -> Callable[..., TYPE_RESPONSE]:
    """In front of every Lambda route (moto's `dispatch` → `call_action`), in both modes."""

    @functools.wraps(original)
    def call_action(self: LambdaResponse) -> TYPE_RESPONSE:
        bucket = classify(self.method, self.path)
        retry_after = _LIMITER.admit(self.current_account, self.region, bucket)
        if retry_after is not None:
            return too_many_requests(retry_after).as_response()
        return original(self)

    return call_action


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Wrap moto's Lambda request handling, once per process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        LambdaResponse.call_action = _patched_call_action(LambdaResponse.call_action)  # type: ignore[method-assign]
        _installed = True
