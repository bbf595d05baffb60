"""A controllable clock for the embedded AWS.

Wait states, approval expiries, metric timestamps and scheduled rules all read this clock, so a
14-day escalation ladder runs in seconds: `advance(timedelta(days=3))` moves every waiter on.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class VirtualClock:
    """Wall-clock time plus an offset that only ever grows.

    Time keeps flowing at real speed between advances, so code that measures short intervals
    still sees them pass.
    """

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._changed = threading.Condition()

    def now(self) -> datetime:
        """Aware UTC now, as the emulated AWS sees it."""
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the clock only moves forward")
        with self._changed:
            self._offset += delta
            self._changed.notify_all()
        return self.now()

    def set(self, when: datetime) -> datetime:
        """Jump to `when` (aware); refuses to go back."""
        return self.advance(max(timedelta(0), when - self.now()))

    def sleep_until(self, deadline: datetime, cancelled: threading.Event | None = None) -> bool:
        """Block until the clock reaches `deadline`; False if `cancelled` was set first."""
        with self._changed:
            while True:
                if cancelled is not None and cancelled.is_set():
                    return False
                remaining = (deadline - self.now()).total_seconds()
                if remaining <= 0:
                    return True
                # Short real-time slices: an advance() wakes us at once, a cancel within 50 ms.
                self._changed.wait(min(remaining, 0.05))
