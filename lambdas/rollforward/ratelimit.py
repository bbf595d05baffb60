"""Client-side pacing for Lambda's shared control-plane bucket.

Every Lambda control-plane call except `GetFunction` (and the data-plane `Invoke`) draws on one
bucket of 15 requests per second per account and region, which cannot be raised — and the
account's own deploys draw on it too. A scan that ran flat out would make the user's
`cdk deploy` fail with 429s. So the scan paces itself *before* sending: it takes a token from a
`TokenBucket` sized to its budget (`SCAN_RATE_PER_SECOND`, e.g. 3 of the 15) for every attempt
it sends, retries included, and never relies on 429s to find the limit.

`pacing(client, limiter, counter)` attaches the bucket to a boto3 client through botocore's
`before-send.<service>.<Operation>` event, which fires once per HTTP attempt just before it is
sent (after signing, after botocore's own adaptive-retry delay), so every call the scan makes —
including the ones made by code it calls, such as the tracker's `ListTags` — is paced without
an `acquire()` at each call site. The same context manager counts attempts and 429 answers per
operation from `response-received.<service>.<Operation>`.

Adaptive retry (`retries={"mode": "adaptive"}`) stays on underneath: if the user's deploys
drain the bucket anyway, botocore backs off on the 429s; this module only keeps rollforward
from being the cause.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

# Lambda operations that do not draw on the shared 15 req/s bucket (docs/design.md §1):
# GetFunction has its own 100 req/s bucket; invocations are data plane.
SHARED_BUCKET_EXEMPT = frozenset(
    {"GetFunction", "Invoke", "InvokeAsync", "InvokeWithResponseStream"}
)
THROTTLED_STATUS = 429


class TokenBucket:
    """A thread-safe token bucket: at most `burst + rate * t` acquisitions in any `t` seconds.

    `acquire()` reserves a token and sleeps until it is due, outside the lock, so concurrent
    callers queue up in order instead of spinning. Starts full. `clock` and `sleep` are
    injectable so tests run on a fake clock; they default to the monotonic clock and real sleep.
    """

    def __init__(
        self,
        rate_per_second: float,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate_per_second > 0:
            raise ValueError(f"rate_per_second must be positive, not {rate_per_second!r}")
        if not burst >= 1:
            raise ValueError(f"burst must be at least one token, not {burst!r}")
        self._rate = float(rate_per_second)
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self._burst  # may go negative: tokens already promised to waiters
        self._updated = clock()
        self._waited = 0.0

    @property
    def rate_per_second(self) -> float:
        return self._rate

    @property
    def burst(self) -> float:
        return self._burst

    @property
    def waited_seconds(self) -> float:
        """Total time callers have spent waiting for tokens (how much pacing cost)."""
        with self._lock:
            return self._waited

    def acquire(self) -> float:
        """Take one token, sleeping until it is available; returns the seconds slept."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
            self._updated = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self._rate
            self._waited += wait
        if wait > 0:
            self._sleep(wait)
        return wait


@dataclass(frozen=True)
class CallCounts:
    """A snapshot of a `CallCounter`: attempts sent and 429s received, per operation."""

    calls: dict[str, int] = field(default_factory=dict)
    throttled: dict[str, int] = field(default_factory=dict)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_throttled(self) -> int:
        return sum(self.throttled.values())

    def minus(self, earlier: CallCounts) -> CallCounts:
        """What happened between `earlier` and this snapshot."""

        def diff(now: dict[str, int], then: dict[str, int]) -> dict[str, int]:
            return {op: n - then.get(op, 0) for op, n in now.items() if n - then.get(op, 0)}

        return CallCounts(diff(self.calls, earlier.calls), diff(self.throttled, earlier.throttled))


class CallCounter:
    """Counts HTTP attempts (retries included) and 429 answers per operation; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()

    def record_attempt(self, operation: str) -> None:
        with self._lock:
            self._calls[operation] += 1

    def record_throttled(self, operation: str) -> None:
        with self._lock:
            self._throttled[operation] += 1

    def snapshot(self) -> CallCounts:
        with self._lock:
            return CallCounts(dict(self._calls), dict(self._throttled))


def _operation(event_name: str) -> str:
    """`before-send.lambda.ListFunctions` -> `ListFunctions`."""
    return event_name.rsplit(".", 1)[-1]


def _status(response_dict: Any) -> int | None:
    if isinstance(response_dict, dict):
        status = response_dict.get("status_code")
        return status if isinstance(status, int) else None
    return None


@contextmanager
def pacing(
    client: Any,
    limiter: TokenBucket | None,
    counter: CallCounter,
    operations: Collection[str] | None = None,
    exempt: Collection[str] = SHARED_BUCKET_EXEMPT,
) -> Iterator[CallCounter]:
    """While open, every attempt `client` sends for the chosen operations first takes a token
    from `limiter` (None: count only) and is counted in `counter`, with its 429 answers.

    `operations` None means every operation of the client except `exempt` (by default the
    Lambda operations outside the shared bucket). Handlers are removed on exit, so a client
    cached across warm Lambda invocations never accumulates them.
    """
    service = client.meta.service_model.service_id.hyphenize()
    chosen = frozenset(operations) if operations is not None else None
    skipped = frozenset(exempt)

    def applies(operation: str) -> bool:
        return (chosen is None or operation in chosen) and operation not in skipped

    def before_send(event_name: str = "", **_: Any) -> None:
        operation = _operation(event_name)
        if applies(operation):
            if limiter is not None:
                limiter.acquire()
            counter.record_attempt(operation)

    def response_received(event_name: str = "", response_dict: Any = None, **_: Any) -> None:
        operation = _operation(event_name)
        if applies(operation) and _status(response_dict) == THROTTLED_STATUS:
            counter.record_throttled(operation)

    # Registered on the most specific event names, so botocore calls them before handlers
    # registered on `before-send` itself (an in-process emulator answers there).
    names = [f".{op}" for op in sorted(chosen)] if chosen is not None else [""]
    tag = uuid.uuid4().hex
    registrations = [
        (f"{event}.{service}{suffix}", handler, f"rollforward-pacing-{event}-{tag}{suffix}")
        for suffix in names
        for event, handler in (
            ("before-send", before_send),
            ("response-received", response_received),
        )
    ]
    for event_name, handler, unique_id in registrations:
        client.meta.events.register_first(event_name, handler, unique_id=unique_id)
    try:
        yield counter
    finally:
        for event_name, handler, unique_id in registrations:
            client.meta.events.unregister(event_name, handler, unique_id=unique_id)


@contextmanager
def paced(
    limiter: TokenBucket,
    lambda_clients: Iterable[Any],
    lambda_calls: CallCounter,
    *,
    other_clients: Iterable[Any] = (),
    other_calls: CallCounter | None = None,
) -> Iterator[None]:
    """While open: every shared-bucket attempt of each Lambda client (each once, however many
    holders share it) waits for `limiter` and is counted; `other_clients` (Step Functions) are
    only counted, every operation."""
    with ExitStack() as stack:
        for client in {id(c): c for c in lambda_clients if c is not None}.values():
            stack.enter_context(pacing(client, limiter, lambda_calls))
        if other_calls is not None:
            for client in {id(c): c for c in other_clients if c is not None}.values():
                stack.enter_context(pacing(client, None, other_calls, exempt=()))
        yield


__all__ = [
    "SHARED_BUCKET_EXEMPT",
    "CallCounter",
    "CallCounts",
    "TokenBucket",
    "paced",
    "pacing",
]
