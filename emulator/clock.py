"""A controllable clock for the embedded AWS.

Wait states, approval expiries, metric timestamps and scheduled rules all read this clock, so a
14-day escalation ladder runs in seconds: `advance(timedelta(days=3))` moves every waiter on.

Sleepers cost nothing while they sleep: each blocks on its own event with the real time left
until its deadline (emulated time flows at real speed between advances), and `advance()` nudges
every sleeper to recompute. Nothing polls.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def nudge(event: threading.Event) -> None:
    """Wake whoever waits on `event` without setting it (they re-check their own condition).

    Uses the Event's internal Condition (`_cond`, stable across CPython 3.x): a wait on the event
    and this nudge then share one lock, so a nudge can never fall between a sleeper's check and
    its wait.
    """
    condition: threading.Condition = event._cond  # type: ignore[attr-defined]
    with condition:
        condition.notify_all()


class VirtualClock:
    """Wall-clock time plus an offset that only ever grows.

    Time keeps flowing at real speed between advances, so code that measures short intervals
    still sees them pass.
    """

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()
        # Events of everyone inside sleep_until (counted: sleepers may share one event).
        self._sleepers: Counter[threading.Event] = Counter()

    def now(self) -> datetime:
        """Aware UTC now, as the emulated AWS sees it."""
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += delta
            sleepers = list(self._sleepers)
        for event in sleepers:
            nudge(event)
        return self.now()

    def set(self, when: datetime) -> datetime:
        """Jump to `when` (aware); refuses to go back."""
        return self.advance(max(timedelta(0), when - self.now()))

    def sleep_until(
        self,
        deadline: datetime,
        wake: threading.Event | None = None,
        *,
        done: Callable[[], bool] | None = None,
    ) -> bool:
        """Block until the clock reaches `deadline` (True), or until `wake` is set or `done()`
        holds (False). Whoever makes `done()` true must set or `nudge` the `wake` event.
        """
        event = wake if wake is not None else threading.Event()
        finished = done if done is not None else event.is_set
        with self._lock:
            self._sleepers[event] += 1
        try:
            condition: threading.Condition = event._cond  # type: ignore[attr-defined]
            with condition:
                while True:
                    if finished():
                        return False
                    remaining = (deadline - self.now()).total_seconds()
                    if remaining <= 0:
                        return True
                    # Real time left = emulated time left; an advance() nudges us earlier.
                    condition.wait(remaining)
        finally:
            with self._lock:
                self._sleepers[event] -= 1
                if self._sleepers[event] <= 0:
                    del self._sleepers[event]

    def sleeping(self) -> int:
        """How many threads are inside sleep_until (for tests and benches)."""
        with self._lock:
            return sum(self._sleepers.values())
