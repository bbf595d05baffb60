"""The scan's client-side token bucket and its botocore hook."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from hypothesis import given, settings
from hypothesis import strategies as st
from rollforward.ratelimit import CallCounter, CallCounts, TokenBucket, pacing

TOLERANCE = 1e-9


class FakeClock:
    """Time that only moves when the bucket sleeps or the test says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def bucket(rate: float, burst: float = 1.0) -> tuple[TokenBucket, FakeClock]:
    clock = FakeClock()
    return TokenBucket(rate, burst, clock=clock, sleep=clock.sleep), clock


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=50),
    burst=st.floats(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=120),
)
def test_no_window_ever_sees_more_than_rate_plus_burst(
    rate: float, burst: float, gaps: list[float]
) -> None:
    """Whatever the request sequence, any window of W seconds holds at most rate*W + burst
    calls: the achieved rate over the window never exceeds rate + burst/W."""
    limiter, clock = bucket(rate, burst)
    released: list[float] = []
    for gap in gaps:
        clock.now += gap
        limiter.acquire()
        released.append(clock.now)
    for first in range(len(released)):
        for last in range(first, len(released)):
            window = released[last] - released[first]
            calls = last - first + 1
            assert calls <= rate * window + burst + TOLERANCE


@settings(max_examples=100, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=50),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=60),
)
def test_it_never_waits_longer_than_the_rate_requires(rate: float, gaps: list[float]) -> None:
    """Each call is released as soon as the rate allows: at its arrival, or 1/rate after the
    previous release (burst 1), whichever is later."""
    limiter, clock = bucket(rate)
    previous: float | None = None
    for gap in gaps:
        clock.now += gap
        arrival = clock.now
        limiter.acquire()
        earliest = arrival if previous is None else max(arrival, previous + 1 / rate)
        assert clock.now == pytest.approx(earliest, abs=1e-6)
        previous = clock.now


def test_a_burst_is_admitted_then_calls_are_paced() -> None:
    limiter, clock = bucket(rate=10, burst=3)

    waits = [limiter.acquire() for _ in range(6)]

    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.1, 0.1, 0.1])
    assert clock.now == pytest.approx(0.3)
    assert limiter.waited_seconds == pytest.approx(0.3)


def test_an_idle_bucket_refills_to_the_burst_only() -> None:
    limiter, clock = bucket(rate=5, burst=2)
    for _ in range(4):
        limiter.acquire()
    clock.now += 3600  # an idle hour is worth two calls, not 18,000

    assert [limiter.acquire() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.2])


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0.5)])
def test_nonsense_settings_are_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


def test_threads_share_the_budget() -> None:
    """Four threads drawing on one 200 req/s bucket get 200 req/s between them, not 800."""
    limiter = TokenBucket(200, burst=1)
    released: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            limiter.acquire()
            with lock:
                released.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(released) == 100
    assert max(released) - started >= (100 - 1) / 200 * 0.95


# --------------------------------------------------------------------------- the botocore hook
class FakeLambda:
    """Answers every Lambda request at `before-send` (as an in-process emulator does) and lets
    the test decide which attempts are throttled."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[tuple[str, float]] = []  # (operation, time) per attempt
        self.throttle_next = 0

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse:
        self.sent.append((event_name.rsplit(".", 1)[-1], self.clock.now))
        if self.throttle_next:
            self.throttle_next -= 1
            body = b'{"Type":"User","message":"Rate exceeded"}'
            headers = {"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "1"}
            return AWSResponse(request.url, 429, headers, _Raw(body))
        return AWSResponse(request.url, 200, {}, _Raw(b'{"Functions":[],"Aliases":[]}'))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


@pytest.fixture
def lam() -> Any:
    retries = Config(retries={"mode": "standard", "total_max_attempts": 3})
    return boto3.client(
        "lambda",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=retries,
    )


def test_pacing_paces_and_counts_every_attempt_of_chosen_operations(lam: Any) -> None:
    clock = FakeClock()
    service = FakeLambda(clock)
    lam.meta.events.register("before-send", service)
    limiter = TokenBucket(2, clock=clock, sleep=clock.sleep)
    counter = CallCounter()

    with pacing(lam, limiter, counter, operations={"ListFunctions"}):
        for _ in range(3):
            lam.list_functions()
        lam.list_aliases(FunctionName="fn")  # not chosen: neither paced nor counted

    assert [t for op, t in service.sent if op == "ListFunctions"] == pytest.approx([0, 0.5, 1.0])
    assert counter.snapshot() == CallCounts({"ListFunctions": 3}, {})


def test_pacing_by_default_covers_the_shared_bucket_and_counts_429s(lam: Any) -> None:
    clock = FakeClock()
    service = FakeLambda(clock)
    lam.meta.events.register("before-send", service)
    counter = CallCounter()
    service.throttle_next = 1

    with pacing(lam, TokenBucket(100, clock=clock, sleep=clock.sleep), counter):
        lam.get_runtime_management_config(FunctionName="fn")  # throttled once, then retried
        lam.list_aliases(FunctionName="fn")
        lam.get_function(FunctionName="fn")  # its own 100 req/s bucket: exempt

    counts = counter.snapshot()
    assert counts.calls == {"GetRuntimeManagementConfig": 2, "ListAliases": 1}
    assert counts.throttled == {"GetRuntimeManagementConfig": 1}
    assert (counts.total_calls, counts.total_throttled) == (3, 1)


def test_leaving_pacing_removes_the_hooks(lam: Any) -> None:
    clock = FakeClock()
    lam.meta.events.register("before-send", FakeLambda(clock))
    counter = CallCounter()
    limiter = TokenBucket(1, clock=clock, sleep=clock.sleep)

    for _ in range(2):  # a warm Lambda re-entering with the same cached client
        with pacing(lam, limiter, counter):
            lam.list_functions()
    lam.list_functions()

    assert counter.snapshot().calls == {"ListFunctions": 2}
    assert clock.sleeps == pytest.approx([1.0])


def test_call_counts_difference() -> None:
    later = CallCounts({"A": 5, "B": 2}, {"A": 1})
    earlier = CallCounts({"A": 3, "B": 2}, {})

    assert later.minus(earlier) == CallCounts({"A": 2}, {"A": 1})
